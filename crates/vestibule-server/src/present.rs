//! Domain values in wire form. The only place that knows both.

use crate::instance::Instance;
use std::collections::BTreeMap;
use vestibule_model::session_verification::SessionVerification;
use vestibule_model::sign_in::Verification as DomainVerification;
use vestibule_model::user::{EmailAddress, Factor, LockState, Passkey, PhoneNumber, Web3Wallet};
use vestibule_model::verification::CodeVerification;
use vestibule_model::{Client, Session, SessionStatus, Settings, SignIn, Timestamp, User};
use vestibule_wire as wire;

/// Who sees a user: the user themself (FAPI) or the operator (BAPI, with private fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Frontend,
    Backend,
}

fn verification_admin() -> wire::Verification {
    wire::Verification {
        object: "verification_admin".into(),
        status: "verified".into(),
        strategy: "admin".into(),
        attempts: None,
        expire_at: None,
        ..wire::Verification::default()
    }
}

fn identification_verification(verified: bool, strategy: Option<&str>) -> wire::Verification {
    match (verified, strategy) {
        (true, Some("admin") | None) => verification_admin(),
        (verified, strategy) => wire::Verification {
            object: "verification".into(),
            status: if verified { "verified" } else { "unverified" }.into(),
            strategy: strategy.unwrap_or("email_code").into(),
            attempts: None,
            expire_at: None,
            ..wire::Verification::default()
        },
    }
}

pub fn email(e: &EmailAddress, updated_at: Timestamp) -> wire::EmailAddress {
    wire::EmailAddress {
        object: "email_address".into(),
        id: e.id.to_string(),
        email_address: e.email_address.clone(),
        reserved: false,
        verification: Some(identification_verification(
            e.verified,
            e.verification_strategy.as_deref(),
        )),
        linked_to: Vec::new(),
        matches_sso_connection: false,
        created_at: e.created_at.millis(),
        updated_at: updated_at.millis(),
    }
}

pub fn phone(p: &PhoneNumber, updated_at: Timestamp) -> wire::PhoneNumber {
    wire::PhoneNumber {
        object: "phone_number".into(),
        id: p.id.to_string(),
        phone_number: p.phone_number.clone(),
        reserved: false,
        reserved_for_second_factor: p.reserved_for_second_factor,
        default_second_factor: p.default_second_factor,
        verification: Some(identification_verification(
            p.verified,
            p.verification_strategy.as_deref(),
        )),
        linked_to: Vec::new(),
        backup_codes: None,
        created_at: p.created_at.millis(),
        updated_at: updated_at.millis(),
    }
}

/// A wallet, with the verification in flight when one is (`pending`: a message handed out to
/// sign, from `/v1/me/web3_wallets/{id}/prepare_verification`).
pub fn web3_wallet(
    w: &Web3Wallet,
    updated_at: Timestamp,
    pending: Option<wire::Verification>,
) -> wire::Web3Wallet {
    wire::Web3Wallet {
        object: "web3_wallet".into(),
        id: w.id.to_string(),
        web3_wallet: w.web3_wallet.clone(),
        verification: Some(pending.unwrap_or_else(|| {
            identification_verification(w.verified, w.verification_strategy.as_deref())
        })),
        created_at: w.created_at.millis(),
        updated_at: updated_at.millis(),
    }
}

/// A passkey, with its registration's verification: `pending` carries the creation options
/// (`nonce`) while the authenticator's answer is awaited.
pub fn passkey(p: &Passkey, pending: Option<(&str, Timestamp)>) -> wire::Passkey {
    let verification = match pending {
        Some((nonce, expire_at)) => wire::Verification {
            object: "verification".into(),
            status: "unverified".into(),
            strategy: "passkey".into(),
            expire_at: Some(expire_at.millis()),
            nonce: Some(nonce.to_owned()),
            ..wire::Verification::default()
        },
        None => wire::Verification {
            object: "verification".into(),
            status: if p.verified { "verified" } else { "unverified" }.into(),
            strategy: "passkey".into(),
            ..wire::Verification::default()
        },
    };
    wire::Passkey {
        object: "passkey".into(),
        id: p.id.to_string(),
        name: p.name.clone(),
        last_used_at: p.last_used_at.map(Timestamp::millis),
        verification: Some(verification),
        created_at: p.created_at.millis(),
        updated_at: p.updated_at.millis(),
    }
}

pub fn user(u: &User, audience: Audience, settings: &Settings, now: Timestamp) -> wire::User {
    let backend = audience == Audience::Backend;
    let lock = u.lock_state(now);
    wire::User {
        object: "user".into(),
        id: u.id.to_string(),
        external_id: u.external_id.clone(),
        primary_email_address_id: u.primary_email_address_id.as_ref().map(ToString::to_string),
        primary_phone_number_id: u.primary_phone_number_id.as_ref().map(ToString::to_string),
        primary_web3_wallet_id: u.primary_web3_wallet_id.as_ref().map(ToString::to_string),
        username: u.username.clone(),
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
        image_url: String::new(),
        has_image: false,
        email_addresses: u
            .email_addresses
            .iter()
            .map(|e| email(e, u.updated_at))
            .collect(),
        phone_numbers: u
            .phone_numbers
            .iter()
            .map(|p| phone(p, u.updated_at))
            .collect(),
        web3_wallets: u
            .web3_wallets
            .iter()
            .map(|w| web3_wallet(w, u.updated_at, None))
            .collect(),
        external_accounts: Vec::new(),
        enterprise_accounts: Vec::new(),
        saml_accounts: Vec::new(),
        passkeys: u
            .passkeys
            .iter()
            .filter(|p| p.verified)
            .filter_map(|p| serde_json::to_value(passkey(p, None)).ok())
            .collect(),
        organization_memberships: Vec::new(),
        password_enabled: u.has_password(),
        totp_enabled: u.totp_enabled,
        backup_code_enabled: u.backup_codes_remaining > 0,
        two_factor_enabled: u.has_second_factor(),
        public_metadata: u.public_metadata.clone(),
        unsafe_metadata: u.unsafe_metadata.clone(),
        private_metadata: backend.then(|| u.private_metadata.clone()),
        banned: backend.then_some(u.banned),
        locked: backend.then_some(lock != LockState::Unlocked),
        lockout_expires_in_seconds: match lock {
            LockState::Locked(Some(s)) if backend => Some(s),
            _ => None,
        },
        verification_attempts_remaining: None,
        last_sign_in_at: u.last_sign_in_at.map(Timestamp::millis),
        last_active_at: u.last_active_at.map(Timestamp::millis),
        legal_accepted_at: None,
        create_organization_enabled: false,
        create_organizations_limit: None,
        delete_self_enabled: settings.actions.delete_self,
        created_at: u.created_at.millis(),
        updated_at: u.updated_at.millis(),
    }
}

fn public_user_data(u: &User) -> wire::PublicUserData {
    wire::PublicUserData {
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
        image_url: String::new(),
        has_image: false,
        identifier: u.display_identifier().unwrap_or_default(),
        user_id: Some(u.id.to_string()),
        username: u.username.clone(),
    }
}

/// What a pending session waits for. The only task here is enrolling a second factor.
fn tasks(s: &Session) -> Option<Vec<wire::SessionTask>> {
    (s.status == SessionStatus::Pending).then(|| {
        vec![wire::SessionTask {
            key: "setup-mfa".into(),
        }]
    })
}

/// A session as its owner sees it (FAPI), with the current token when it is signed in.
pub fn session_for_owner(
    s: &Session,
    u: &User,
    token: Option<String>,
    settings: &Settings,
    now: Timestamp,
) -> wire::Session {
    wire::Session {
        object: "session".into(),
        id: s.id.to_string(),
        status: s.status_at(now, &settings.sessions).as_str().into(),
        client_id: None,
        user_id: None,
        expire_at: s.expire_at.millis(),
        abandon_at: s.abandon_at(&settings.sessions).millis(),
        last_active_at: s.last_active_at.millis(),
        last_active_organization_id: None,
        last_active_token: token.map(wire::Token::new),
        actor: None,
        tasks: tasks(s),
        factor_verification_age: Some(s.factor_verification_age(now)),
        user: Some(user(u, Audience::Frontend, settings, now)),
        public_user_data: Some(public_user_data(u)),
        created_at: s.created_at.millis(),
        updated_at: s.updated_at.millis(),
    }
}

/// A session in its owner's list of sessions (`/v1/me/sessions`): no user, no token.
pub fn session_with_activities(
    s: &Session,
    settings: &Settings,
    now: Timestamp,
) -> wire::SessionWithActivities {
    let mut session = session_for_operator(s, settings, now);
    session.client_id = None;
    session.user_id = None;
    session.factor_verification_age = Some(s.factor_verification_age(now));
    wire::SessionWithActivities {
        session,
        latest_activity: wire::SessionActivity {
            object: "session_activity".into(),
            id: format!(
                "sess_activity_{}",
                s.id.as_str().trim_start_matches("sess_")
            ),
            browser_name: None,
            browser_version: None,
            device_type: None,
            ip_address: None,
            city: None,
            country: None,
            is_mobile: None,
        },
    }
}

/// A session as the operator sees it (BAPI).
pub fn session_for_operator(s: &Session, settings: &Settings, now: Timestamp) -> wire::Session {
    wire::Session {
        object: "session".into(),
        id: s.id.to_string(),
        status: s.status_at(now, &settings.sessions).as_str().into(),
        client_id: Some(s.client_id.to_string()),
        user_id: Some(s.user_id.to_string()),
        expire_at: s.expire_at.millis(),
        abandon_at: s.abandon_at(&settings.sessions).millis(),
        last_active_at: s.last_active_at.millis(),
        last_active_organization_id: None,
        last_active_token: None,
        actor: None,
        tasks: tasks(s),
        factor_verification_age: None,
        user: None,
        public_user_data: None,
        created_at: s.created_at.millis(),
        updated_at: s.updated_at.millis(),
    }
}

fn factor(f: &Factor) -> wire::Factor {
    wire::Factor {
        strategy: f.strategy.as_str().into_owned(),
        safe_identifier: f.safe_identifier.clone(),
        email_address_id: f.email_address_id.as_ref().map(ToString::to_string),
        phone_number_id: f.phone_number_id.as_ref().map(ToString::to_string),
        web3_wallet_id: f.web3_wallet_id.as_ref().map(ToString::to_string),
        primary: f.primary,
        default: f.default,
        ..wire::Factor::default()
    }
}

fn verification(v: &DomainVerification) -> wire::Verification {
    wire::Verification {
        object: "verification".into(),
        status: v.status.as_str().into(),
        strategy: v.strategy.as_str().into_owned(),
        attempts: v.attempts,
        expire_at: v.expire_at.map(Timestamp::millis),
        message: v.message.clone(),
        nonce: v.nonce.clone(),
        ..wire::Verification::default()
    }
}

/// A step's verification; for a code or link, with attempts, expiry and status as stored.
fn step_verification(
    v: &DomainVerification,
    stored: &[CodeVerification],
    now: Timestamp,
) -> wire::Verification {
    let mut w = verification(v);
    if let Some(row) = stored
        .iter()
        .find(|row| Some(&row.id) == v.verification_id.as_ref())
    {
        w.status = row.status_at(now).as_str().into();
        w.attempts = Some(row.attempts);
        w.expire_at = Some(row.expire_at.millis());
        w.verified_at_client = row.verified_by_client_id.as_ref().map(ToString::to_string);
    }
    w
}

/// A sign-in in wire form. `factors` are the first factors it offers and `second_factors` those
/// of its second step; `stored` are the codes or links its steps wait for.
pub fn sign_in(
    si: &SignIn,
    factors: Vec<Factor>,
    second_factors: Option<Vec<Factor>>,
    u: Option<&User>,
    settings: &Settings,
    stored: &[CodeVerification],
    now: Timestamp,
) -> wire::SignIn {
    let first = si
        .first_factor_verification()
        .map(|v| step_verification(&v, stored, now));
    let second = si
        .second_factor_verification()
        .map(|v| step_verification(&v, stored, now));
    wire::SignIn {
        object: "sign_in".into(),
        id: si.id.to_string(),
        status: si.status().as_str().into(),
        supported_identifiers: settings
            .identifier_kinds()
            .iter()
            .map(|k| k.as_str().to_owned())
            .collect(),
        identifier: si.identifier().map(|i| i.value.clone()),
        supported_first_factors: Some(factors.iter().map(factor).collect()),
        supported_second_factors: second_factors.map(|f| f.iter().map(factor).collect()),
        first_factor_verification: first,
        second_factor_verification: second,
        user_data: u.map(|u| wire::UserData {
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            image_url: String::new(),
            has_image: false,
        }),
        created_session_id: si.created_session_id().map(ToString::to_string),
        abandon_at: si.abandon_at.millis(),
        client_trust_state: si.client_trust_state().map(|s| s.as_str().to_owned()),
    }
}

/// A session's reverification in wire form, around the session as its owner sees it.
pub fn session_verification(
    sv: &SessionVerification,
    session: wire::Session,
    u: &User,
    settings: &Settings,
    stored: &[CodeVerification],
    now: Timestamp,
) -> wire::SessionVerification {
    let step =
        |v: &Option<DomainVerification>| v.as_ref().map(|v| step_verification(v, stored, now));
    wire::SessionVerification {
        object: "session_reverification".into(),
        id: sv.id.to_string(),
        status: sv.status.as_str().into(),
        level: sv.level.as_str().into(),
        session,
        supported_first_factors: sv.first_factors(u, settings).iter().map(factor).collect(),
        supported_second_factors: sv.second_factors(u, settings).iter().map(factor).collect(),
        first_factor_verification: step(&sv.first_factor_verification),
        second_factor_verification: step(&sv.second_factor_verification),
    }
}

pub fn client(
    c: &Client,
    sessions: Vec<wire::Session>,
    sign_in: Option<wire::SignIn>,
) -> wire::Client {
    wire::Client {
        object: "client".into(),
        id: c.id.to_string(),
        sessions,
        sign_in,
        sign_up: None,
        last_active_session_id: c.last_active_session_id.as_ref().map(ToString::to_string),
        last_authentication_strategy: None,
        cookie_expires_at: None,
        captcha_bypass: false,
        created_at: c.created_at.millis(),
        updated_at: c.updated_at.millis(),
    }
}

fn attribute(enabled: bool, identifier: bool, first_factors: Vec<String>) -> wire::Attribute {
    wire::Attribute {
        enabled,
        required: false,
        used_for_first_factor: enabled && identifier,
        first_factors: if enabled { first_factors } else { Vec::new() },
        used_for_second_factor: false,
        second_factors: Vec::new(),
        verifications: Vec::new(),
        verify_at_sign_up: false,
    }
}

/// The environment clerk-js loads: the instance's real settings, nothing it does not implement.
pub fn environment(settings: &Settings, instance: &Instance) -> wire::Environment {
    let ids = &settings.identifiers;
    let mut attributes = BTreeMap::new();
    attributes.insert(
        "email_address".into(),
        attribute(ids.email_address, true, Vec::new()),
    );
    let m = &settings.mfa;
    let mut phone = attribute(
        ids.phone_number || m.phone_code,
        ids.phone_number,
        Vec::new(),
    );
    if m.phone_code {
        phone.used_for_second_factor = true;
        phone.second_factors = vec!["phone_code".into()];
        phone.verifications = vec!["phone_code".into()];
    }
    attributes.insert("phone_number".into(), phone);
    let second_factor = |enabled: bool, strategy: &str, verifications: Vec<String>| {
        let mut a = attribute(enabled, false, Vec::new());
        if enabled {
            a.used_for_second_factor = true;
            a.second_factors = vec![strategy.into()];
            a.verifications = verifications;
        }
        a
    };
    attributes.insert(
        "authenticator_app".into(),
        second_factor(m.authenticator_app, "totp", vec!["totp".into()]),
    );
    attributes.insert(
        "backup_code".into(),
        second_factor(m.backup_codes, "backup_code", Vec::new()),
    );
    attributes.insert("username".into(), attribute(ids.username, true, Vec::new()));
    let mut password = attribute(settings.password.enabled, false, Vec::new());
    password.required = settings.password.enabled;
    attributes.insert("password".into(), password);
    let wallets: Vec<String> = settings
        .web3
        .strategies()
        .iter()
        .map(|s| s.as_str().into_owned())
        .collect();
    let mut web3 = attribute(!wallets.is_empty(), true, wallets.clone());
    web3.verifications = wallets;
    attributes.insert("web3_wallet".into(), web3);
    let passkeys = settings.passkeys.enabled;
    let mut passkey = attribute(passkeys, true, vec!["passkey".into()]);
    if passkeys {
        passkey.verifications = vec!["passkey".into()];
    }
    attributes.insert("passkey".into(), passkey);
    for disabled in ["first_name", "last_name"] {
        attributes.insert(disabled.into(), attribute(false, false, Vec::new()));
    }
    let p = &settings.password;
    wire::Environment {
        object: "environment".into(),
        id: "env_vestibule".into(),
        auth_config: wire::AuthConfig {
            object: "auth_config".into(),
            id: "aac_vestibule".into(),
            single_session_mode: settings.sessions.single_session_mode,
            claimed_at: None,
            reverification: false,
            session_minter: false,
        },
        display_config: wire::DisplayConfig {
            object: "display_config".into(),
            id: "display_config_vestibule".into(),
            instance_environment_type: instance.mode.as_str().into(),
            application_name: settings.application_name.clone(),
            branded: false,
            captcha_provider: "turnstile".into(),
            captcha_public_key: None,
            captcha_widget_type: None,
            captcha_public_key_invisible: None,
            captcha_oauth_bypass: Vec::new(),
            captcha_heartbeat: false,
            google_one_tap_client_id: settings.google_one_tap.client_id.clone(),
            home_url: "/".into(),
            sign_in_url: "/sign-in".into(),
            sign_up_url: "/sign-up".into(),
            user_profile_url: "/user".into(),
            after_sign_in_url: "/".into(),
            after_sign_up_url: "/".into(),
            after_sign_out_one_url: "/".into(),
            after_sign_out_all_url: "/".into(),
            after_switch_session_url: "/".into(),
            preferred_sign_in_strategy: "password".into(),
            logo_image_url: String::new(),
            favicon_image_url: String::new(),
            support_email: None,
            theme: serde_json::json!({}),
        },
        user_settings: wire::UserSettings {
            attributes,
            social: BTreeMap::new(),
            sign_in: serde_json::json!({"second_factor": {"required": false,
                "enabled": m.authenticator_app || m.phone_code}}),
            // Sign-up is not offered: accounts are created by operators through the Backend API.
            sign_up: serde_json::json!({"captcha_enabled": false, "progressive": true, "mode": "restricted",
                "legal_consent_enabled": false, "allowlist_only": false, "mfa": {"required": m.required}}),
            password_settings: wire::PasswordSettings {
                min_length: p.min_length,
                max_length: p.max_length,
                require_special_char: p.require_special_char,
                require_numbers: p.require_numbers,
                require_uppercase: p.require_uppercase,
                require_lowercase: p.require_lowercase,
                allowed_special_characters: p.allowed_special_characters.clone(),
                // Vestibule's list is local, not HIBP; clerk-js only reads this to show a hint.
                disable_hibp: !p.block_common,
                enforce_hibp_on_sign_in: false,
                show_zxcvbn: false,
                min_zxcvbn_strength: 0,
            },
            actions: serde_json::json!({"delete_self": settings.actions.delete_self,
                "create_organization": false}),
            attack_protection: serde_json::json!({
                "enumeration_protection": {"enabled": settings.sign_in.enumeration_protection},
                "user_lockout": {"enabled": settings.lockout.enabled, "max_attempts": settings.lockout.max_attempts,
                    "duration_in_minutes": settings.lockout.duration_seconds.map(|s| s / 60)},
                "email_link": {"require_same_client": settings.email_link.require_same_client},
            }),
            passkey_settings: serde_json::json!({
                "allow_autofill": passkeys && settings.passkeys.allow_autofill,
                "show_sign_in_button": passkeys && settings.passkeys.show_sign_in_button,
            }),
        },
        organization_settings: serde_json::json!({"enabled": false, "max_allowed_memberships": 0,
            "actions": {"admin_delete": false}, "domains": {"enabled": false, "enrollment_modes": [], "default_role": null},
            "force_organization_selection": false}),
        maintenance_mode: false,
    }
}

/// Whether a stored session still counts as signed in now.
pub fn signed_in_status(s: &Session, settings: &Settings, now: Timestamp) -> Option<SessionStatus> {
    let status = s.status_at(now, &settings.sessions);
    status.is_signed_in().then_some(status)
}
