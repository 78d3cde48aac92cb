//! The instance as a WebAuthn relying party: its RP ID and the origins its ceremonies may come
//! from, from `[settings.passkeys]` or derived from the Frontend API URL and allowed origins.

use crate::error::ApiResult;
use crate::instance::Instance;
use crate::state::AppState;
use vestibule_crypto::passkey::RelyingParty;
use vestibule_model::settings::PasskeySettings;
use vestibule_model::Error;

/// The relying party when passkeys are on. Unset `rp_id`: the Frontend API's host without a
/// leading `clerk.`; unset `origins`: the allowed origins (the Frontend API's own among them)
/// that lie within the RP ID.
pub fn relying_party(
    settings: &PasskeySettings,
    instance: &Instance,
) -> Result<Option<RelyingParty>, String> {
    if !settings.enabled {
        return Ok(None);
    }
    let rp_id = match &settings.rp_id {
        Some(id) => id.to_ascii_lowercase(),
        None => {
            let host = url::Url::parse(&instance.frontend_api_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            host.strip_prefix("clerk.").unwrap_or(&host).to_owned()
        }
    };
    let within = |origin: &str| {
        url::Url::parse(origin)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .is_some_and(|h| h == rp_id || h.ends_with(&format!(".{rp_id}")))
    };
    let origins: Vec<String> = if settings.origins.is_empty() {
        instance
            .allowed_origins
            .iter()
            .filter(|o| within(o))
            .cloned()
            .collect()
    } else {
        settings.origins.clone()
    };
    if origins.is_empty() {
        return Err(format!(
            "passkeys: no origin lies within the RP ID {rp_id:?}; set [settings.passkeys] origins"
        ));
    }
    RelyingParty::new(&rp_id, origins)
        .map(Some)
        .map_err(|e| format!("{e}; set [settings.passkeys] rp_id to the domain your pages are on"))
}

impl AppState {
    /// The relying party, or a refusal when passkeys are off.
    pub(crate) fn relying_party(&self) -> ApiResult<&RelyingParty> {
        self.passkeys
            .as_ref()
            .ok_or_else(|| Error::StrategyForUserInvalid.into())
    }
}
