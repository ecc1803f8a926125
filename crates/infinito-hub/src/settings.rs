//! Where the cache is, which endpoint and token to use, and whether to go online: read from the
//! environment variables `huggingface_hub` reads.

use crate::error::{HubError, Result};
use std::path::PathBuf;

/// The hub's default endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// How to reach the hub and where its cache is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The cache directory (`.../hub`).
    pub cache: PathBuf,
    /// The endpoint, without a trailing `/`.
    pub endpoint: String,
    /// The access token for private or gated repositories.
    pub token: Option<String>,
    /// Never make a network request: only cached snapshots resolve.
    pub offline: bool,
    /// Show a progress bar while downloading (on a terminal).
    pub progress: bool,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `huggingface_hub`'s truth test of an environment variable.
fn is_true(value: Option<String>) -> bool {
    value.is_some_and(|v| ["1", "ON", "YES", "TRUE"].contains(&v.trim().to_uppercase().as_str()))
}

impl Settings {
    /// From the environment, as `huggingface_hub` reads it:
    ///
    /// * cache: `HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`, where
    ///   `HF_HOME` defaults to `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`;
    /// * endpoint: `HF_ENDPOINT`, else `https://huggingface.co`;
    /// * token: `HF_TOKEN`, else `HUGGING_FACE_HUB_TOKEN`, else the file `HF_TOKEN_PATH`, else
    ///   `$HF_HOME/token`;
    /// * offline: `HF_HUB_OFFLINE` set to 1, ON, YES or TRUE.
    pub fn from_env() -> Self {
        let home = var("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            let base = var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .unwrap_or_else(|| PathBuf::from(".cache"));
            base.join("huggingface")
        });
        let cache = var("HF_HUB_CACHE")
            .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("hub"));
        let token = var("HF_TOKEN")
            .or_else(|| var("HUGGING_FACE_HUB_TOKEN"))
            .or_else(|| {
                let path = var("HF_TOKEN_PATH")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| home.join("token"));
                std::fs::read_to_string(path).ok()
            })
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        Self {
            cache,
            endpoint: var("HF_ENDPOINT")
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
                .trim_end_matches('/')
                .to_string(),
            token,
            offline: is_true(var("HF_HUB_OFFLINE")),
            progress: true,
        }
    }

    /// The `hf-hub` client of these settings.
    pub(crate) fn api(&self) -> Result<hf_hub::api::sync::Api> {
        hf_hub::api::sync::ApiBuilder::from_cache(hf_hub::Cache::new(self.cache.clone()))
            .with_endpoint(self.endpoint.clone())
            .with_token(self.token.clone())
            .with_progress(self.progress)
            .with_retries(2)
            .with_user_agent("infinito", env!("CARGO_PKG_VERSION"))
            .build()
            .map_err(|e| HubError::Client(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truth_values_are_huggingface_hubs() {
        for yes in ["1", "on", "YES", "True"] {
            assert!(is_true(Some(yes.to_string())), "{yes}");
        }
        for no in ["0", "off", "no", "false", "2"] {
            assert!(!is_true(Some(no.to_string())), "{no}");
        }
        assert!(!is_true(None));
    }
}
