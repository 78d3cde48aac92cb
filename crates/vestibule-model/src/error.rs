//! The one error type. Each variant knows its Clerk code, HTTP status and `meta`, so every layer
//! reports failures the way clerk-js expects: 422 for form errors, 400 malformed, 404 unknown ids,
//! 403 locked or banned, 429 limits, 401 only for authentication (clerk-js signs out on 401).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    // --- malformed requests (400)
    #[error("malformed request: {reason}")]
    MalformedRequest { reason: String },
    #[error("unsupported content type")]
    UnsupportedContentType,
    #[error("request body larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("method not allowed")]
    MethodNotAllowed,

    // --- form errors (422)
    #[error("missing parameter {param}")]
    ParamMissing { param: String },
    #[error("parameter {param} {reason}")]
    ParamFormatInvalid { param: String, reason: String },
    #[error("unknown parameter {param}")]
    ParamUnknown { param: String },
    #[error("invalid value for {param}: {reason}")]
    ParamValueInvalid { param: String, reason: String },
    #[error("identifier not found")]
    IdentifierNotFound,
    #[error("identifier already taken: {param}")]
    IdentifierExists { param: String },
    #[error("password incorrect")]
    PasswordIncorrect,
    #[error("password shorter than {min}")]
    PasswordTooShort { min: usize },
    #[error("password longer than {max}")]
    PasswordTooLong { max: usize },
    #[error("password found in a breach list")]
    PasswordPwned,
    #[error("password lacks {0:?}")]
    PasswordRuleNotMet(PasswordRule),
    #[error("password digest invalid: {reason}")]
    PasswordDigestInvalid { reason: String },
    #[error("strategy not valid for this user")]
    StrategyForUserInvalid,
    #[error("code incorrect")]
    CodeIncorrect,
    #[error("verification expired")]
    VerificationExpired,
    #[error("verification failed: too many attempts")]
    VerificationFailed,
    #[error("verification already verified")]
    VerificationAlreadyVerified,
    #[error("verification not prepared")]
    VerificationMissing,
    /// A sign-in token presented as a ticket that cannot be used, and why.
    #[error("ticket refused: {0:?}")]
    TicketRefused(TicketRefusal),
    /// An identity provider vouched for someone no account here belongs to.
    #[error("no account for this external account")]
    ExternalAccountNotFound,

    // --- state
    #[error("{what} not found")]
    ResourceNotFound { what: String, id: Option<String> },
    #[error("not allowed: {reason}")]
    ResourceForbidden { reason: String },
    #[error("sign-in cannot do that now: {reason}")]
    ClientStateInvalid { reason: String },
    #[error("single-session mode: already signed in")]
    SessionExists,
    #[error("identifier already signed in")]
    IdentifierAlreadySignedIn { session_id: String },

    // --- authentication and account state
    #[error("authentication invalid: {reason}")]
    AuthenticationInvalid { reason: String },
    #[error("secret key invalid")]
    ClerkKeyInvalid,
    #[error("dev browser unauthenticated")]
    DevBrowserUnauthenticated,
    #[error("signed out")]
    SignedOut,
    #[error("origin not allowed")]
    OriginInvalid,
    #[error("no client in request")]
    ClientNotFound,
    #[error("user locked")]
    UserLocked { expires_in_seconds: Option<i64> },
    #[error("user banned")]
    UserBanned,
    /// A sensitive change needs a factor verified within the reverification window.
    #[error("reverification required")]
    SessionReverificationRequired,

    // --- second factors
    #[error("an authenticator app is already enabled")]
    TotpAlreadyEnabled,
    #[error("no authenticator app enabled")]
    TotpDisabled,
    /// The Backend API's answer to a wrong TOTP code (the Frontend API uses `CodeIncorrect`).
    #[error("TOTP code incorrect")]
    TotpIncorrectCode,
    #[error("backup codes need another second factor")]
    BackupCodesNotAvailable,
    #[error("the last second factor cannot be removed")]
    SecondFactorDeletionNotAllowed,
    /// Only a verified phone number can be kept for second factors.
    #[error("unverified identification for second factor")]
    SecondFactorIdentificationUnverified,
    /// Keeping this phone for second factors would leave nothing to sign in with.
    #[error("last identification as second factor")]
    LastIdentificationForSecondFactor,
    #[error("last identification")]
    LastIdentificationDeletionFailed,
    /// The primary email address or phone number goes only once another one is primary.
    #[error("primary identification")]
    PrimaryIdentificationDeletionFailed,

    // --- the user's own account
    #[error("new password matches the current one")]
    NewPasswordMatchesCurrent,
    /// Removing the password would leave the user no way to sign in.
    #[error("the password is the only way to sign in")]
    PasswordRemovalFailed,
    /// A form error about a parameter other than the one the error usually names (the
    /// `current_password` of a password change, rather than a sign-in's `password`).
    #[error("{param}: {error}")]
    AtParam { param: String, error: Box<Error> },

    // --- session reverification
    #[error("no session verification started")]
    SessionReverificationMissing,
    /// A step that the session verification does not await now.
    #[error("invalid action for session reverification")]
    InvalidActionForSessionReverification { action: String, resolution: String },

    // --- limits and failures
    #[error("too many requests")]
    TooManyRequests { retry_after_seconds: u64 },
    #[error("internal error")]
    Internal { detail: String },
    #[error("service unavailable")]
    Unavailable { detail: String },
}

/// Why a ticket is refused, each with Clerk's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketRefusal {
    /// Not a ticket this instance issued, or its account is gone.
    Invalid,
    Expired,
    Revoked,
    AlreadyUsed,
}

impl TicketRefusal {
    pub fn code(self) -> &'static str {
        match self {
            TicketRefusal::Invalid => "ticket_invalid_code",
            TicketRefusal::Expired => "ticket_expired_code",
            TicketRefusal::Revoked => "sign_in_token_revoked_code",
            TicketRefusal::AlreadyUsed => "sign_in_token_already_used_code",
        }
    }

    fn message(self) -> &'static str {
        match self {
            TicketRefusal::Invalid => "ticket is invalid",
            TicketRefusal::Expired => "ticket has expired",
            TicketRefusal::Revoked => "sign in token has been revoked",
            TicketRefusal::AlreadyUsed => "sign in token has already been used",
        }
    }

    fn long_message(self) -> &'static str {
        match self {
            TicketRefusal::Invalid => {
                "This ticket is invalid. Make sure you're using a valid ticket generated by this instance."
            }
            TicketRefusal::Expired => "This ticket has expired and cannot be used anymore.",
            TicketRefusal::Revoked => {
                "This sign in token has been revoked and cannot be used anymore."
            }
            TicketRefusal::AlreadyUsed => {
                "This sign in token has already been used. Each token can only be used once."
            }
        }
    }
}

/// A password rule the policy can require, each with Clerk's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordRule {
    Uppercase,
    Lowercase,
    Number,
    SpecialChar,
}

impl PasswordRule {
    pub fn code(self) -> &'static str {
        match self {
            PasswordRule::Uppercase => "form_password_no_uppercase",
            PasswordRule::Lowercase => "form_password_no_lowercase",
            PasswordRule::Number => "form_password_no_number",
            PasswordRule::SpecialChar => "form_password_no_special_char",
        }
    }
    pub fn message(self) -> &'static str {
        match self {
            PasswordRule::Uppercase => "Passwords must contain at least one uppercase character.",
            PasswordRule::Lowercase => "Passwords must contain at least one lowercase character.",
            PasswordRule::Number => "Passwords must contain at least one number.",
            PasswordRule::SpecialChar => "Passwords must contain at least one special character.",
        }
    }
}

/// The `meta` object of Clerk's error envelope. Only set fields are serialised.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ErrorMeta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lockout_expires_in_seconds: Option<i64>,
}

impl Error {
    pub fn malformed(reason: impl Into<String>) -> Self {
        Error::MalformedRequest {
            reason: reason.into(),
        }
    }
    pub fn param_missing(param: impl Into<String>) -> Self {
        Error::ParamMissing {
            param: param.into(),
        }
    }
    pub fn param_format_invalid(param: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::ParamFormatInvalid {
            param: param.into(),
            reason: reason.into(),
        }
    }
    pub fn param_unknown(param: impl Into<String>) -> Self {
        Error::ParamUnknown {
            param: param.into(),
        }
    }
    pub fn param_value_invalid(param: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::ParamValueInvalid {
            param: param.into(),
            reason: reason.into(),
        }
    }
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::ResourceNotFound {
            what: what.into(),
            id: None,
        }
    }
    pub fn not_found_id(what: impl Into<String>, id: impl Into<String>) -> Self {
        Error::ResourceNotFound {
            what: what.into(),
            id: Some(id.into()),
        }
    }
    pub fn internal(detail: impl Into<String>) -> Self {
        Error::Internal {
            detail: detail.into(),
        }
    }
    pub fn client_state(reason: impl Into<String>) -> Self {
        Error::ClientStateInvalid {
            reason: reason.into(),
        }
    }

    /// The same error, about `param`. Only form errors name a parameter; others stay as they are.
    pub fn at_param(self, param: &str) -> Self {
        if self.status() != 422 || matches!(self, Error::AtParam { .. }) {
            return self;
        }
        Error::AtParam {
            param: param.into(),
            error: Box::new(self),
        }
    }

    /// A write conditional on the version read found another request had changed `what` first
    /// (`"sign-in"`, `"verification"`): nothing of this request took effect.
    pub fn changed_elsewhere(what: &str) -> Self {
        Error::client_state(format!("this {what} was changed by another request"))
    }

    /// Clerk's stable, greppable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::MalformedRequest { .. } => "malformed_request_parameters",
            Error::UnsupportedContentType => "unsupported_content_type",
            Error::BodyTooLarge { .. } => "request_body_too_large",
            Error::MethodNotAllowed => "method_not_allowed",
            Error::ParamMissing { .. } => "form_param_missing",
            Error::ParamFormatInvalid { .. } => "form_param_format_invalid",
            Error::ParamUnknown { .. } => "form_param_unknown",
            Error::ParamValueInvalid { .. } => "form_param_value_invalid",
            Error::IdentifierNotFound => "form_identifier_not_found",
            Error::IdentifierExists { .. } => "form_identifier_exists",
            Error::PasswordIncorrect => "form_password_incorrect",
            Error::PasswordTooShort { .. } => "form_password_length_too_short",
            Error::PasswordTooLong { .. } => "form_password_length_too_long",
            Error::PasswordPwned => "form_password_pwned",
            Error::PasswordRuleNotMet(rule) => rule.code(),
            Error::PasswordDigestInvalid { .. } => "form_password_digest_invalid_code",
            Error::StrategyForUserInvalid => "strategy_for_user_invalid",
            Error::CodeIncorrect => "form_code_incorrect",
            Error::VerificationExpired => "verification_expired",
            Error::VerificationFailed => "verification_failed",
            Error::VerificationAlreadyVerified => "verification_already_verified",
            Error::TicketRefused(why) => why.code(),
            Error::ExternalAccountNotFound => "external_account_not_found",
            Error::VerificationMissing => "verification_missing",
            Error::ResourceNotFound { .. } => "resource_not_found",
            Error::ResourceForbidden { .. } => "resource_forbidden",
            Error::ClientStateInvalid { .. } => "client_state_invalid",
            Error::SessionExists => "session_exists",
            Error::IdentifierAlreadySignedIn { .. } => "identifier_already_signed_in",
            Error::AuthenticationInvalid { .. } => "authentication_invalid",
            Error::ClerkKeyInvalid => "clerk_key_invalid",
            Error::DevBrowserUnauthenticated => "dev_browser_unauthenticated",
            Error::SignedOut => "signed_out",
            Error::OriginInvalid => "origin_invalid",
            Error::ClientNotFound => "client_not_found",
            Error::UserLocked { .. } => "user_locked",
            Error::UserBanned => "user_banned",
            Error::SessionReverificationRequired => "session_reverification_required",
            Error::TotpAlreadyEnabled => "totp_already_enabled",
            Error::TotpDisabled => "totp_disabled",
            Error::TotpIncorrectCode => "totp_incorrect_code",
            Error::BackupCodesNotAvailable => "backup_codes_not_available",
            Error::SecondFactorDeletionNotAllowed => "second_factor_deletion_not_allowed",
            Error::SecondFactorIdentificationUnverified => {
                "identification_update_second_factor_unverified"
            }
            Error::LastIdentificationForSecondFactor => "identification_update_failed",
            Error::LastIdentificationDeletionFailed
            | Error::PrimaryIdentificationDeletionFailed => "identification_deletion_failed",
            Error::NewPasswordMatchesCurrent => "form_new_password_matches_current",
            Error::PasswordRemovalFailed => "form_password_removal_not_allowed",
            Error::AtParam { error, .. } => error.code(),
            Error::SessionReverificationMissing => "session_reverification_missing",
            Error::InvalidActionForSessionReverification { .. } => {
                "invalid_action_for_session_reverification"
            }
            Error::TooManyRequests { .. } => "too_many_requests",
            Error::Internal { .. } => "internal_clerk_error",
            Error::Unavailable { .. } => "service_unavailable",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Error::MalformedRequest { .. }
            | Error::ClientStateInvalid { .. }
            | Error::ClientNotFound
            | Error::StrategyForUserInvalid
            | Error::VerificationExpired
            | Error::VerificationFailed
            | Error::VerificationAlreadyVerified
            | Error::VerificationMissing
            | Error::TicketRefused(_)
            | Error::SessionExists
            | Error::IdentifierAlreadySignedIn { .. }
            | Error::TotpAlreadyEnabled
            | Error::TotpDisabled
            | Error::BackupCodesNotAvailable
            | Error::SecondFactorDeletionNotAllowed
            | Error::SecondFactorIdentificationUnverified
            | Error::LastIdentificationForSecondFactor
            | Error::LastIdentificationDeletionFailed
            | Error::PrimaryIdentificationDeletionFailed
            | Error::SessionReverificationMissing
            | Error::InvalidActionForSessionReverification { .. } => 400,
            Error::BodyTooLarge { .. } => 413,
            Error::UnsupportedContentType => 415,
            Error::MethodNotAllowed => 405,
            Error::ParamMissing { .. }
            | Error::ParamFormatInvalid { .. }
            | Error::ParamUnknown { .. }
            | Error::ParamValueInvalid { .. }
            | Error::IdentifierNotFound
            | Error::ExternalAccountNotFound
            | Error::IdentifierExists { .. }
            | Error::PasswordIncorrect
            | Error::PasswordTooShort { .. }
            | Error::PasswordTooLong { .. }
            | Error::PasswordPwned
            | Error::PasswordRuleNotMet(_)
            | Error::PasswordDigestInvalid { .. }
            | Error::CodeIncorrect
            | Error::TotpIncorrectCode
            | Error::NewPasswordMatchesCurrent
            | Error::PasswordRemovalFailed => 422,
            Error::AtParam { error, .. } => error.status(),
            Error::ResourceNotFound { .. } => 404,
            Error::ResourceForbidden { .. }
            | Error::UserLocked { .. }
            | Error::UserBanned
            | Error::OriginInvalid
            | Error::SessionReverificationRequired => 403,
            Error::AuthenticationInvalid { .. }
            | Error::ClerkKeyInvalid
            | Error::DevBrowserUnauthenticated
            | Error::SignedOut => 401,
            Error::TooManyRequests { .. } => 429,
            Error::Internal { .. } => 500,
            Error::Unavailable { .. } => 503,
        }
    }

    /// Short message, shown by Clerk's UI components.
    pub fn message(&self) -> String {
        match self {
            Error::MalformedRequest { .. } => "Malformed request parameters".into(),
            Error::UnsupportedContentType => "Content-Type is unsupported".into(),
            Error::BodyTooLarge { .. } => "Request body too large".into(),
            Error::MethodNotAllowed => "Method not allowed".into(),
            Error::ParamMissing { .. } => "is missing".into(),
            Error::ParamFormatInvalid { .. } | Error::ParamValueInvalid { .. } => "is invalid".into(),
            Error::ParamUnknown { .. } => "is unknown".into(),
            Error::IdentifierNotFound => "Couldn't find your account.".into(),
            Error::IdentifierExists { param } => format!("That {} is taken. Please try another.", human(param).to_lowercase()),
            Error::PasswordIncorrect => "Password is incorrect. Try again, or use another method.".into(),
            Error::PasswordTooShort { min } => format!("Passwords must be {min} characters or more."),
            Error::PasswordTooLong { max } => format!("Passwords must be less than {max} characters."),
            Error::PasswordPwned => "Password has been found in an online data breach. For account safety, please use a different password.".into(),
            Error::PasswordRuleNotMet(rule) => rule.message().into(),
            Error::PasswordDigestInvalid { .. } => "Invalid password digest".into(),
            Error::StrategyForUserInvalid => "Invalid verification strategy".into(),
            Error::CodeIncorrect => "is incorrect".into(),
            Error::VerificationExpired => "expired".into(),
            Error::VerificationFailed => "failed".into(),
            Error::VerificationAlreadyVerified => "already verified".into(),
            Error::VerificationMissing => "is missing".into(),
            Error::TicketRefused(why) => why.message().into(),
            Error::ExternalAccountNotFound => "Couldn't find your account.".into(),
            Error::ResourceNotFound { .. } => "not found".into(),
            Error::ResourceForbidden { .. } => "forbidden".into(),
            Error::ClientStateInvalid { .. } => "Invalid action".into(),
            Error::SessionExists => "Session already exists".into(),
            Error::IdentifierAlreadySignedIn { .. } => "You're already signed in".into(),
            Error::AuthenticationInvalid { .. } => "Invalid authentication".into(),
            Error::ClerkKeyInvalid => "The provided Clerk Secret Key is invalid".into(),
            Error::DevBrowserUnauthenticated => "Browser unauthenticated".into(),
            Error::SignedOut => "Signed out".into(),
            Error::OriginInvalid => "Invalid origin".into(),
            Error::ClientNotFound => "No client found".into(),
            Error::UserLocked { .. } => "Account locked".into(),
            Error::UserBanned => "Account banned".into(),
            Error::SessionReverificationRequired => "Reverification required".into(),
            Error::TotpAlreadyEnabled => "TOTP already enabled".into(),
            Error::TotpDisabled => "TOTP is disabled".into(),
            Error::TotpIncorrectCode => "Incorrect TOTP code".into(),
            Error::BackupCodesNotAvailable => "Backup codes not available".into(),
            Error::SecondFactorDeletionNotAllowed => "Second factor deletion not allowed".into(),
            Error::SecondFactorIdentificationUnverified | Error::LastIdentificationForSecondFactor => "Update failed".into(),
            Error::LastIdentificationDeletionFailed
            | Error::PrimaryIdentificationDeletionFailed => "Deletion failed".into(),
            Error::NewPasswordMatchesCurrent => "New password cannot be the same as the current password.".into(),
            Error::PasswordRemovalFailed => "Password cannot be removed".into(),
            Error::AtParam { error, .. } => error.message(),
            Error::SessionReverificationMissing => "is missing".into(),
            Error::InvalidActionForSessionReverification { .. } => "Invalid action for session reverification".into(),
            Error::TooManyRequests { .. } => "Too many requests".into(),
            Error::Internal { .. } => "Oops, an unexpected error occurred".into(),
            Error::Unavailable { .. } => "Service unavailable".into(),
        }
    }

    /// Longer message; clerk-js raises it as the error's text.
    pub fn long_message(&self) -> String {
        match self {
            Error::MalformedRequest { reason } => format!("The request parameters are malformed and could not be parsed: {reason}."),
            Error::UnsupportedContentType => {
                "Content-Type is unsupported. You should use application/x-www-form-urlencoded or application/json instead.".into()
            }
            Error::BodyTooLarge { limit } => format!("The request body exceeds the maximum allowed size of {limit} bytes."),
            Error::MethodNotAllowed => "This endpoint does not support that HTTP method.".into(),
            Error::ParamMissing { param } => format!("{param} must be included."),
            Error::ParamFormatInvalid { param, reason } => format!("{param} {reason}."),
            Error::ParamUnknown { param } => format!("{param} is not a valid parameter for this request."),
            Error::ParamValueInvalid { param, reason } => format!("{param} {reason}."),
            Error::IdentifierExists { .. } => "That identifier is taken. Please try another.".into(),

            Error::PasswordDigestInvalid { reason } => format!("The password digest is invalid: {reason}."),
            Error::StrategyForUserInvalid => "The verification strategy is not valid for this account".into(),
            Error::CodeIncorrect => "Incorrect code".into(),
            Error::VerificationExpired => "This verification has expired. You must create a new one.".into(),
            Error::VerificationFailed => "Too many failed attempts. You have to try again with the same or another method.".into(),
            Error::VerificationAlreadyVerified => "This verification has already been verified.".into(),
            Error::VerificationMissing => "This strategy requires verification preparation before attempting to validate it.".into(),
            Error::TicketRefused(why) => why.long_message().into(),
            Error::ExternalAccountNotFound => {
                "No account here belongs to this external account or its verified email address.".into()
            }
            Error::ResourceNotFound { what, id: Some(id) } => format!("No {what} was found with id {id}"),
            Error::ResourceNotFound { what, id: None } => format!("No {what} was found."),
            Error::ResourceForbidden { reason } => reason.clone(),
            Error::ClientStateInvalid { reason } => format!("We were unable to complete this action for this Client: {reason}."),
            Error::SessionExists => "You're currently in single session mode. You can only be signed into one account at a time.".into(),
            Error::IdentifierAlreadySignedIn { .. } => "You're already signed in with this account.".into(),
            Error::AuthenticationInvalid { reason } => format!("Invalid authentication: {reason}."),
            Error::ClerkKeyInvalid => "The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct.".into(),
            Error::DevBrowserUnauthenticated => "The dev browser token is missing or invalid.".into(),
            Error::SignedOut => "You are signed out".into(),
            Error::OriginInvalid => "This origin is not allowed to use this instance's Frontend API.".into(),
            Error::ClientNotFound => "This request is expecting a client and did not find one".into(),
            Error::UserLocked {
                expires_in_seconds: Some(s),
            } => format!(
                "Your account is locked. You will be able to try again in {}. For more information, please contact support.",
                human_duration(*s)
            ),
            Error::UserLocked { expires_in_seconds: None } => "Your account is locked. Please contact support for more information.".into(),
            Error::UserBanned => "You have been banned. If you think this was by mistake, please contact support.".into(),
            Error::SessionReverificationRequired => "You need to provide additional verification to perform this operation".into(),
            Error::TotpAlreadyEnabled => "You already have an authenticator app set up. Remove it before adding another.".into(),
            Error::TotpDisabled => "This user has no authenticator app (TOTP) enabled.".into(),
            Error::TotpIncorrectCode => "The provided TOTP code is incorrect".into(),
            Error::BackupCodesNotAvailable => "In order to use backup codes, you have to enable any other Multi-factor method".into(),
            Error::SecondFactorDeletionNotAllowed => "You are required to maintain at least one two-step verification method on your account.".into(),
            Error::SecondFactorIdentificationUnverified => "Cannot update second factor attributes for unverified identification".into(),
            Error::LastIdentificationForSecondFactor => "You cannot set your last identification as second factor.".into(),
            Error::LastIdentificationDeletionFailed => "You cannot delete your last identification.".into(),
            Error::PrimaryIdentificationDeletionFailed => "You cannot delete your primary identification. Make another one primary first.".into(),
            Error::PasswordRemovalFailed => "You cannot remove your password: it is the only way you can sign in.".into(),
            Error::AtParam { error, .. } => error.long_message(),
            Error::SessionReverificationMissing => "You need to start a new session verification flow first".into(),
            Error::InvalidActionForSessionReverification { action, resolution } => format!("We were unable to {action} for this session, as it's not ready for {resolution}."),
            Error::TooManyRequests { retry_after_seconds } => format!("Too many requests. Please try again in {retry_after_seconds} seconds."),
            Error::Internal { .. } => {
                "There was an internal error on our servers. Please try again.".into()
            }
            Error::Unavailable { .. } => "The service is temporarily unavailable. Please try again.".into(),
            _ => self.message(),
        }
    }

    pub fn meta(&self) -> ErrorMeta {
        let mut meta = ErrorMeta::default();
        match self {
            Error::ParamMissing { param }
            | Error::ParamFormatInvalid { param, .. }
            | Error::ParamUnknown { param }
            | Error::ParamValueInvalid { param, .. }
            | Error::IdentifierExists { param } => meta.param_name = Some(param.clone()),
            Error::IdentifierNotFound => meta.param_name = Some("identifier".into()),
            Error::PasswordIncorrect
            | Error::PasswordTooShort { .. }
            | Error::PasswordTooLong { .. }
            | Error::PasswordPwned
            | Error::PasswordRuleNotMet(_) => meta.param_name = Some("password".into()),
            Error::StrategyForUserInvalid => meta.param_name = Some("strategy".into()),
            Error::TicketRefused(_) => meta.param_name = Some("ticket".into()),
            Error::PasswordDigestInvalid { .. } => meta.param_name = Some("password_digest".into()),
            Error::CodeIncorrect | Error::TotpIncorrectCode => {
                meta.param_name = Some("code".into())
            }
            Error::IdentifierAlreadySignedIn { session_id } => {
                meta.session_id = Some(session_id.clone())
            }
            Error::UserLocked { expires_in_seconds } => {
                meta.lockout_expires_in_seconds = *expires_in_seconds
            }
            Error::NewPasswordMatchesCurrent => meta.param_name = Some("new_password".into()),
            Error::PasswordRemovalFailed => meta.param_name = Some("password".into()),
            Error::AtParam { param, error } => {
                meta = error.meta();
                meta.param_name = Some(param.clone());
            }
            _ => {}
        }
        meta
    }

    /// Seconds for a `Retry-After` header, where one applies.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            Error::TooManyRequests {
                retry_after_seconds,
            } => Some(*retry_after_seconds),
            Error::AtParam { error, .. } => error.retry_after_seconds(),
            _ => None,
        }
    }
}

fn human(param: &str) -> String {
    let spaced = param.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

fn human_duration(seconds: i64) -> String {
    if seconds >= 3600 {
        let h = (seconds + 3599) / 3600;
        format!("{h} hour{}", if h == 1 { "" } else { "s" })
    } else if seconds >= 60 {
        let m = (seconds + 59) / 60;
        format!("{m} minute{}", if m == 1 { "" } else { "s" })
    } else {
        format!("{seconds} second{}", if seconds == 1 { "" } else { "s" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_errors_are_422_with_param_name() {
        let e = Error::PasswordIncorrect;
        assert_eq!((e.status(), e.code()), (422, "form_password_incorrect"));
        assert_eq!(e.meta().param_name.as_deref(), Some("password"));
        let e = Error::param_missing("identifier");
        assert_eq!((e.status(), e.code()), (422, "form_param_missing"));
        assert_eq!(e.long_message(), "identifier must be included.");
    }

    #[test]
    fn wrong_password_is_never_401() {
        for e in [
            Error::PasswordIncorrect,
            Error::IdentifierNotFound,
            Error::StrategyForUserInvalid,
        ] {
            assert_ne!(e.status(), 401);
        }
    }

    #[test]
    fn lock_carries_remaining_seconds() {
        let e = Error::UserLocked {
            expires_in_seconds: Some(1800),
        };
        assert_eq!(e.status(), 403);
        assert_eq!(e.meta().lockout_expires_in_seconds, Some(1800));
        assert!(e.long_message().contains("30 minutes"));
    }

    #[test]
    fn retry_after_only_on_limits() {
        assert_eq!(
            Error::TooManyRequests {
                retry_after_seconds: 7
            }
            .retry_after_seconds(),
            Some(7)
        );
        assert_eq!(Error::PasswordIncorrect.retry_after_seconds(), None);
    }

    #[test]
    fn a_form_error_can_name_another_parameter() {
        let e = Error::PasswordIncorrect.at_param("current_password");
        assert_eq!((e.status(), e.code()), (422, "form_password_incorrect"));
        assert_eq!(e.meta().param_name.as_deref(), Some("current_password"));
        assert_eq!(e.long_message(), Error::PasswordIncorrect.long_message());
        // Not a form error: nothing to name.
        let locked = Error::UserLocked {
            expires_in_seconds: Some(60),
        };
        assert_eq!(locked.clone().at_param("current_password"), locked);
    }
}
