//! Clerk's error envelope: `{"errors":[{code,message,long_message,meta}],"clerk_trace_id":…,"meta":{}}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    #[serde(default, deserialize_with = "crate::null_as_default")]
    pub errors: Vec<ApiError>,
    #[serde(default)]
    pub clerk_trace_id: Option<String>,
    #[serde(default)]
    pub meta: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: String,
    #[serde(default)]
    pub message: String,
    /// clerk-js treats it as optional; some errors carry only `message`.
    #[serde(default)]
    pub long_message: String,
    #[serde(default)]
    pub meta: Value,
}

impl ApiError {
    /// `meta.param_name`, which clerk-js shows next to the offending field.
    pub fn param_name(&self) -> Option<&str> {
        self.meta.get("param_name").and_then(Value::as_str)
    }
}
