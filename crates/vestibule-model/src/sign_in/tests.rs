use super::*;
use crate::clock::{Clock, TestClock};
use crate::identifier::Identifier;
use crate::user::fixtures::user_with_password;
use crate::verification::CodeRequest;

fn start(clock: &TestClock, settings: &Settings) -> SignIn {
    SignIn::new(
        SignInId::from_trusted("sia_1".into()),
        ClientId::from_trusted("client_1".into()),
        clock.now(),
        settings,
    )
}

fn email() -> Identifier {
    Identifier::classify("alice@example.com").expect("valid")
}

#[test]
fn password_flow_reaches_ready_for_session_then_complete() {
    let clock = TestClock::new(Timestamp(1_700_000_000_000));
    let settings = Settings::default();
    let user = user_with_password();
    let mut si = start(&clock, &settings);
    assert_eq!(si.status(), SignInStatus::NeedsIdentifier);
    si.identify(email(), Some(&user), &settings, clock.now())
        .expect("identify");
    assert_eq!(si.status(), SignInStatus::NeedsFirstFactor);
    assert_eq!(si.user_id(), Some(&user.id));
    si.check_first_factor_attempt(&Strategy::Password, &user, &settings, clock.now())
        .expect("password allowed");
    clock.advance_seconds(3);
    let progress = si
        .first_factor_verified(Strategy::Password, &user, &settings, clock.now())
        .expect("verified");
    let Progress::ReadyForSession(ready) = progress else {
        panic!("not ready: {progress:?}")
    };
    assert_eq!(ready.first.at, clock.now());
    assert_eq!(
        si.status(),
        SignInStatus::NeedsFirstFactor,
        "until the session exists"
    );
    let session = SessionId::from_trusted("sess_1".into());
    si.complete(ready.clone(), session.clone(), clock.now())
        .expect("complete");
    assert_eq!(si.status(), SignInStatus::Complete);
    assert_eq!(si.created_session_id(), Some(&session));
    assert!(
        si.complete(ready, session, clock.now()).is_err(),
        "a sign-in completes once"
    );
    assert!(si
        .check_first_factor_attempt(&Strategy::Password, &user, &settings, clock.now())
        .is_err());
}

#[test]
fn unknown_identifier_is_not_found_and_changes_nothing() {
    let clock = TestClock::new(Timestamp(0));
    let settings = Settings::default();
    let mut si = start(&clock, &settings);
    let before = si.clone();
    assert_eq!(
        si.identify(email(), None, &settings, clock.now()),
        Err(Error::IdentifierNotFound)
    );
    assert_eq!(si, before);
}

#[test]
fn disabled_identifier_kind_is_not_found() {
    let clock = TestClock::new(Timestamp(0));
    let mut settings = Settings::default();
    settings.identifiers.username = false;
    let user = user_with_password();
    let mut si = start(&clock, &settings);
    let username = Identifier::classify("alice").expect("valid");
    assert_eq!(
        si.identify(username, Some(&user), &settings, clock.now()),
        Err(Error::IdentifierNotFound)
    );
}

#[test]
fn password_not_allowed_without_a_password_or_when_disabled() {
    let clock = TestClock::new(Timestamp(0));
    let mut settings = Settings::default();
    let mut user = user_with_password();
    let mut si = start(&clock, &settings);
    si.identify(email(), Some(&user), &settings, clock.now())
        .expect("identify");
    user.password = None;
    assert_eq!(
        si.check_first_factor_attempt(&Strategy::Password, &user, &settings, clock.now()),
        Err(Error::StrategyForUserInvalid)
    );
    user = user_with_password();
    settings.password.enabled = false;
    assert_eq!(
        si.check_first_factor_attempt(&Strategy::Password, &user, &settings, clock.now()),
        Err(Error::StrategyForUserInvalid)
    );
}

#[test]
fn locked_user_is_refused_before_verification_until_the_lock_ends() {
    let clock = TestClock::new(Timestamp(0));
    let settings = Settings::default();
    let mut user = user_with_password();
    user.locked_until = Some(clock.now().plus_seconds(3600));
    let mut si = start(&clock, &settings);
    si.identify(email(), Some(&user), &settings, clock.now())
        .expect("identify");
    assert_eq!(
        si.check_first_factor_attempt(&Strategy::Password, &user, &settings, clock.now()),
        Err(Error::UserLocked {
            expires_in_seconds: Some(3600)
        })
    );
    clock.advance_seconds(3600);
    assert!(si
        .check_first_factor_attempt(&Strategy::Password, &user, &settings, clock.now())
        .is_ok());
}

#[test]
fn banned_user_gets_no_session_even_with_the_right_password() {
    let clock = TestClock::new(Timestamp(0));
    let settings = Settings::default();
    let mut user = user_with_password();
    user.banned = true;
    let mut si = start(&clock, &settings);
    si.identify(email(), Some(&user), &settings, clock.now())
        .expect("identify");
    assert_eq!(
        si.first_factor_verified(Strategy::Password, &user, &settings, clock.now()),
        Err(Error::UserBanned)
    );
    assert_eq!(si.status(), SignInStatus::NeedsFirstFactor);
    assert_eq!(si.first_factor_verification(), None);
}

#[test]
fn abandoned_sign_in_refuses_every_step() {
    let clock = TestClock::new(Timestamp(0));
    let settings = Settings::default();
    let user = user_with_password();
    let mut si = start(&clock, &settings);
    si.identify(email(), Some(&user), &settings, clock.now())
        .expect("identify");
    clock.advance_seconds(settings.sign_in.abandon_after_seconds - 1);
    assert!(!si.is_abandoned(clock.now()));
    clock.advance_seconds(1);
    assert!(si.is_abandoned(clock.now()));
    let err = si
        .check_first_factor_attempt(&Strategy::Password, &user, &settings, clock.now())
        .expect_err("abandoned");
    assert_eq!(err.code(), "client_state_invalid");
}

#[test]
fn attempt_before_identifier_is_a_state_error() {
    let clock = TestClock::new(Timestamp(0));
    let settings = Settings::default();
    let user = user_with_password();
    let si = start(&clock, &settings);
    let err = si
        .check_first_factor_attempt(&Strategy::Password, &user, &settings, clock.now())
        .expect_err("no identifier");
    assert_ne!(err.status(), 401);
    assert_eq!((err.status(), err.code()), (400, "client_state_invalid"));
}

#[test]
fn single_session_mode_refuses_a_second_account() {
    let settings = Settings::default();
    let signed_in = vec![SignedInSession {
        session_id: SessionId::from_trusted("sess_a".into()),
        user_id: UserId::from_trusted("user_a".into()),
    }];
    assert_eq!(
        SignIn::check_client_may_sign_in(&settings, &signed_in, None),
        Err(Error::SessionExists)
    );
    assert!(SignIn::check_client_may_sign_in(&settings, &[], None).is_ok());
}

#[test]
fn multi_session_mode_refuses_the_same_account_twice() {
    let mut settings = Settings::default();
    settings.sessions.single_session_mode = false;
    let signed_in = vec![SignedInSession {
        session_id: SessionId::from_trusted("sess_a".into()),
        user_id: UserId::from_trusted("user_a".into()),
    }];
    assert!(SignIn::check_client_may_sign_in(
        &settings,
        &signed_in,
        Some(&UserId::from_trusted("user_b".into()))
    )
    .is_ok());
    assert_eq!(
        SignIn::check_client_may_sign_in(
            &settings,
            &signed_in,
            Some(&UserId::from_trusted("user_a".into()))
        ),
        Err(Error::IdentifierAlreadySignedIn {
            session_id: "sess_a".into()
        })
    );
}

fn email_id(user: &User) -> IdentificationId {
    user.email_addresses[0].id.clone()
}

#[test]
fn email_code_flow_with_cooldown_and_verification() {
    let clock = TestClock::new(Timestamp(1_700_000_000_000));
    let settings = Settings::default();
    let user = user_with_password();
    let mut si = start(&clock, &settings);
    si.identify(email(), Some(&user), &settings, clock.now())
        .expect("identify");
    // Attempting before preparing is refused.
    assert_eq!(
        si.check_code_attempt(&Strategy::EmailCode, Some(&user), clock.now()),
        Err(Error::VerificationMissing)
    );

    let v = si
        .prepare_first_factor(
            CodeRequest {
                strategy: Strategy::EmailCode,
                identification: email_id(&user),
                redirect_url: None,
            },
            Some(&user),
            &settings,
            clock.now(),
            VerificationId::from_trusted("ver_1".into()),
        )
        .expect("prepare");
    assert_eq!(
        (v.max_attempts, v.expire_at),
        (5, clock.now().plus_seconds(600))
    );
    assert_eq!(
        si.first_factor_verification()
            .as_ref()
            .and_then(|f| f.verification_id.clone()),
        Some(v.id.clone())
    );

    clock.advance_seconds(10);
    let again = si.prepare_first_factor(
        CodeRequest {
            strategy: Strategy::EmailCode,
            identification: email_id(&user),
            redirect_url: None,
        },
        Some(&user),
        &settings,
        clock.now(),
        VerificationId::from_trusted("ver_2".into()),
    );
    assert_eq!(
        again,
        Err(Error::TooManyRequests {
            retry_after_seconds: 20
        })
    );
    clock.advance_seconds(20);
    let v2 = si
        .prepare_first_factor(
            CodeRequest {
                strategy: Strategy::EmailCode,
                identification: email_id(&user),
                redirect_url: None,
            },
            Some(&user),
            &settings,
            clock.now(),
            VerificationId::from_trusted("ver_2".into()),
        )
        .expect("resend after the cooldown");

    assert_eq!(
        si.check_code_attempt(&Strategy::EmailCode, Some(&user), clock.now())
            .map(|p| p.verification_id().clone()),
        Ok(v2.id.clone())
    );
    assert_eq!(
        si.check_code_attempt(&Strategy::PhoneCode, Some(&user), clock.now()),
        Err(Error::VerificationMissing)
    );
    // The older code is no longer the one the sign-in waits for.
    assert_eq!(
        si.code_verified(&v, &user, &settings, clock.now()),
        Err(Error::VerificationMissing)
    );
    let Ok(Progress::ReadyForSession(ready)) = si.code_verified(&v2, &user, &settings, clock.now())
    else {
        panic!("the right code is ready for a session")
    };
    assert_eq!(ready.first.at, clock.now());
    assert_eq!(
        ready.first.sent.map(|s| s.verification_id),
        Some(v2.id.clone()),
        "the proof points at the code that proved it"
    );
}

#[test]
fn codes_only_for_the_users_own_identifications_and_not_when_locked() {
    let clock = TestClock::new(Timestamp(0));
    let settings = Settings::default();
    let mut user = user_with_password();
    let mut si = start(&clock, &settings);
    si.identify(email(), Some(&user), &settings, clock.now())
        .expect("identify");
    let other = IdentificationId::from_trusted("idn_someone_else".into());
    let id = || VerificationId::from_trusted("ver_x".into());
    assert_eq!(
        si.prepare_first_factor(
            CodeRequest {
                strategy: Strategy::EmailCode,
                identification: other,
                redirect_url: None
            },
            Some(&user),
            &settings,
            clock.now(),
            id()
        ),
        Err(Error::StrategyForUserInvalid)
    );
    assert_eq!(
        si.prepare_first_factor(
            CodeRequest {
                strategy: Strategy::PhoneCode,
                identification: email_id(&user),
                redirect_url: None
            },
            Some(&user),
            &settings,
            clock.now(),
            id()
        ),
        Err(Error::StrategyForUserInvalid),
        "an email address cannot receive SMS"
    );
    user.locked_until = Some(clock.now().plus_seconds(60));
    assert_eq!(
        si.prepare_first_factor(
            CodeRequest {
                strategy: Strategy::EmailCode,
                identification: email_id(&user),
                redirect_url: None
            },
            Some(&user),
            &settings,
            clock.now(),
            id()
        ),
        Err(Error::UserLocked {
            expires_in_seconds: Some(60)
        })
    );
}

#[test]
fn reset_code_leads_to_a_new_password_then_a_session() {
    let clock = TestClock::new(Timestamp(0));
    let settings = Settings::default();
    let user = user_with_password();
    let mut si = start(&clock, &settings);
    si.identify(email(), Some(&user), &settings, clock.now())
        .expect("identify");
    assert_eq!(
        si.check_new_password(clock.now()).map_err(|e| e.code()),
        Err("client_state_invalid")
    );
    let v = si
        .prepare_first_factor(
            CodeRequest {
                strategy: Strategy::ResetPasswordEmailCode,
                identification: email_id(&user),
                redirect_url: None,
            },
            Some(&user),
            &settings,
            clock.now(),
            VerificationId::from_trusted("ver_r".into()),
        )
        .expect("prepare");
    assert_eq!(
        si.code_verified(&v, &user, &settings, clock.now()),
        Ok(Progress::NeedsMore)
    );
    assert_eq!(si.status(), SignInStatus::NeedsNewPassword);
    assert!(si.check_new_password(clock.now()).is_ok());
    assert!(matches!(
        si.new_password_set(&user, clock.now()),
        Ok(Progress::ReadyForSession(_))
    ));
}

#[test]
fn enumeration_protection_walks_unknown_accounts_through_the_same_steps() {
    let clock = TestClock::new(Timestamp(0));
    let mut settings = Settings::default();
    let mut si = start(&clock, &settings);
    assert_eq!(
        si.identify(email(), None, &settings, clock.now()),
        Err(Error::IdentifierNotFound)
    );
    settings.sign_in.enumeration_protection = true;
    si.identify(email(), None, &settings, clock.now())
        .expect("protected");
    assert!(si.is_unknown_account() && si.user_id().is_none());
    assert_eq!(si.status(), SignInStatus::NeedsFirstFactor);
    let fake = IdentificationId::from_trusted("idn_fake".into());
    let v = si
        .prepare_first_factor(
            CodeRequest {
                strategy: Strategy::EmailCode,
                identification: fake,
                redirect_url: None,
            },
            None,
            &settings,
            clock.now(),
            VerificationId::from_trusted("ver_f".into()),
        )
        .expect("looks prepared");
    assert_eq!(v.user_id, None, "nothing can ever verify it");
}

#[test]
fn strategy_names_round_trip() {
    for name in [
        "password",
        "email_code",
        "reset_password_phone_code",
        "web3_solana_signature",
        "oauth_google",
        "enterprise_sso",
        "google_one_tap",
    ] {
        let s = Strategy::parse(name).expect(name);
        assert_eq!(s.as_str(), name);
    }
    assert_eq!(Strategy::parse("oauth_"), None);
    assert_eq!(Strategy::parse("oauth_Evil!"), None);
    assert_eq!(Strategy::parse("hunter2"), None);
}

fn identified(clock: &TestClock, settings: &Settings, user: &User, known: bool) -> SignIn {
    let mut si = start(clock, settings);
    si.identify(email(), Some(user), settings, clock.now())
        .expect("identify");
    si.note_client_trust(known);
    si
}

fn phone_for_mfa(id: &str, default: bool) -> crate::user::PhoneNumber {
    crate::user::PhoneNumber {
        id: IdentificationId::from_trusted(id.into()),
        phone_number: "+15550100000".into(),
        verified: true,
        verification_strategy: Some("admin".into()),
        reserved_for_second_factor: true,
        default_second_factor: default,
        created_at: Timestamp(0),
    }
}

#[test]
fn totp_user_needs_a_second_factor_and_gets_a_session_only_after_it() {
    let clock = TestClock::new(Timestamp(1_700_000_000_000));
    let settings = Settings::default();
    let mut user = user_with_password();
    user.totp_enabled = true;
    user.backup_codes_remaining = 10;
    let mut si = identified(&clock, &settings, &user, false);
    let progress = si
        .first_factor_verified(Strategy::Password, &user, &settings, clock.now())
        .expect("password");
    assert_eq!(progress, Progress::NeedsMore);
    assert_eq!(
        si.status(),
        SignInStatus::NeedsSecondFactor,
        "MFA takes precedence over client trust"
    );
    let offered: Vec<Strategy> = si
        .awaited_second_factors(&user, &settings)
        .into_iter()
        .map(|f| f.strategy)
        .collect();
    assert_eq!(offered, vec![Strategy::Totp, Strategy::BackupCode]);
    assert_eq!(
        si.check_second_factor_attempt(&Strategy::Totp, &user, &settings, clock.now()),
        Ok(None)
    );
    assert_eq!(
        si.check_second_factor_attempt(&Strategy::PhoneCode, &user, &settings, clock.now()),
        Err(Error::StrategyForUserInvalid)
    );
    assert!(si
        .check_first_factor_attempt(&Strategy::Password, &user, &settings, clock.now())
        .is_err());
    clock.advance_seconds(20);
    let Ok(Progress::ReadyForSession(ready)) =
        si.second_factor_verified(Strategy::Totp, &user, clock.now())
    else {
        panic!("TOTP completes the factors")
    };
    assert_eq!(ready.second.as_ref().map(|s| s.at), Some(clock.now()));
    si.complete(ready, SessionId::from_trusted("sess_1".into()), clock.now())
        .expect("complete");
    assert_eq!(
        si.second_factor_verification().as_ref().map(|v| v.status),
        Some(VerificationStatus::Verified)
    );
}

#[test]
fn locked_or_banned_users_cannot_pass_the_second_factor() {
    let clock = TestClock::new(Timestamp(0));
    let settings = Settings::default();
    let mut user = user_with_password();
    user.totp_enabled = true;
    let mut si = identified(&clock, &settings, &user, true);
    si.first_factor_verified(Strategy::Password, &user, &settings, clock.now())
        .expect("password");
    user.locked_until = Some(clock.now().plus_seconds(60));
    assert_eq!(
        si.check_second_factor_attempt(&Strategy::Totp, &user, &settings, clock.now()),
        Err(Error::UserLocked {
            expires_in_seconds: Some(60)
        })
    );
    user.locked_until = None;
    user.banned = true;
    assert_eq!(
        si.second_factor_verified(Strategy::Totp, &user, clock.now()),
        Err(Error::UserBanned)
    );
}

#[test]
fn phone_second_factor_is_prepared_then_verified_by_its_own_code() {
    let clock = TestClock::new(Timestamp(0));
    let settings = Settings::default();
    let mut user = user_with_password();
    user.phone_numbers.push(phone_for_mfa("idn_phone", false));
    let phone = IdentificationId::from_trusted("idn_phone".into());
    assert!(
        !user
            .first_factors(&settings, None)
            .iter()
            .any(|f| f.phone_number_id.as_ref() == Some(&phone)),
        "a phone kept for MFA is not a first factor"
    );
    let mut si = identified(&clock, &settings, &user, true);
    si.first_factor_verified(Strategy::Password, &user, &settings, clock.now())
        .expect("password");
    let factors = si.awaited_second_factors(&user, &settings);
    assert_eq!(factors[0].phone_number_id.as_ref(), Some(&phone));
    assert_eq!(
        factors[0].default,
        Some(true),
        "the only phone is the default"
    );
    let email_id = IdentificationId::from_trusted("idn_email1".into());
    assert_eq!(
        si.prepare_second_factor(
            CodeRequest {
                strategy: Strategy::EmailCode,
                identification: email_id,
                redirect_url: None
            },
            &user,
            &settings,
            clock.now(),
            VerificationId::from_trusted("ver_x".into())
        ),
        Err(Error::StrategyForUserInvalid),
        "an email code is no second factor for this user"
    );
    let v = si
        .prepare_second_factor(
            CodeRequest {
                strategy: Strategy::PhoneCode,
                identification: phone.clone(),
                redirect_url: None,
            },
            &user,
            &settings,
            clock.now(),
            VerificationId::from_trusted("ver_1".into()),
        )
        .expect("prepared");
    assert_eq!(v.slot, Slot::SecondFactor);
    assert_eq!(v.max_attempts, settings.codes.max_attempts);
    assert!(matches!(
        si.prepare_second_factor(
            CodeRequest {
                strategy: Strategy::PhoneCode,
                identification: phone,
                redirect_url: None
            },
            &user,
            &settings,
            clock.now(),
            VerificationId::from_trusted("ver_2".into())
        ),
        Err(Error::TooManyRequests { .. })
    ));
    assert_eq!(
        si.check_second_factor_attempt(&Strategy::PhoneCode, &user, &settings, clock.now()),
        Ok(Some(v.id.clone()))
    );
    let mut stale = v.clone();
    stale.id = VerificationId::from_trusted("ver_other".into());
    assert_eq!(
        si.delivered_verified(&stale, &user, &settings, clock.now()),
        Err(Error::VerificationMissing)
    );
    assert!(matches!(
        si.delivered_verified(&v, &user, &settings, clock.now()),
        Ok(Progress::ReadyForSession(_))
    ));
}

#[test]
fn a_new_client_must_confirm_a_password_sign_in() {
    let clock = TestClock::new(Timestamp(0));
    let settings = Settings::default();
    assert!(settings.sign_in.client_trust, "on by default, as in Clerk");
    let user = user_with_password();
    let mut si = identified(&clock, &settings, &user, false);
    assert_eq!(si.client_trust_state(), Some(ClientTrustState::New));
    assert_eq!(
        si.first_factor_verified(Strategy::Password, &user, &settings, clock.now()),
        Ok(Progress::NeedsMore)
    );
    assert_eq!(si.status(), SignInStatus::NeedsClientTrust);
    let offered: Vec<Strategy> = si
        .awaited_second_factors(&user, &settings)
        .into_iter()
        .map(|f| f.strategy)
        .collect();
    assert_eq!(offered, vec![Strategy::EmailCode, Strategy::EmailLink]);
    let email_id = IdentificationId::from_trusted("idn_email1".into());
    let v = si
        .prepare_second_factor(
            CodeRequest {
                strategy: Strategy::EmailCode,
                identification: email_id,
                redirect_url: None,
            },
            &user,
            &settings,
            clock.now(),
            VerificationId::from_trusted("ver_1".into()),
        )
        .expect("prepared");
    let Ok(Progress::ReadyForSession(ready)) =
        si.delivered_verified(&v, &user, &settings, clock.now())
    else {
        panic!("the code confirms the client")
    };
    assert_eq!(ready.second.map(|s| s.strategy), Some(Strategy::EmailCode));
}

#[test]
fn client_trust_spares_known_clients_codes_and_disabled_instances() {
    let clock = TestClock::new(Timestamp(0));
    let mut settings = Settings::default();
    settings.sign_in.client_trust = true;
    let user = user_with_password();
    let mut known = identified(&clock, &settings, &user, true);
    assert!(matches!(
        known.first_factor_verified(Strategy::Password, &user, &settings, clock.now()),
        Ok(Progress::ReadyForSession(_))
    ));
    let mut by_code = identified(&clock, &settings, &user, false);
    assert!(matches!(
        by_code.first_factor_verified(Strategy::EmailCode, &user, &settings, clock.now()),
        Ok(Progress::ReadyForSession(_))
    ));
    let mut nothing_to_confirm_with = user.clone();
    nothing_to_confirm_with.email_addresses[0].verified = false;
    let mut si = identified(&clock, &settings, &nothing_to_confirm_with, false);
    assert!(matches!(
        si.first_factor_verified(
            Strategy::Password,
            &nothing_to_confirm_with,
            &settings,
            clock.now()
        ),
        Ok(Progress::ReadyForSession(_))
    ));
    settings.sign_in.client_trust = false;
    let mut off = identified(&clock, &settings, &user, false);
    assert!(matches!(
        off.first_factor_verified(Strategy::Password, &user, &settings, clock.now()),
        Ok(Progress::ReadyForSession(_))
    ));
}

#[test]
fn second_factor_steps_are_refused_when_not_awaited() {
    let clock = TestClock::new(Timestamp(0));
    let settings = Settings::default();
    let user = user_with_password();
    let si = identified(&clock, &settings, &user, true);
    assert!(matches!(
        si.check_second_factor_attempt(&Strategy::Totp, &user, &settings, clock.now()),
        Err(Error::ClientStateInvalid { .. })
    ));
}

#[test]
fn a_ticket_identifies_its_account_and_still_asks_for_a_second_factor() {
    let clock = TestClock::new(Timestamp(1_700_000_000_000));
    let settings = Settings::default();
    let mut user = user_with_password();
    user.username = Some("alice".into());
    let mut si = start(&clock, &settings);
    si.identify_account(&user, clock.now()).expect("identified");
    assert_eq!(si.identifier(), Some(&email()), "the primary email address");
    si.check_first_factor_attempt(&Strategy::Ticket, &user, &settings, clock.now())
        .expect("a ticket is no listed factor, yet may be attempted");
    assert!(
        si.identify_account(&user, clock.now()).is_err(),
        "identified once"
    );
    let progress = si
        .first_factor_verified(Strategy::Ticket, &user, &settings, clock.now())
        .expect("verified");
    assert!(matches!(progress, Progress::ReadyForSession(_)));

    user.totp_enabled = true;
    let mut si = start(&clock, &settings);
    si.identify_account(&user, clock.now()).expect("identified");
    let progress = si
        .first_factor_verified(Strategy::Ticket, &user, &settings, clock.now())
        .expect("verified");
    assert!(matches!(progress, Progress::NeedsMore));
    assert_eq!(si.status(), SignInStatus::NeedsSecondFactor);

    let mut nameless = user_with_password();
    nameless.email_addresses.clear();
    nameless.primary_email_address_id = None;
    nameless.phone_numbers.clear();
    nameless.primary_phone_number_id = None;
    nameless.username = None;
    let mut si = start(&clock, &settings);
    assert!(si.identify_account(&nameless, clock.now()).is_err());
    nameless.username = Some("bob".into());
    si.identify_account(&nameless, clock.now())
        .expect("known by its username");
    assert_eq!(si.identifier().map(|i| i.value.as_str()), Some("bob"));
}

#[test]
fn a_wallet_signs_the_message_handed_out_once_and_the_record_keeps_it() {
    let clock = TestClock::new(Timestamp(1_700_000_000_000));
    let mut settings = Settings::default();
    settings.web3.metamask = true;
    let mut user = user_with_password();
    let wallet_id = IdentificationId::from_trusted("idn_wallet1".into());
    let address = "0x52908400098527886e0f7030069857d2e4169ee7";
    user.web3_wallets.push(crate::user::Web3Wallet {
        id: wallet_id.clone(),
        web3_wallet: address.into(),
        verified: true,
        verification_strategy: Some("admin".into()),
        created_at: clock.now(),
    });
    let typed = Identifier::classify(address).expect("wallet");
    let mut si = start(&clock, &settings);
    si.identify(typed.clone(), Some(&user), &settings, clock.now())
        .expect("identify");
    let listed = user.first_factors(&settings, Some(&typed));
    let wallet_factor = listed
        .iter()
        .find(|f| f.strategy == Strategy::Web3MetamaskSignature)
        .expect("the wallet is a factor");
    assert_eq!(wallet_factor.web3_wallet_id.as_ref(), Some(&wallet_id));
    let request = |strategy: Strategy| CodeRequest {
        strategy,
        identification: wallet_id.clone(),
        redirect_url: None,
    };
    let id = VerificationId::from_trusted("ver_w1".into());
    // A wallet strategy switched off is no factor, and a code path cannot start a signature.
    assert_eq!(
        si.prepare_signature(
            request(Strategy::Web3OkxWalletSignature),
            "m".into(),
            &user,
            &settings,
            clock.now(),
            id.clone()
        ),
        Err(Error::StrategyForUserInvalid)
    );
    assert!(si
        .prepare_first_factor(
            request(Strategy::Web3MetamaskSignature),
            Some(&user),
            &settings,
            clock.now(),
            id.clone()
        )
        .is_err());
    let v = si
        .prepare_signature(
            request(Strategy::Web3MetamaskSignature),
            "sign me".into(),
            &user,
            &settings,
            clock.now(),
            id.clone(),
        )
        .expect("prepared");
    assert_eq!(v.identification_id.as_ref(), Some(&wallet_id));
    let shown = si.first_factor_verification().expect("in flight");
    assert_eq!(shown.message.as_deref(), Some("sign me"));
    // The stored record round-trips the message to sign.
    let stored = serde_json::to_string(&si).expect("store");
    let back: SignIn = serde_json::from_str(&stored).expect("read back");
    assert_eq!(back, si);
    let pending = si
        .check_code_attempt(&Strategy::Web3MetamaskSignature, Some(&user), clock.now())
        .expect("awaited");
    assert!(matches!(pending, PendingStep::Signature { ref message, .. } if message == "sign me"));
    let progress = si
        .code_verified(&v, &user, &settings, clock.now())
        .expect("signed");
    assert!(matches!(progress, Progress::ReadyForSession(_)));
}

fn with_passkey() -> (User, Settings) {
    let mut user = user_with_password();
    user.passkeys.push(crate::user::Passkey {
        id: IdentificationId::from_trusted("idn_pk".into()),
        name: "Passkey".into(),
        verified: true,
        last_used_at: None,
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
    });
    let mut settings = Settings::default();
    settings.passkeys.enabled = true;
    (user, settings)
}

fn stored_round_trip(si: &SignIn) -> SignIn {
    let json = serde_json::to_string(si).expect("stored form");
    serde_json::from_str(&json).expect("read back")
}

#[test]
fn a_discoverable_passkey_names_the_account_then_proves_the_first_factor() {
    let clock = TestClock::new(Timestamp(1_700_000_000_000));
    let (user, settings) = with_passkey();
    let mut si = start(&clock, &settings);
    let vid = VerificationId::from_trusted("ver_pk".into());
    let v = si
        .prepare_passkey(
            vid.clone(),
            "{\"challenge\":\"c\"}".into(),
            None,
            &settings,
            clock.now(),
        )
        .expect("a challenge before any identifier");
    assert_eq!(v.strategy, Strategy::Passkey);
    assert_eq!(v.identification_id, None);
    assert_eq!(si.status(), SignInStatus::NeedsFirstFactor);
    assert_eq!(si.identifier(), None);
    let si_back = stored_round_trip(&si);
    assert_eq!(si_back, si, "the stored form keeps the challenge");
    let view = si
        .first_factor_verification()
        .expect("the challenge is shown");
    assert_eq!(view.nonce.as_deref(), Some("{\"challenge\":\"c\"}"));
    assert_eq!(
        si.check_passkey_attempt(None, clock.now()),
        Ok((vid.clone(), None)),
        "any account's passkey may answer"
    );
    si.identify_by_passkey(&user, clock.now()).expect("named");
    assert_eq!(si.user_id(), Some(&user.id));
    let progress = si
        .code_verified(&v, &user, &settings, clock.now())
        .expect("proved");
    assert!(matches!(progress, Progress::ReadyForSession(_)));
}

#[test]
fn an_identified_passkey_challenge_is_for_that_account_only() {
    let clock = TestClock::new(Timestamp(1_700_000_000_000));
    let (user, mut settings) = with_passkey();
    let mut si = start(&clock, &settings);
    si.identify(email(), Some(&user), &settings, clock.now())
        .expect("identify");
    let vid = VerificationId::from_trusted("ver_pk".into());
    si.prepare_passkey(
        vid.clone(),
        "{}".into(),
        Some(&user),
        &settings,
        clock.now(),
    )
    .expect("challenge");
    assert_eq!(stored_round_trip(&si), si);
    assert_eq!(
        si.check_passkey_attempt(Some(&user), clock.now()),
        Ok((vid, Some(user.id.clone())))
    );
    let mut other = user.clone();
    other.id = UserId::from_trusted("user_other".into());
    assert!(si.identify_by_passkey(&other, clock.now()).is_err());
    let mut without = user.clone();
    without.passkeys.clear();
    let mut fresh = start(&clock, &settings);
    fresh
        .identify(email(), Some(&without), &settings, clock.now())
        .expect("identify");
    assert_eq!(
        fresh.prepare_passkey(
            VerificationId::from_trusted("v2".into()),
            "{}".into(),
            Some(&without),
            &settings,
            clock.now()
        ),
        Err(Error::StrategyForUserInvalid)
    );
    settings.passkeys.enabled = false;
    let mut off = start(&clock, &settings);
    assert_eq!(
        off.prepare_passkey(
            VerificationId::from_trusted("v3".into()),
            "{}".into(),
            None,
            &settings,
            clock.now()
        ),
        Err(Error::StrategyForUserInvalid)
    );
}
