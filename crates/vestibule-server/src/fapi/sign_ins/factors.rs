//! The first factors a sign-in offers, and the stand-in account behind an unknown identifier.

use crate::state::AppState;
use vestibule_model::user::{Factor, MadeUp};
use vestibule_model::{Identifier, SignIn, SignInStatus, Timestamp, User};

/// The user's factors; for an unknown account under enumeration protection, those of its
/// [`stand_in`], so the answer gives nothing away and cannot drift from a real account's.
pub(crate) fn offered(state: &AppState, si: &SignIn, user: Option<&User>) -> Vec<Factor> {
    if si.status() == SignInStatus::NeedsIdentifier {
        return Vec::new();
    }
    if let Some(u) = user {
        return u.first_factors(&state.settings, si.identifier());
    }
    unknown_account(state, si)
        .map(|u| u.first_factors(&state.settings, si.identifier()))
        .unwrap_or_default()
}

/// The stand-in for this sign-in's account when it names none.
pub(crate) fn unknown_account(state: &AppState, si: &SignIn) -> Option<User> {
    let typed = si.identifier().filter(|_| si.is_unknown_account())?;
    Some(stand_in(state, typed, si.created_at))
}

/// A [`User::stand_in`] for what was typed, its made-up parts derived from the instance secret
/// so they are the same on every node and every request.
pub(crate) fn stand_in(state: &AppState, typed: &Identifier, now: Timestamp) -> User {
    let made_up = MadeUp {
        identification: state.secrets.unknown_identification_id(&typed.value),
        email_address: state
            .secrets
            .stand_in_email(&typed.value, &state.settings.sign_in.stand_in_email_domains),
    };
    User::stand_in(typed, made_up, now)
}
