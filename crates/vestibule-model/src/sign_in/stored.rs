//! The stored form of a sign-in: the flat record every release so far has written to
//! `sign_ins.state`. Reading and writing it unchanged keeps rows from before this state machine
//! readable, and lets a node of the previous release keep serving flows during a rolling upgrade.
//! A record that fits no state is refused as corrupt rather than guessed at.

use super::{
    Account, ClientTrustState, Identified, PendingStep, ProvenFactor, SentRef, SignIn, SignInState,
    SignInStatus, Signing, Verification, VerificationStatus,
};
use crate::clock::Timestamp;
use crate::identifier::Identifier;
use crate::ids::{ClientId, SessionId, SignInId, UserId};
use crate::verification::{Challenge, SentCode};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct StoredSignIn {
    id: SignInId,
    client_id: ClientId,
    status: SignInStatus,
    identifier: Option<Identifier>,
    user_id: Option<UserId>,
    first_factor_verification: Option<Verification>,
    second_factor_verification: Option<Verification>,
    first_factor_verified_at: Option<Timestamp>,
    second_factor_verified_at: Option<Timestamp>,
    created_session_id: Option<SessionId>,
    created_at: Timestamp,
    updated_at: Timestamp,
    abandon_at: Timestamp,
    #[serde(default)]
    unknown_account: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_trust_state: Option<ClientTrustState>,
}

impl From<SignIn> for StoredSignIn {
    fn from(si: SignIn) -> StoredSignIn {
        let status = si.status();
        let first_factor_verification = si.first_factor_verification();
        let second_factor_verification = si.second_factor_verification();
        let identifier = si.identifier().cloned();
        let user_id = si.user_id().cloned();
        let unknown_account = si.is_unknown_account();
        let client_trust_state = si.client_trust_state();
        let created_session_id = si.created_session_id().cloned();
        let (first_at, second_at) = match &si.state {
            SignInState::NeedsIdentifier
            | SignInState::AwaitingPasskey { .. }
            | SignInState::NeedsFirstFactor { .. } => (None, None),
            SignInState::NeedsSecondFactor { first, .. }
            | SignInState::NeedsClientTrust { first, .. } => (Some(first.at), None),
            SignInState::NeedsNewPassword { reset, .. } => (Some(reset.at), None),
            SignInState::Complete { first, second, .. } => {
                (Some(first.at), second.as_ref().map(|s| s.at))
            }
        };
        StoredSignIn {
            id: si.id,
            client_id: si.client_id,
            status,
            identifier,
            user_id,
            first_factor_verification,
            second_factor_verification,
            first_factor_verified_at: first_at,
            second_factor_verified_at: second_at,
            created_session_id,
            created_at: si.created_at,
            updated_at: si.updated_at,
            abandon_at: si.abandon_at,
            unknown_account,
            client_trust_state,
        }
    }
}

fn pending(v: Option<&Verification>) -> Option<PendingStep> {
    let v = v?;
    if v.nonce.is_some() {
        return Challenge::from_view(v).map(PendingStep::Passkey);
    }
    let sent = SentCode::from_view(v)?;
    Some(match &v.message {
        Some(message) => PendingStep::Signature {
            sent,
            message: message.clone(),
        },
        None => PendingStep::Sent(sent),
    })
}

fn proven(v: Option<&Verification>, at: Option<Timestamp>) -> Result<ProvenFactor, String> {
    match (v, at) {
        (Some(v), Some(at)) if v.status == VerificationStatus::Verified => Ok(ProvenFactor {
            strategy: v.strategy.clone(),
            at,
            sent: v.verification_id.clone().map(|verification_id| SentRef {
                verification_id,
                identification_id: v.identification_id.clone(),
                created_at: v.created_at,
            }),
        }),
        _ => Err("a proven factor without its verification or time".into()),
    }
}

impl TryFrom<StoredSignIn> for SignIn {
    type Error = String;

    fn try_from(s: StoredSignIn) -> Result<SignIn, String> {
        let signing = || -> Result<Signing, String> {
            Ok(Signing {
                identifier: s.identifier.clone().ok_or("no identifier")?,
                user_id: s.user_id.clone().ok_or("no account")?,
                client_trust: s.client_trust_state,
            })
        };
        let first = || {
            proven(
                s.first_factor_verification.as_ref(),
                s.first_factor_verified_at,
            )
        };
        let state = match s.status {
            SignInStatus::NeedsIdentifier => SignInState::NeedsIdentifier,
            // Only a passkey sign-in is awaited without an identifier.
            SignInStatus::NeedsFirstFactor if s.identifier.is_none() => {
                SignInState::AwaitingPasskey {
                    challenge: s
                        .first_factor_verification
                        .as_ref()
                        .and_then(Challenge::from_view)
                        .ok_or("no identifier")?,
                }
            }
            SignInStatus::NeedsFirstFactor => SignInState::NeedsFirstFactor {
                who: Identified {
                    identifier: s.identifier.clone().ok_or("no identifier")?,
                    account: match (&s.user_id, s.unknown_account) {
                        (Some(id), _) => Account::Known(id.clone()),
                        (None, true) => Account::Unknown,
                        (None, false) => return Err("no account".into()),
                    },
                    client_trust: s.client_trust_state,
                },
                pending: pending(s.first_factor_verification.as_ref()),
            },
            SignInStatus::NeedsSecondFactor => SignInState::NeedsSecondFactor {
                who: signing()?,
                first: first()?,
                pending: pending(s.second_factor_verification.as_ref()),
            },
            SignInStatus::NeedsClientTrust => SignInState::NeedsClientTrust {
                who: signing()?,
                first: first()?,
                pending: pending(s.second_factor_verification.as_ref()),
            },
            SignInStatus::NeedsNewPassword => SignInState::NeedsNewPassword {
                who: signing()?,
                reset: first()?,
            },
            SignInStatus::Complete => SignInState::Complete {
                who: signing()?,
                first: first()?,
                second: match &s.second_factor_verification {
                    None => None,
                    Some(v) => Some(proven(Some(v), s.second_factor_verified_at)?),
                },
                session_id: s.created_session_id.clone().ok_or("no session")?,
            },
        };
        Ok(SignIn {
            id: s.id,
            client_id: s.client_id,
            state,
            created_at: s.created_at,
            updated_at: s.updated_at,
            abandon_at: s.abandon_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Progress, SignIn, SignInStatus};
    use crate::clock::Timestamp;
    use crate::ids::{SessionId, VerificationId};
    use crate::settings::Settings;
    use crate::user::fixtures::user_with_password;
    use crate::verification::{CodeVerification, Slot, VerificationOwner};
    use crate::{Strategy, VerificationStatus};

    /// Sign-ins at every status as the release before this state machine wrote them, one per
    /// line after its label.
    const WRITTEN_BEFORE: &str = include_str!("stored_before.txt");

    fn before(label: &str) -> (serde_json::Value, SignIn) {
        let line = WRITTEN_BEFORE
            .lines()
            .find_map(|l| l.strip_prefix(label)?.strip_prefix(' '))
            .expect("a fixture");
        let value: serde_json::Value = serde_json::from_str(line).expect("JSON");
        let si: SignIn = serde_json::from_str(line).expect("readable");
        (value, si)
    }

    #[test]
    fn rows_written_before_read_back_and_write_unchanged() {
        for line in WRITTEN_BEFORE.lines() {
            let (label, _) = line.split_once(' ').expect("label");
            let (value, si) = before(label);
            assert_eq!(
                value["status"],
                si.status().as_str(),
                "{label}: the status is the state's"
            );
            let written = serde_json::to_value(&si).expect("writes");
            assert_eq!(written, value, "{label}: written back as it was");
        }
    }

    fn sent(id: &str, si: &SignIn, slot: Slot, strategy: Strategy) -> CodeVerification {
        CodeVerification {
            id: VerificationId::from_trusted(id.into()),
            owner: VerificationOwner::SignIn(si.id.clone()),
            user_id: si.user_id().cloned(),
            slot,
            strategy,
            identification_id: None,
            attempts: 1,
            max_attempts: 5,
            status: VerificationStatus::Verified,
            expire_at: Timestamp(1_700_000_600_000),
            created_at: Timestamp(1_700_000_000_000),
            verified_at: None,
            redirect_url: None,
            verified_by_client_id: None,
        }
    }

    #[test]
    fn flows_stored_before_finish_now() {
        let settings = Settings::default();
        let now = Timestamp(1_700_000_030_000);
        let user = user_with_password();

        let (_, mut si) = before("needs_first_factor_code");
        let code = sent("ver_b", &si, Slot::FirstFactor, Strategy::EmailCode);
        let Ok(Progress::ReadyForSession(ready)) = si.code_verified(&code, &user, &settings, now)
        else {
            panic!("the stored code still proves the first factor")
        };
        si.complete(ready, SessionId::from_trusted("sess_1".into()), now)
            .expect("complete");
        assert_eq!(si.status(), SignInStatus::Complete);

        let (_, mut si) = before("needs_client_trust_link");
        let link = sent("ver_e", &si, Slot::SecondFactor, Strategy::EmailLink);
        let Ok(Progress::ReadyForSession(ready)) =
            si.delivered_verified(&link, &user, &settings, now)
        else {
            panic!("the stored link still confirms the client")
        };
        si.complete(ready, SessionId::from_trusted("sess_2".into()), now)
            .expect("complete");

        let mut mfa = user.clone();
        mfa.totp_enabled = true;
        let (_, mut si) = before("needs_second_factor_after_reset");
        assert_eq!(
            si.check_second_factor_attempt(&Strategy::PhoneCode, &mfa, &settings, now),
            Err(crate::Error::StrategyForUserInvalid),
            "this account's phone is gone; TOTP remains"
        );
        let Ok(Progress::ReadyForSession(ready)) =
            si.second_factor_verified(Strategy::Totp, &mfa, now)
        else {
            panic!("TOTP finishes it")
        };
        assert_eq!(ready.first.strategy, Strategy::ResetPasswordEmailCode);
        assert_eq!(ready.first.at, Timestamp(1_700_000_012_000));
        si.complete(ready, SessionId::from_trusted("sess_3".into()), now)
            .expect("complete");

        let (_, mut si) = before("needs_new_password");
        assert!(matches!(
            si.new_password_set(&mfa, now),
            Ok(Progress::NeedsMore)
        ));
        assert_eq!(si.status(), SignInStatus::NeedsSecondFactor);

        let (_, si) = before("needs_first_factor_unknown");
        assert!(si.is_unknown_account() && si.user_id().is_none());
    }

    #[test]
    fn a_record_that_fits_no_state_is_refused() {
        let (mut value, _) = before("needs_second_factor_after_reset");
        value["user_id"] = serde_json::Value::Null;
        assert!(serde_json::from_value::<SignIn>(value).is_err());
        let (mut value, _) = before("complete_with_totp");
        value["created_session_id"] = serde_json::Value::Null;
        assert!(serde_json::from_value::<SignIn>(value).is_err());
    }
}
