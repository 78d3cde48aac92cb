//! Judging a guess at one of an account's secrets: its password, a code from its authenticator
//! app, one of its backup codes, or a code it was sent. One verifier per kind of proof, each in
//! its own module, used by sign-in, reverification, the account's own calls and the operator's
//! alike; [`judge`] dispatches a step's guess to the one its strategy needs.
//!
//! Every guess is counted before it is judged. [`count`] takes an attempt against the account's
//! lockout in one conditional statement that applies only while the account is not locked, and
//! only then is the guess compared; so however many guesses race, at most `max_attempts` are
//! judged before the lock. A wrong guess stays counted; a right one comes back as [`Proven`],
//! which the step settles inside its own transaction: that refunds the attempt (a right guess is
//! no failure, and a lock its attempt set is lifted) and uses up what proved it (the TOTP time
//! step, the backup code, the sent code), so of two requests with the same one-time secret exactly
//! one succeeds, and a step that does not take effect leaves its guess counted.

mod backup_code;
mod google;
mod passkey;
mod password;
mod sent_code;
mod ticket;
mod totp;
mod web3;

pub(crate) use backup_code::backup_code;
pub(crate) use google::{google_identity, google_one_tap};
pub(crate) use passkey::passkey;
pub(crate) use password::password;
pub(crate) use sent_code::code;
pub(crate) use ticket::{ticket, ticket_token};
pub(crate) use totp::totp;
pub(crate) use web3::signature;

use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::state::AppState;
use vestibule_model::sign_in::PendingStep;
use vestibule_model::verification::CodeVerification;
use vestibule_model::{
    ClientId, Error, IdentificationId, Proof, SignInTokenId, Strategy, TicketRefusal, Timestamp,
    User, UserId, VerificationId,
};
use vestibule_store::users::Attempt;
use vestibule_store::{
    id_tokens, passkeys, second_factors, sign_in_tokens, users, verifications, Connection,
};

/// An attempt taken against an account's lockout, for one guess.
#[derive(Debug)]
pub(super) struct Counted {
    pub(super) user: UserId,
    /// Nothing was counted: lockout is off.
    pub(super) free: bool,
    /// This attempt was the last one allowed and locked the account.
    pub(super) locked_by_it: bool,
}

/// Takes an attempt for `user` before a guess is judged: refused with `user_locked` while the
/// account is locked. With lockout off nothing is counted.
pub(super) async fn count(state: &AppState, user: &UserId) -> ApiResult<Counted> {
    let lockout = &state.settings.lockout;
    if !lockout.enabled {
        return Ok(Counted {
            user: user.clone(),
            free: true,
            locked_by_it: false,
        });
    }
    let now = state.now();
    let mut conn = state.store.write().await?;
    let attempt = users::take_attempt(
        &mut conn,
        user,
        now,
        lockout.threshold(),
        lockout.lock_until(now),
    )
    .await?;
    drop(conn);
    counted(user, attempt, now)
}

pub(super) fn counted(user: &UserId, attempt: Attempt, now: Timestamp) -> ApiResult<Counted> {
    match attempt {
        Attempt::Taken { locked, .. } => Ok(Counted {
            user: user.clone(),
            free: false,
            locked_by_it: locked,
        }),
        Attempt::Refused { locked_until } => {
            let expires_in_seconds =
                (locked_until.0 != i64::MAX).then(|| now.seconds_until(locked_until).max(1));
            Err(Error::UserLocked { expires_in_seconds }.into())
        }
        Attempt::Gone => Err(Error::client_state(
            "the account of this sign-in no longer exists; start over",
        )
        .into()),
    }
}

impl Counted {
    /// The guess was wrong: it stays counted. Says so when it locked the account.
    pub(super) fn wrong(self) {
        if self.locked_by_it {
            tracing::info!(user = %self.user, "account locked after repeated failed verifications");
        }
    }

    /// The guess was right: un-counts it, on `conn`, now (a sent code, judged inside its own
    /// transaction).
    pub(super) async fn right(self, conn: &mut Connection, claim: Claim) -> ApiResult<Proven> {
        if !self.free {
            users::refund_attempt(conn, &self.user, self.locked_by_it).await?;
        }
        Ok(Proven {
            user: self.user,
            claim,
            refund: None,
        })
    }

    /// The guess was right: un-counted when the step settles it, in the step's own transaction
    /// (which saves a write; a step that then fails leaves the guess counted).
    pub(super) fn right_when_settled(self, claim: Claim) -> Proven {
        let refund = (!self.free).then_some(Refund {
            locked_by_it: self.locked_by_it,
        });
        Proven {
            user: self.user,
            claim,
            refund,
        }
    }
}

/// An attempt still to be refunded when a right guess is settled.
#[derive(Debug)]
struct Refund {
    /// The attempt locked the account; the refund lifts that lock.
    locked_by_it: bool,
}

/// What proved a guess right, still to be used up by [`Proven::settle`] in the step's
/// transaction.
#[must_use = "a right guess counts only once settled in the step's transaction"]
#[derive(Debug)]
pub(crate) struct Proven {
    user: UserId,
    claim: Claim,
    refund: Option<Refund>,
}

#[derive(Debug)]
pub(super) enum Claim {
    Password {
        needs_rehash: bool,
    },
    TotpStep {
        step: i64,
        enrolling: bool,
    },
    BackupCode {
        hash: String,
    },
    Code {
        id: VerificationId,
    },
    Ticket {
        id: SignInTokenId,
    },
    IdToken {
        hash: String,
        expire_at: Timestamp,
    },
    Passkey {
        verification: VerificationId,
        passkey: IdentificationId,
        /// The credential's new counter state, when it moved.
        dynamic_state: Option<String>,
    },
}

impl Proven {
    /// Whether the password that matched should be stored again with current parameters.
    pub(crate) fn needs_rehash(&self) -> bool {
        matches!(self.claim, Claim::Password { needs_rehash: true })
    }

    /// Inside the step's transaction: un-counts the guess and uses up what proved it. When a
    /// concurrent request used the same one-time secret first, this one fails, and the guess
    /// stays counted (a replay is a failed guess).
    pub(crate) async fn settle(
        self,
        state: &AppState,
        tx: &mut Connection,
        client: Option<&ClientId>,
    ) -> ApiResult<()> {
        let now = state.now();
        let user = &self.user;
        if let Some(refund) = &self.refund {
            users::refund_attempt(tx, user, refund.locked_by_it).await?;
        }
        let used = match &self.claim {
            Claim::Password { .. } => true,
            Claim::TotpStep { step, enrolling } => {
                second_factors::use_totp_step(tx, user, *step, *enrolling, now).await?
            }
            Claim::BackupCode { hash } => {
                second_factors::use_backup_code(tx, user, hash, now).await?
            }
            Claim::Ticket { id } => {
                if !sign_in_tokens::accept(tx, id, now).await? {
                    // Used, revoked or expired since it was read: say which.
                    let why = match sign_in_tokens::get(tx, id).await? {
                        Some(t) => t.check_usable(now).err(),
                        None => None,
                    };
                    return Err(why
                        .unwrap_or(Error::TicketRefused(TicketRefusal::AlreadyUsed))
                        .into());
                }
                true
            }
            Claim::IdToken { hash, expire_at } => {
                if !id_tokens::use_once(tx, hash, *expire_at).await? {
                    return Err(Error::param_value_invalid("token", "has already been used").into());
                }
                true
            }
            Claim::Code { id } => {
                if !verifications::mark_verified(tx, id, now, client).await? {
                    return Err(Error::VerificationAlreadyVerified.into());
                }
                true
            }
            Claim::Passkey {
                verification,
                passkey,
                dynamic_state,
            } => {
                if !verifications::mark_verified(tx, verification, now, client).await? {
                    return Err(Error::VerificationAlreadyVerified.into());
                }
                // Deleted since it was read: it signs nobody in.
                if !passkeys::record_use(tx, passkey, dynamic_state.as_deref(), now).await? {
                    return Err(Error::IdentifierNotFound.into());
                }
                true
            }
        };
        if !used {
            return Err(Error::CodeIncorrect.into());
        }
        Ok(())
    }
}

/// A judged guess.
#[derive(Debug)]
pub(crate) enum Verdict {
    Right(Proven),
    Wrong,
}

impl Verdict {
    /// The proof, or `wrong` as the error.
    pub(crate) fn or(self, wrong: Error) -> ApiResult<Proven> {
        match self {
            Verdict::Right(p) => Ok(p),
            Verdict::Wrong => Err(wrong.into()),
        }
    }
}
/// The guess an attempt at `strategy` carries, in the parameter the strategy names (`password`
/// or `code`). Links are opened, not attempted; a strategy with no secret has nothing to guess.
pub(crate) fn guess<'p>(params: &'p Params, strategy: &Strategy) -> ApiResult<&'p str> {
    match strategy.guess_param() {
        Some(param) => params.required(param),
        None if matches!(strategy.proof(), Proof::SentLink(_)) => Err(Error::param_value_invalid(
            "strategy",
            "an email link is verified by opening it",
        )
        .into()),
        None => Err(Error::StrategyForUserInvalid.into()),
    }
}

/// What a step waits for, when it waits for something it started: a code or link it sent, or a
/// message it handed out for a wallet to sign.
#[derive(Debug, Clone)]
pub(crate) enum Awaited {
    Code(VerificationId),
    Signature {
        verification: VerificationId,
        wallet: IdentificationId,
    },
    /// A challenge for a passkey of `account` (`None`: of whichever account answers).
    Passkey {
        verification: VerificationId,
        account: Option<UserId>,
    },
}

impl Awaited {
    /// What a step that sent or handed out something waits for; a passkey challenge is for
    /// `account`'s passkeys.
    pub(crate) fn of(p: PendingStep, account: Option<&UserId>) -> Awaited {
        match p {
            PendingStep::Sent(s) => Awaited::Code(s.verification_id),
            PendingStep::Signature { sent, .. } => Awaited::Signature {
                verification: sent.verification_id,
                wallet: sent.identification_id,
            },
            PendingStep::Passkey(c) => Awaited::Passkey {
                verification: c.verification_id,
                account: account.cloned(),
            },
        }
    }
}

/// What a judged guess proved: the proof to settle and, for a sent code, its stored verification.
#[derive(Debug)]
pub(crate) struct Judged {
    pub proven: Proven,
    pub sent: Option<CodeVerification>,
    /// The account the proof named, when the step did not know it (a discoverable passkey).
    pub named: Option<User>,
}

/// Judges a guess at `strategy` for whichever flow asks (a sign-in step, a reverification):
/// against what the step `pending` waits for (a sent code, a message to sign) when it waits for
/// something, else against the account's password, authenticator app or backup codes. Wrong
/// guesses answer Clerk's codes (`form_password_incorrect`, `form_code_incorrect`); a factor
/// the account lacks, `strategy_for_user_invalid`.
pub(crate) async fn judge(
    state: &AppState,
    strategy: &Strategy,
    pending: Option<&Awaited>,
    user: Option<&User>,
    guess: &str,
) -> ApiResult<Judged> {
    let lacking = || ApiError::from(Error::StrategyForUserInvalid);
    let judged = |(sent, proven)| Judged {
        proven,
        sent: Some(sent),
        named: None,
    };
    match pending {
        Some(Awaited::Code(vid)) => return Ok(judged(code(state, vid, guess, user).await?)),
        Some(Awaited::Signature {
            verification,
            wallet,
        }) => {
            let user = user.ok_or_else(lacking)?;
            let signed = signature(state, strategy, verification, wallet, user, guess).await?;
            return Ok(judged(signed));
        }
        Some(Awaited::Passkey {
            verification,
            account,
        }) => {
            let (sent, proven, owner) =
                passkey(state, verification, account.as_ref(), guess).await?;
            return Ok(Judged {
                proven,
                sent: Some(sent),
                named: Some(owner),
            });
        }
        None => {}
    }
    let proven = match strategy {
        Strategy::Password => password(state, user, guess)
            .await?
            .or(Error::PasswordIncorrect)?,
        Strategy::Totp => totp(state, &user.ok_or_else(lacking)?.id, guess, false)
            .await?
            .ok_or_else(lacking)?
            .or(Error::CodeIncorrect)?,
        Strategy::BackupCode => backup_code(state, &user.ok_or_else(lacking)?.id, guess)
            .await?
            .ok_or_else(lacking)?
            .or(Error::CodeIncorrect)?,
        Strategy::Ticket => ticket(state, user, guess).await?,
        Strategy::GoogleOneTap => google_one_tap(state, user, guess).await?,
        _ => return Err(Error::VerificationMissing.into()),
    };
    Ok(Judged {
        proven,
        sent: None,
        named: None,
    })
}
