//! The `SignIn` object: the state of one sign-in attempt and the steps that move it forward.
//!
//! ```text
//! create ──▶ needs_identifier ──▶ needs_first_factor ──▶ needs_second_factor ──▶ complete
//!                                   │  (prepare/attempt    │  (prepare/attempt      │
//!                                   │   first factor)      │   second factor)       └─▶ set_active(created_session_id)
//!                                   └──▶ needs_new_password (reset_password) / needs_client_trust
//! ```
//!
//! Each step returns a new [`SignIn`] with the server's view; the one it was called on is left as
//! it was, so a failed step never leaves a half-updated value behind.

use crate::clerk::Clerk;
use crate::error::ClerkError;
use crate::strategy::{Strategy, Web3Wallet};
use crate::transport::{Call, Verb};
use std::fmt;
use vestibule_wire::{self as wire, Factor, UserData, Verification};

/// Where a sign-in stands.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SignInStatus {
    /// No identifier (email address, phone number, username, …) yet.
    NeedsIdentifier,
    /// A first factor (password, code, link, …) must be verified.
    NeedsFirstFactor,
    /// Multi-factor authentication: a second factor must be verified.
    NeedsSecondFactor,
    /// A new device: an extra verification establishes trust in this client.
    NeedsClientTrust,
    /// The user must choose a new password ([`SignIn::reset_password`]).
    NeedsNewPassword,
    /// Done: `created_session_id` holds the new session.
    Complete,
    /// A status this SDK does not know yet, kept verbatim.
    Unknown(String),
}

impl SignInStatus {
    pub fn parse(status: &str) -> SignInStatus {
        match status {
            "needs_identifier" => SignInStatus::NeedsIdentifier,
            "needs_first_factor" => SignInStatus::NeedsFirstFactor,
            "needs_second_factor" => SignInStatus::NeedsSecondFactor,
            "needs_client_trust" => SignInStatus::NeedsClientTrust,
            "needs_new_password" => SignInStatus::NeedsNewPassword,
            "complete" => SignInStatus::Complete,
            other => SignInStatus::Unknown(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            SignInStatus::NeedsIdentifier => "needs_identifier",
            SignInStatus::NeedsFirstFactor => "needs_first_factor",
            SignInStatus::NeedsSecondFactor => "needs_second_factor",
            SignInStatus::NeedsClientTrust => "needs_client_trust",
            SignInStatus::NeedsNewPassword => "needs_new_password",
            SignInStatus::Complete => "complete",
            SignInStatus::Unknown(s) => s,
        }
    }
}

impl fmt::Display for SignInStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Form = Vec<(&'static str, String)>;

fn push(form: &mut Form, key: &'static str, value: &Option<String>) {
    if let Some(v) = value {
        form.push((key, v.clone()));
    }
}

/// Parameters of [`SignInBuilder::create`]. What to pass depends on the instance's settings;
/// the constructors cover the usual flows, and anything else is a struct literal with
/// `..Default::default()`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SignInCreateParams {
    /// Email address, phone number, username or Web3 wallet address.
    pub identifier: Option<String>,
    /// Omitted: the server picks the factors to offer (identifier-first flow).
    pub strategy: Option<Strategy>,
    /// With [`Strategy::Password`]: completes the first factor in the same call.
    pub password: Option<String>,
    /// With [`Strategy::Ticket`]: the ticket issued through the Backend API.
    pub ticket: Option<String>,
    /// With [`Strategy::GoogleOneTap`] (or Apple's `oauth_token_apple`): the provider's token.
    pub token: Option<String>,
    /// With OAuth / enterprise SSO: where the provider sends the user back; with email links:
    /// the page the link opens.
    pub redirect_url: Option<String>,
    /// With OAuth / enterprise SSO: where the user lands once the sign-in is complete.
    pub action_complete_redirect_url: Option<String>,
    pub oidc_prompt: Option<String>,
    pub oidc_login_hint: Option<String>,
    /// Continue from the sign-up in progress (sign-up → sign-in transfer).
    pub transfer: bool,
    /// BCP 47 language tag for messages sent to the user.
    pub locale: Option<String>,
}

impl SignInCreateParams {
    /// Identifier first: the answer lists the factors this user can verify.
    pub fn identifier(identifier: impl Into<String>) -> Self {
        SignInCreateParams {
            identifier: Some(identifier.into()),
            ..Default::default()
        }
    }

    /// Identifier and password in one call.
    pub fn password(identifier: impl Into<String>, password: impl Into<String>) -> Self {
        SignInCreateParams {
            identifier: Some(identifier.into()),
            strategy: Some(Strategy::Password),
            password: Some(password.into()),
            ..Default::default()
        }
    }

    /// An identifier with a chosen strategy, e.g. [`Strategy::EmailCode`].
    pub fn with_strategy(identifier: impl Into<String>, strategy: Strategy) -> Self {
        SignInCreateParams {
            identifier: Some(identifier.into()),
            strategy: Some(strategy),
            ..Default::default()
        }
    }

    /// A sign-in ticket from the Backend API.
    pub fn ticket(ticket: impl Into<String>) -> Self {
        SignInCreateParams {
            strategy: Some(Strategy::Ticket),
            ticket: Some(ticket.into()),
            ..Default::default()
        }
    }

    /// The ID token Google's One Tap prompt handed the app (`credential`).
    pub fn google_one_tap(token: impl Into<String>) -> Self {
        SignInCreateParams {
            strategy: Some(Strategy::GoogleOneTap),
            token: Some(token.into()),
            ..Default::default()
        }
    }

    /// OAuth with `provider` (`google`, `github`, …).
    pub fn oauth(
        provider: impl Into<String>,
        redirect_url: impl Into<String>,
        action_complete_redirect_url: impl Into<String>,
    ) -> Self {
        SignInCreateParams {
            strategy: Some(Strategy::OAuth(provider.into())),
            redirect_url: Some(redirect_url.into()),
            action_complete_redirect_url: Some(action_complete_redirect_url.into()),
            ..Default::default()
        }
    }

    /// A discoverable passkey sign-in (no identifier).
    pub fn passkey() -> Self {
        SignInCreateParams {
            strategy: Some(Strategy::Passkey),
            ..Default::default()
        }
    }

    /// Continue from the sign-up in progress.
    pub fn transfer() -> Self {
        SignInCreateParams {
            transfer: true,
            ..Default::default()
        }
    }

    fn form(&self) -> Form {
        let mut form = Form::new();
        push(&mut form, "identifier", &self.identifier);
        if let Some(s) = &self.strategy {
            form.push(("strategy", s.as_str().into_owned()));
        }
        push(&mut form, "password", &self.password);
        push(&mut form, "ticket", &self.ticket);
        push(&mut form, "token", &self.token);
        push(&mut form, "redirect_url", &self.redirect_url);
        push(
            &mut form,
            "action_complete_redirect_url",
            &self.action_complete_redirect_url,
        );
        push(&mut form, "oidc_prompt", &self.oidc_prompt);
        push(&mut form, "oidc_login_hint", &self.oidc_login_hint);
        if self.transfer {
            form.push(("transfer", "true".into()));
        }
        push(&mut form, "locale", &self.locale);
        form
    }
}

/// Secrets stay out of logs.
impl fmt::Debug for SignInCreateParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignInCreateParams")
            .field("identifier", &self.identifier)
            .field("strategy", &self.strategy)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("ticket", &self.ticket.as_ref().map(|_| "…"))
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("redirect_url", &self.redirect_url)
            .field(
                "action_complete_redirect_url",
                &self.action_complete_redirect_url,
            )
            .field("transfer", &self.transfer)
            .finish_non_exhaustive()
    }
}

/// How to start a first-factor verification ([`SignIn::prepare_first_factor`]). Password needs
/// no preparation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrepareFirstFactor {
    /// A one-time code by email, to the address with this id (from `supported_first_factors`).
    EmailCode { email_address_id: String },
    /// A magic link by email, opening `redirect_url`.
    EmailLink {
        email_address_id: String,
        redirect_url: String,
    },
    /// A one-time code by SMS (or `channel`, e.g. `whatsapp`).
    PhoneCode {
        phone_number_id: String,
        default: Option<bool>,
        channel: Option<String>,
    },
    /// A message for the wallet to sign.
    Web3 {
        wallet: Web3Wallet,
        web3_wallet_id: String,
    },
    /// WebAuthn options, returned in `first_factor_verification.nonce`.
    Passkey,
    /// An OAuth redirect to `provider` (`google`, …).
    OAuth {
        provider: String,
        redirect_url: String,
        action_complete_redirect_url: String,
        oidc_prompt: Option<String>,
    },
    /// A SAML or OIDC redirect to the user's enterprise connection.
    EnterpriseSso {
        redirect_url: String,
        action_complete_redirect_url: String,
        oidc_prompt: Option<String>,
        enterprise_connection_id: Option<String>,
    },
    /// A password-reset code by email.
    ResetPasswordEmailCode { email_address_id: String },
    /// A password-reset code by SMS.
    ResetPasswordPhoneCode { phone_number_id: String },
}

impl PrepareFirstFactor {
    pub fn strategy(&self) -> Strategy {
        match self {
            PrepareFirstFactor::EmailCode { .. } => Strategy::EmailCode,
            PrepareFirstFactor::EmailLink { .. } => Strategy::EmailLink,
            PrepareFirstFactor::PhoneCode { .. } => Strategy::PhoneCode,
            PrepareFirstFactor::Web3 { wallet, .. } => Strategy::Web3(*wallet),
            PrepareFirstFactor::Passkey => Strategy::Passkey,
            PrepareFirstFactor::OAuth { provider, .. } => Strategy::OAuth(provider.clone()),
            PrepareFirstFactor::EnterpriseSso { .. } => Strategy::EnterpriseSso,
            PrepareFirstFactor::ResetPasswordEmailCode { .. } => Strategy::ResetPasswordEmailCode,
            PrepareFirstFactor::ResetPasswordPhoneCode { .. } => Strategy::ResetPasswordPhoneCode,
        }
    }

    fn form(&self) -> Form {
        let mut form = vec![("strategy", self.strategy().as_str().into_owned())];
        match self {
            PrepareFirstFactor::EmailCode { email_address_id }
            | PrepareFirstFactor::ResetPasswordEmailCode { email_address_id } => {
                form.push(("email_address_id", email_address_id.clone()));
            }
            PrepareFirstFactor::EmailLink {
                email_address_id,
                redirect_url,
            } => {
                form.push(("email_address_id", email_address_id.clone()));
                form.push(("redirect_url", redirect_url.clone()));
            }
            PrepareFirstFactor::PhoneCode {
                phone_number_id,
                default,
                channel,
            } => {
                form.push(("phone_number_id", phone_number_id.clone()));
                if let Some(d) = default {
                    form.push(("default", d.to_string()));
                }
                push(&mut form, "channel", channel);
            }
            PrepareFirstFactor::ResetPasswordPhoneCode { phone_number_id } => {
                form.push(("phone_number_id", phone_number_id.clone()));
            }
            PrepareFirstFactor::Web3 { web3_wallet_id, .. } => {
                form.push(("web3_wallet_id", web3_wallet_id.clone()));
            }
            PrepareFirstFactor::Passkey => {}
            PrepareFirstFactor::OAuth {
                redirect_url,
                action_complete_redirect_url,
                oidc_prompt,
                ..
            } => {
                form.push(("redirect_url", redirect_url.clone()));
                form.push((
                    "action_complete_redirect_url",
                    action_complete_redirect_url.clone(),
                ));
                push(&mut form, "oidc_prompt", oidc_prompt);
            }
            PrepareFirstFactor::EnterpriseSso {
                redirect_url,
                action_complete_redirect_url,
                oidc_prompt,
                enterprise_connection_id,
            } => {
                form.push(("redirect_url", redirect_url.clone()));
                form.push((
                    "action_complete_redirect_url",
                    action_complete_redirect_url.clone(),
                ));
                push(&mut form, "oidc_prompt", oidc_prompt);
                push(
                    &mut form,
                    "enterprise_connection_id",
                    enterprise_connection_id,
                );
            }
        }
        form
    }
}

/// How to complete a first-factor verification ([`SignIn::attempt_first_factor`]).
#[derive(Clone, PartialEq, Eq)]
pub enum AttemptFirstFactor {
    Password {
        password: String,
    },
    EmailCode {
        code: String,
    },
    PhoneCode {
        code: String,
    },
    /// The reset code; with `password`, the new password is set in the same call.
    ResetPasswordEmailCode {
        code: String,
        password: Option<String>,
    },
    ResetPasswordPhoneCode {
        code: String,
        password: Option<String>,
    },
    /// The wallet's signature over `first_factor_verification.message`.
    Web3 {
        wallet: Web3Wallet,
        signature: String,
    },
    /// The WebAuthn assertion, as the JSON text clerk-js sends (`PublicKeyCredential`, base64url fields).
    Passkey {
        public_key_credential: String,
    },
}

impl AttemptFirstFactor {
    pub fn strategy(&self) -> Strategy {
        match self {
            AttemptFirstFactor::Password { .. } => Strategy::Password,
            AttemptFirstFactor::EmailCode { .. } => Strategy::EmailCode,
            AttemptFirstFactor::PhoneCode { .. } => Strategy::PhoneCode,
            AttemptFirstFactor::ResetPasswordEmailCode { .. } => Strategy::ResetPasswordEmailCode,
            AttemptFirstFactor::ResetPasswordPhoneCode { .. } => Strategy::ResetPasswordPhoneCode,
            AttemptFirstFactor::Web3 { wallet, .. } => Strategy::Web3(*wallet),
            AttemptFirstFactor::Passkey { .. } => Strategy::Passkey,
        }
    }

    fn form(&self) -> Form {
        let mut form = vec![("strategy", self.strategy().as_str().into_owned())];
        match self {
            AttemptFirstFactor::Password { password } => {
                form.push(("password", password.clone()));
            }
            AttemptFirstFactor::EmailCode { code } | AttemptFirstFactor::PhoneCode { code } => {
                form.push(("code", code.clone()));
            }
            AttemptFirstFactor::ResetPasswordEmailCode { code, password }
            | AttemptFirstFactor::ResetPasswordPhoneCode { code, password } => {
                form.push(("code", code.clone()));
                push(&mut form, "password", password);
            }
            AttemptFirstFactor::Web3 { signature, .. } => {
                form.push(("signature", signature.clone()));
            }
            AttemptFirstFactor::Passkey {
                public_key_credential,
            } => {
                form.push(("public_key_credential", public_key_credential.clone()));
            }
        }
        form
    }
}

/// Secrets stay out of logs.
impl fmt::Debug for AttemptFirstFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttemptFirstFactor")
            .field("strategy", &self.strategy())
            .finish_non_exhaustive()
    }
}

/// How to start a second-factor verification ([`SignIn::prepare_second_factor`]). TOTP and
/// backup codes need no preparation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrepareSecondFactor {
    /// A code by SMS; `None` uses the user's default second-factor number.
    PhoneCode {
        phone_number_id: Option<String>,
    },
    EmailCode {
        email_address_id: Option<String>,
    },
    EmailLink {
        email_address_id: Option<String>,
        redirect_url: String,
    },
    Passkey,
}

impl PrepareSecondFactor {
    pub fn strategy(&self) -> Strategy {
        match self {
            PrepareSecondFactor::PhoneCode { .. } => Strategy::PhoneCode,
            PrepareSecondFactor::EmailCode { .. } => Strategy::EmailCode,
            PrepareSecondFactor::EmailLink { .. } => Strategy::EmailLink,
            PrepareSecondFactor::Passkey => Strategy::Passkey,
        }
    }

    fn form(&self) -> Form {
        let mut form = vec![("strategy", self.strategy().as_str().into_owned())];
        match self {
            PrepareSecondFactor::PhoneCode { phone_number_id } => {
                push(&mut form, "phone_number_id", phone_number_id);
            }
            PrepareSecondFactor::EmailCode { email_address_id } => {
                push(&mut form, "email_address_id", email_address_id);
            }
            PrepareSecondFactor::EmailLink {
                email_address_id,
                redirect_url,
            } => {
                push(&mut form, "email_address_id", email_address_id);
                form.push(("redirect_url", redirect_url.clone()));
            }
            PrepareSecondFactor::Passkey => {}
        }
        form
    }
}

/// How to complete a second-factor verification ([`SignIn::attempt_second_factor`]).
#[derive(Clone, PartialEq, Eq)]
pub enum AttemptSecondFactor {
    /// The 6-digit code of the user's authenticator app.
    Totp {
        code: String,
    },
    BackupCode {
        code: String,
    },
    PhoneCode {
        code: String,
    },
    EmailCode {
        code: String,
    },
    Passkey {
        public_key_credential: String,
    },
}

impl AttemptSecondFactor {
    pub fn strategy(&self) -> Strategy {
        match self {
            AttemptSecondFactor::Totp { .. } => Strategy::Totp,
            AttemptSecondFactor::BackupCode { .. } => Strategy::BackupCode,
            AttemptSecondFactor::PhoneCode { .. } => Strategy::PhoneCode,
            AttemptSecondFactor::EmailCode { .. } => Strategy::EmailCode,
            AttemptSecondFactor::Passkey { .. } => Strategy::Passkey,
        }
    }

    fn form(&self) -> Form {
        let mut form = vec![("strategy", self.strategy().as_str().into_owned())];
        match self {
            AttemptSecondFactor::Totp { code }
            | AttemptSecondFactor::BackupCode { code }
            | AttemptSecondFactor::PhoneCode { code }
            | AttemptSecondFactor::EmailCode { code } => form.push(("code", code.clone())),
            AttemptSecondFactor::Passkey {
                public_key_credential,
            } => form.push(("public_key_credential", public_key_credential.clone())),
        }
        form
    }
}

/// Secrets stay out of logs.
impl fmt::Debug for AttemptSecondFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttemptSecondFactor")
            .field("strategy", &self.strategy())
            .finish_non_exhaustive()
    }
}

/// The new password for a sign-in in `needs_new_password` ([`SignIn::reset_password`]).
#[derive(Clone, PartialEq, Eq)]
pub struct ResetPasswordParams {
    pub password: String,
    /// Also end every other session of the user.
    pub sign_out_of_other_sessions: bool,
}

impl ResetPasswordParams {
    pub fn new(password: impl Into<String>) -> Self {
        ResetPasswordParams {
            password: password.into(),
            sign_out_of_other_sessions: false,
        }
    }

    fn form(&self) -> Form {
        vec![
            ("password", self.password.clone()),
            (
                "sign_out_of_other_sessions",
                self.sign_out_of_other_sessions.to_string(),
            ),
        ]
    }
}

/// Secrets stay out of logs.
impl fmt::Debug for ResetPasswordParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResetPasswordParams")
            .field(
                "sign_out_of_other_sessions",
                &self.sign_out_of_other_sessions,
            )
            .finish_non_exhaustive()
    }
}

/// Starts sign-ins and finds the one in progress; from [`Clerk::sign_in`].
#[derive(Debug, Clone)]
pub struct SignInBuilder {
    clerk: Clerk,
}

impl SignInBuilder {
    pub(crate) fn new(clerk: Clerk) -> SignInBuilder {
        SignInBuilder { clerk }
    }

    /// `POST /v1/client/sign_ins`: starts a sign-in (and completes it, given enough).
    pub async fn create(&self, params: SignInCreateParams) -> Result<SignIn, ClerkError> {
        let call = Call::new(Verb::Post, &["client", "sign_ins"]).form(params.form());
        let si: wire::SignIn = self.clerk.resource(call).await?;
        Ok(SignIn::from_wire(si, self.clerk.clone()))
    }

    /// The sign-in in progress on this client, as last seen (after `load` or any call).
    pub fn current(&self) -> Option<SignIn> {
        self.clerk
            .client()
            .and_then(|c| c.sign_in)
            .map(|si| SignIn::from_wire(si, self.clerk.clone()))
    }

    /// `GET /v1/client/sign_ins/{id}`.
    pub async fn get(&self, id: &str) -> Result<SignIn, ClerkError> {
        fetch(&self.clerk, id, None).await
    }
}

async fn fetch(clerk: &Clerk, id: &str, nonce: Option<&str>) -> Result<SignIn, ClerkError> {
    let path = ["client", "sign_ins", id];
    let mut call = Call::new(Verb::Get, &path);
    if let Some(n) = nonce {
        call = call.query("rotating_token_nonce", n);
    }
    let si: wire::SignIn = clerk.resource(call).await?;
    Ok(SignIn::from_wire(si, clerk.clone()))
}

/// One sign-in attempt, as the server last described it.
#[derive(Clone)]
pub struct SignIn {
    pub id: String,
    pub status: SignInStatus,
    /// Identifier kinds the instance accepts: `email_address`, `phone_number`, `username`, …
    pub supported_identifiers: Vec<String>,
    pub identifier: Option<String>,
    /// The first factors this user may verify, with the ids that preparing them needs.
    pub supported_first_factors: Vec<Factor>,
    /// The second factors, once the first factor is verified.
    pub supported_second_factors: Vec<Factor>,
    pub first_factor_verification: Option<Verification>,
    pub second_factor_verification: Option<Verification>,
    pub user_data: Option<UserData>,
    /// Set once `status` is [`SignInStatus::Complete`]: pass it to [`Clerk::set_active`].
    pub created_session_id: Option<String>,
    /// Unix milliseconds after which the server forgets an unfinished sign-in.
    pub abandon_at: i64,
    /// `new`, `known` or `pending` when the server checks this device.
    pub client_trust_state: Option<String>,
    clerk: Clerk,
}

impl fmt::Debug for SignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignIn")
            .field("id", &self.id)
            .field("status", &self.status)
            .field("supported_identifiers", &self.supported_identifiers)
            .field("identifier", &self.identifier)
            .field("supported_first_factors", &self.supported_first_factors)
            .field("supported_second_factors", &self.supported_second_factors)
            .field("first_factor_verification", &self.first_factor_verification)
            .field(
                "second_factor_verification",
                &self.second_factor_verification,
            )
            .field("user_data", &self.user_data)
            .field("created_session_id", &self.created_session_id)
            .field("abandon_at", &self.abandon_at)
            .field("client_trust_state", &self.client_trust_state)
            .finish()
    }
}

impl SignIn {
    pub(crate) fn from_wire(si: wire::SignIn, clerk: Clerk) -> SignIn {
        SignIn {
            status: SignInStatus::parse(&si.status),
            id: si.id,
            supported_identifiers: si.supported_identifiers,
            identifier: si.identifier,
            supported_first_factors: si.supported_first_factors.unwrap_or_default(),
            supported_second_factors: si.supported_second_factors.unwrap_or_default(),
            first_factor_verification: si.first_factor_verification,
            second_factor_verification: si.second_factor_verification,
            user_data: si.user_data,
            created_session_id: si.created_session_id,
            abandon_at: si.abandon_at,
            client_trust_state: si.client_trust_state,
            clerk,
        }
    }

    /// The client this sign-in belongs to.
    pub(crate) fn clerk(&self) -> &Clerk {
        &self.clerk
    }

    /// The offered first factor with this strategy, e.g. to read its `email_address_id`.
    pub fn first_factor(&self, strategy: &Strategy) -> Option<&Factor> {
        let name = strategy.as_str();
        self.supported_first_factors
            .iter()
            .find(|f| f.strategy == name)
    }

    /// The offered second factor with this strategy.
    pub fn second_factor(&self, strategy: &Strategy) -> Option<&Factor> {
        let name = strategy.as_str();
        self.supported_second_factors
            .iter()
            .find(|f| f.strategy == name)
    }

    /// The server's current view of this sign-in (`GET /v1/client/sign_ins/{id}`); poll it while
    /// an email link is out.
    pub async fn reload(&self) -> Result<SignIn, ClerkError> {
        fetch(&self.clerk, &self.id, None).await
    }

    /// As [`SignIn::reload`], with the nonce a native OAuth flow returns with.
    pub async fn reload_with_rotating_token_nonce(
        &self,
        nonce: &str,
    ) -> Result<SignIn, ClerkError> {
        fetch(&self.clerk, &self.id, Some(nonce)).await
    }

    async fn step(&self, action: &'static str, form: Form) -> Result<SignIn, ClerkError> {
        let path = ["client", "sign_ins", self.id.as_str(), action];
        let call = Call::new(Verb::Post, &path).form(form);
        let si: wire::SignIn = self.clerk.resource(call).await?;
        Ok(SignIn::from_wire(si, self.clerk.clone()))
    }

    /// Starts verifying a first factor: sends a code or link, or fetches what to sign.
    pub async fn prepare_first_factor(
        &self,
        params: PrepareFirstFactor,
    ) -> Result<SignIn, ClerkError> {
        self.step("prepare_first_factor", params.form()).await
    }

    /// Verifies a first factor. A password needs no preparation.
    pub async fn attempt_first_factor(
        &self,
        params: AttemptFirstFactor,
    ) -> Result<SignIn, ClerkError> {
        self.step("attempt_first_factor", params.form()).await
    }

    /// Starts verifying a second factor.
    pub async fn prepare_second_factor(
        &self,
        params: PrepareSecondFactor,
    ) -> Result<SignIn, ClerkError> {
        self.step("prepare_second_factor", params.form()).await
    }

    /// Verifies a second factor.
    pub async fn attempt_second_factor(
        &self,
        params: AttemptSecondFactor,
    ) -> Result<SignIn, ClerkError> {
        self.step("attempt_second_factor", params.form()).await
    }

    /// Sets a new password when the sign-in asks for one (`needs_new_password`).
    pub async fn reset_password(&self, params: ResetPasswordParams) -> Result<SignIn, ClerkError> {
        self.step("reset_password", params.form()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(form: &Form) -> Vec<&str> {
        form.iter().map(|(k, _)| *k).collect()
    }

    #[test]
    fn statuses_parse_and_keep_unknown_ones() {
        for s in [
            "needs_identifier",
            "needs_first_factor",
            "needs_second_factor",
            "needs_client_trust",
            "needs_new_password",
            "complete",
        ] {
            let parsed = SignInStatus::parse(s);
            assert!(!matches!(parsed, SignInStatus::Unknown(_)), "{s}");
            assert_eq!(parsed.as_str(), s);
        }
        assert_eq!(
            SignInStatus::parse("needs_protect_check"),
            SignInStatus::Unknown("needs_protect_check".into())
        );
    }

    #[test]
    fn create_params_encode_as_clerk_js_does() {
        let p = SignInCreateParams::password("a@example.com", "pw");
        assert_eq!(
            p.form(),
            vec![
                ("identifier", "a@example.com".to_owned()),
                ("strategy", "password".to_owned()),
                ("password", "pw".to_owned()),
            ]
        );
        assert_eq!(
            keys(&SignInCreateParams::identifier("a").form()),
            ["identifier"]
        );
        let transfer = SignInCreateParams::transfer().form();
        assert_eq!(transfer, vec![("transfer", "true".to_owned())]);
        let oauth = SignInCreateParams::oauth("google", "app://cb", "app://done").form();
        assert_eq!(
            oauth,
            vec![
                ("strategy", "oauth_google".to_owned()),
                ("redirect_url", "app://cb".to_owned()),
                ("action_complete_redirect_url", "app://done".to_owned()),
            ]
        );
    }

    #[test]
    fn factor_params_carry_their_strategy_and_fields() {
        let prep = PrepareFirstFactor::PhoneCode {
            phone_number_id: "idn_1".into(),
            default: Some(true),
            channel: None,
        };
        assert_eq!(
            prep.form(),
            vec![
                ("strategy", "phone_code".to_owned()),
                ("phone_number_id", "idn_1".to_owned()),
                ("default", "true".to_owned()),
            ]
        );
        let web3 = AttemptFirstFactor::Web3 {
            wallet: Web3Wallet::Metamask,
            signature: "0xsig".into(),
        };
        assert_eq!(
            web3.form(),
            vec![
                ("strategy", "web3_metamask_signature".to_owned()),
                ("signature", "0xsig".to_owned()),
            ]
        );
        let reset = AttemptFirstFactor::ResetPasswordEmailCode {
            code: "123456".into(),
            password: Some("new".into()),
        };
        assert_eq!(
            keys(&reset.form()),
            ["strategy", "code", "password"],
            "the reset code and the new password travel together"
        );
        assert_eq!(
            PrepareSecondFactor::PhoneCode {
                phone_number_id: None
            }
            .form(),
            vec![("strategy", "phone_code".to_owned())]
        );
        assert_eq!(
            AttemptSecondFactor::Totp {
                code: "000000".into()
            }
            .form(),
            vec![
                ("strategy", "totp".to_owned()),
                ("code", "000000".to_owned())
            ]
        );
        assert_eq!(
            ResetPasswordParams::new("pw").form(),
            vec![
                ("password", "pw".to_owned()),
                ("sign_out_of_other_sessions", "false".to_owned())
            ]
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let text = format!(
            "{:?} {:?} {:?} {:?}",
            SignInCreateParams::password("a@example.com", "hunter2"),
            AttemptFirstFactor::Password {
                password: "hunter2".into()
            },
            AttemptSecondFactor::Totp {
                code: "hunter2".into()
            },
            ResetPasswordParams::new("hunter2"),
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("a@example.com"));
    }

    #[test]
    fn decodes_a_sign_in_as_clerk_sends_it() {
        // Real FAPI output has fields the wire types do not name; they are ignored.
        let envelope: wire::Envelope<wire::SignIn> = serde_json::from_str(
            r#"{"response":{"object":"sign_in","id":"sia_1","status":"needs_first_factor",
                "supported_identifiers":["email_address","passkey"],"identifier":"a@example.com",
                "supported_first_factors":[{"strategy":"password"},
                    {"strategy":"email_code","safe_identifier":"a***@example.com","email_address_id":"idn_1","primary":true}],
                "supported_second_factors":null,
                "first_factor_verification":null,"second_factor_verification":null,
                "user_data":{"first_name":"Ada","last_name":null,"image_url":"","has_image":false},
                "created_session_id":null,"abandon_at":1700000000000,
                "protect_check":null,"timezone":null},
              "client":null}"#,
        )
        .expect("decodes");
        let clerk = Clerk::new("https://clerk.example.com").expect("clerk");
        let si = SignIn::from_wire(envelope.response, clerk);
        assert_eq!(si.status, SignInStatus::NeedsFirstFactor);
        assert!(si.supported_second_factors.is_empty());
        let email = si.first_factor(&Strategy::EmailCode).expect("email factor");
        assert_eq!(email.email_address_id.as_deref(), Some("idn_1"));
        assert!(si.first_factor(&Strategy::PhoneCode).is_none());
        assert_eq!(
            si.user_data.and_then(|u| u.first_name).as_deref(),
            Some("Ada")
        );
    }
}
