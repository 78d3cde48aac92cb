//! The first factors a sign-in offers.

use crate::state::AppState;
use vestibule_model::user::Factor;
use vestibule_model::{IdentifierKind, SignIn, SignInStatus, Strategy, User};

/// The user's factors; for an unknown account under enumeration protection, the factors such an
/// account would have for what was typed (with a stable made-up id), so the answer gives nothing
/// away.
pub(crate) fn offered(state: &AppState, si: &SignIn, user: Option<&User>) -> Vec<Factor> {
    if si.status == SignInStatus::NeedsIdentifier {
        return Vec::new();
    }
    if let Some(u) = user {
        return u.first_factors(&state.settings, si.identifier.as_ref());
    }
    let Some(typed) = si.identifier.as_ref().filter(|_| si.unknown_account) else {
        return Vec::new();
    };
    let settings = &state.settings;
    let password = settings.password.enabled;
    let f = &settings.factors;
    let id = state.secrets.unknown_identification_id(&typed.value);
    let mut factors = Vec::new();
    if password {
        factors.push(Factor::bare(Strategy::Password));
    }
    let shaped = |strategy: Strategy| {
        let mut factor = Factor::bare(strategy);
        factor.safe_identifier = Some(typed.value.clone());
        factor.primary = Some(true);
        match typed.kind {
            IdentifierKind::PhoneNumber => factor.phone_number_id = Some(id.clone()),
            _ => factor.email_address_id = Some(id.clone()),
        }
        factor
    };
    match typed.kind {
        IdentifierKind::EmailAddress => {
            if f.email_code {
                factors.push(shaped(Strategy::EmailCode));
            }
            if f.email_link {
                factors.push(shaped(Strategy::EmailLink));
            }
            if password && f.reset_password {
                factors.push(shaped(Strategy::ResetPasswordEmailCode));
            }
        }
        IdentifierKind::PhoneNumber => {
            if f.phone_code {
                factors.push(shaped(Strategy::PhoneCode));
            }
            if password && f.reset_password {
                factors.push(shaped(Strategy::ResetPasswordPhoneCode));
            }
        }
        IdentifierKind::Username | IdentifierKind::Web3Wallet => {}
    }
    factors
}
