//! `GET|PATCH /v1/environment`: the instance's settings as clerk-js reads them.
//!
//! clerk-js replaces each absent sub-object of `user_settings` with its own defaults wholesale,
//! so every attribute the instance supports is always sent. Reading is lenient: anything absent
//! takes its default.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Environment {
    pub object: String,
    pub id: String,
    pub auth_config: AuthConfig,
    pub display_config: DisplayConfig,
    pub user_settings: UserSettings,
    pub organization_settings: Value,
    pub maintenance_mode: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    pub object: String,
    pub id: String,
    pub single_session_mode: bool,
    pub claimed_at: Option<i64>,
    pub reverification: bool,
    /// Must stay false: true changes how clerk-js asks for tokens.
    pub session_minter: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DisplayConfig {
    pub object: String,
    pub id: String,
    /// `development` or `production`; drives `environment.isProduction()` in clerk-js.
    pub instance_environment_type: String,
    pub application_name: String,
    pub branded: bool,
    pub captcha_provider: String,
    pub captcha_public_key: Option<String>,
    pub captcha_widget_type: Option<String>,
    pub captcha_public_key_invisible: Option<String>,
    pub captcha_oauth_bypass: Vec<String>,
    pub captcha_heartbeat: bool,
    /// The Google OAuth client id `<GoogleOneTap/>` prompts with; `null` when One Tap is off.
    #[serde(default)]
    pub google_one_tap_client_id: Option<String>,
    pub home_url: String,
    pub sign_in_url: String,
    pub sign_up_url: String,
    pub user_profile_url: String,
    pub after_sign_in_url: String,
    pub after_sign_up_url: String,
    pub after_sign_out_one_url: String,
    pub after_sign_out_all_url: String,
    pub after_switch_session_url: String,
    pub preferred_sign_in_strategy: String,
    pub logo_image_url: String,
    pub favicon_image_url: String,
    pub support_email: Option<String>,
    pub theme: Value,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UserSettings {
    pub attributes: BTreeMap<String, Attribute>,
    pub social: BTreeMap<String, Value>,
    pub sign_in: Value,
    pub sign_up: Value,
    pub password_settings: PasswordSettings,
    pub actions: Value,
    pub attack_protection: Value,
    pub passkey_settings: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Attribute {
    pub enabled: bool,
    pub required: bool,
    pub used_for_first_factor: bool,
    pub first_factors: Vec<String>,
    pub used_for_second_factor: bool,
    pub second_factors: Vec<String>,
    pub verifications: Vec<String>,
    pub verify_at_sign_up: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PasswordSettings {
    pub min_length: usize,
    pub max_length: usize,
    pub require_special_char: bool,
    pub require_numbers: bool,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub allowed_special_characters: String,
    pub disable_hibp: bool,
    pub enforce_hibp_on_sign_in: bool,
    pub show_zxcvbn: bool,
    pub min_zxcvbn_strength: u8,
}
