//! The first factors a sign-in offers.

use crate::state::AppState;
use vestibule_model::user::Factor;
use vestibule_model::{SignIn, SignInStatus, User};

/// The user's factors; for an unknown account under enumeration protection, those of a
/// [`User::stand_in`] for what was typed (with a stable made-up id), so the answer gives nothing
/// away and cannot drift from a real account's.
pub(crate) fn offered(state: &AppState, si: &SignIn, user: Option<&User>) -> Vec<Factor> {
    if si.status() == SignInStatus::NeedsIdentifier {
        return Vec::new();
    }
    if let Some(u) = user {
        return u.first_factors(&state.settings, si.identifier());
    }
    let Some(typed) = si.identifier().filter(|_| si.is_unknown_account()) else {
        return Vec::new();
    };
    let id = state.secrets.unknown_identification_id(&typed.value);
    User::stand_in(typed, id, si.created_at).first_factors(&state.settings, Some(typed))
}
