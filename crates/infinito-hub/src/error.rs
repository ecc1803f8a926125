//! Errors of hub resolution.

use crate::RepoKind;
use std::path::PathBuf;

/// Result of this crate.
pub type Result<T> = std::result::Result<T, HubError>;

/// Why a model or data set could not be had.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// Offline, and the cache lacks the revision or some of the files.
    #[error("{kind} {id} is not in the hub cache {}{}: HF_HUB_OFFLINE is set; run once without it (or `{}`) to download it", .cache.display(), parenthesised(.reason), download_command(.kind, .id))]
    NotCached {
        /// `model` or `dataset`.
        kind: &'static str,
        /// The id asked for.
        id: String,
        /// The cache directory.
        cache: PathBuf,
        /// What the cached snapshot lacks, when there is one.
        reason: Option<String>,
    },
    /// The hub answered 401, 403 or 404 for the repository.
    #[error("no {kind} {id} on {endpoint} (HTTP {status}): check the name and revision; a private or gated repository needs HF_TOKEN")]
    NotFound {
        /// `model` or `dataset`.
        kind: &'static str,
        /// The id asked for.
        id: String,
        /// The endpoint asked.
        endpoint: String,
        /// The HTTP status.
        status: u16,
    },
    /// The repository lacks a file it lists or the tool needs.
    #[error("{kind} {id}: {reason}")]
    NoSuchFiles {
        /// `model` or `dataset`.
        kind: &'static str,
        /// The id asked for.
        id: String,
        /// What is missing.
        reason: String,
    },
    /// The hub could not be reached, or the transfer failed.
    #[error("downloading {kind} {id}{} from {endpoint}: {message} (with HF_HUB_OFFLINE=1 only the cache is used)", parenthesised(.file))]
    Download {
        /// `model` or `dataset`.
        kind: &'static str,
        /// The id asked for.
        id: String,
        /// The file being downloaded, if any.
        file: Option<String>,
        /// The endpoint asked.
        endpoint: String,
        /// The client's error.
        message: String,
    },
    /// The HTTP client could not be built.
    #[error("hub client: {0}")]
    Client(String),
}

/// ` (text)`, or nothing.
fn parenthesised(text: &Option<String>) -> String {
    text.as_ref().map(|t| format!(" ({t})")).unwrap_or_default()
}

/// The `huggingface_hub` command line that downloads `id`.
fn download_command(kind: &str, id: &str) -> String {
    match kind {
        "dataset" => format!("hf download {id} --repo-type dataset"),
        _ => format!("hf download {id}"),
    }
}

impl HubError {
    /// True for errors in what the user asked for (unknown id, not cached while offline):
    /// the tools exit with status 2 for them.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            HubError::NotCached { .. } | HubError::NotFound { .. } | HubError::NoSuchFiles { .. }
        )
    }

    /// Maps an error of the `hf-hub` client for `id` (and `file`, when downloading one).
    pub(crate) fn request(
        kind: RepoKind,
        id: &crate::HubId,
        file: Option<&str>,
        error: hf_hub::api::sync::ApiError,
        settings: &crate::Settings,
    ) -> Self {
        use hf_hub::api::sync::ApiError;
        let status = match &error {
            ApiError::RequestError(e) => match e.as_ref() {
                ureq::Error::Status(code, _) => Some(*code),
                ureq::Error::Transport(_) => None,
            },
            _ => None,
        };
        match (status, file) {
            (Some(status @ (401 | 403 | 404)), None) => HubError::NotFound {
                kind: kind.noun(),
                id: id.to_string(),
                endpoint: settings.endpoint.clone(),
                status,
            },
            (Some(404), Some(file)) => HubError::NoSuchFiles {
                kind: kind.noun(),
                id: id.to_string(),
                reason: format!("{file} is listed but the hub answers 404 for it"),
            },
            _ => HubError::Download {
                kind: kind.noun(),
                id: id.to_string(),
                file: file.map(str::to_string),
                endpoint: settings.endpoint.clone(),
                message: error.to_string(),
            },
        }
    }
}
