//! Models and data sets by name, through the Hugging Face hub cache.
//!
//! * [`HubId`]: `gpt2`, `org/name`, with an optional `@revision`.
//! * [`Settings`]: the cache directory, endpoint, token and offline switch, from the same
//!   environment variables as `huggingface_hub` (`HF_HUB_CACHE`, `HF_HOME`, `HF_ENDPOINT`,
//!   `HF_TOKEN`, `HF_HUB_OFFLINE`).
//! * [`Hub::fetch`]: a snapshot of a model or data set repository, from the cache when it holds
//!   the files asked for (no network request), else downloaded with the `hf-hub` client into the
//!   same layout `huggingface_hub` writes (`blobs/`, `snapshots/<commit>/` symlinks,
//!   `refs/<revision>`), with a progress bar and resumption of partial files.
//! * [`FileSet`]: the files of a GPT-2 model or a peft adapter.
//! * [`BaseModel`]: what a checkpoint records of the model it was trained from.
//!
//! # Example
//!
//! ```
//! use infinito_hub::HubId;
//!
//! let id = HubId::parse("openai-community/gpt2@main").unwrap();
//! assert_eq!((id.repo(), id.revision()), ("openai-community/gpt2", "main"));
//! assert_eq!(HubId::parse("gpt2").unwrap().revision(), "main");
//! assert!(HubId::parse("./models/gpt2").is_none()); // a path, not a hub id
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cache;
mod error;
mod files;
mod id;
mod identity;
mod settings;
#[cfg(feature = "test-server")]
pub mod testing;

pub use error::{HubError, Result};
pub use files::{FileSet, ADAPTER_FILES, GPT2_FILES};
pub use id::HubId;
pub use identity::{directory_sha256, BaseModel};
pub use settings::Settings;

use std::path::{Path, PathBuf};

/// The kind of a hub repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoKind {
    /// A model (`models--org--name` in the cache).
    Model,
    /// A data set (`datasets--org--name` in the cache).
    Dataset,
}

impl RepoKind {
    /// `model` or `dataset`, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            RepoKind::Model => "model",
            RepoKind::Dataset => "dataset",
        }
    }

    fn hf(self) -> hf_hub::RepoType {
        match self {
            RepoKind::Model => hf_hub::RepoType::Model,
            RepoKind::Dataset => hf_hub::RepoType::Dataset,
        }
    }
}

/// A resolved revision of a repository in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The repository id (`gpt2`, `org/name`).
    pub repo: String,
    /// The revision asked for (`main` unless given).
    pub revision: String,
    /// The commit it resolved to (40 hex digits).
    pub commit: String,
    /// `<cache>/<kind>s--org--name/snapshots/<commit>`.
    pub dir: PathBuf,
    /// The files chosen, relative to `dir`.
    pub files: Vec<String>,
}

impl Snapshot {
    /// The path of one of its files.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// The checkpoint record of this snapshot as a model.
    pub fn base_model(&self) -> BaseModel {
        BaseModel::Hub {
            id: self.repo.clone(),
            revision: self.revision.clone(),
            commit: self.commit.clone(),
        }
    }
}

/// Chooses the files to use among those of a repository revision (relative paths), or says
/// why none fit.
pub type Select<'a> = dyn Fn(&[String]) -> std::result::Result<Vec<String>, String> + 'a;

/// The hub as configured by [`Settings`].
#[derive(Debug, Clone)]
pub struct Hub {
    settings: Settings,
}

impl Hub {
    /// A hub with explicit settings.
    pub fn new(settings: Settings) -> Self {
        Self { settings }
    }

    /// A hub configured from the environment (see [`Settings::from_env`]).
    pub fn from_env() -> Self {
        Self::new(Settings::from_env())
    }

    /// Its settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A model repository with the files of `files`.
    pub fn model(&self, id: &HubId, files: &FileSet) -> Result<Snapshot> {
        self.fetch(RepoKind::Model, id, &|available| files.select(available))
    }

    /// The files of `id` that `select` chooses.
    ///
    /// When the cache holds the revision and `select` is satisfied with its files, they are
    /// used without any network request. Otherwise, unless offline, the repository's file list
    /// is asked of the hub and the chosen files missing from the cache are downloaded.
    pub fn fetch(&self, kind: RepoKind, id: &HubId, select: &Select<'_>) -> Result<Snapshot> {
        let repo_dir = self.repo_dir(kind, id);
        let revision = id.revision();
        let cached = cache::commit_of(&repo_dir, revision).map(|commit| {
            let files = cache::snapshot_files(&repo_dir.join("snapshots").join(&commit));
            (commit, select(&files))
        });
        let reason = match cached {
            Some((commit, Ok(files))) => return Ok(self.snapshot(&repo_dir, id, commit, files)),
            Some((_, Err(reason))) => Some(reason),
            None => None,
        };
        if self.settings.offline {
            return Err(HubError::NotCached {
                kind: kind.noun(),
                id: id.to_string(),
                cache: self.settings.cache.clone(),
                reason,
            });
        }
        let api = self.settings.api()?;
        let repo = api.repo(hf_hub::Repo::with_revision(
            id.repo().to_string(),
            kind.hf(),
            revision.to_string(),
        ));
        let info = repo
            .info()
            .map_err(|e| HubError::request(kind, id, None, e, &self.settings))?;
        let available: Vec<String> = info.siblings.into_iter().map(|s| s.rfilename).collect();
        let files = select(&available).map_err(|reason| HubError::NoSuchFiles {
            kind: kind.noun(),
            id: id.to_string(),
            reason,
        })?;
        let snapshot_dir = repo_dir.join("snapshots").join(&info.sha);
        for file in &files {
            if !snapshot_dir.join(file).is_file() {
                repo.download(file)
                    .map_err(|e| HubError::request(kind, id, Some(file), e, &self.settings))?;
            }
        }
        cache::forget_commit_ref(&repo_dir, revision);
        let commit = cache::commit_of(&repo_dir, revision).unwrap_or(info.sha);
        Ok(self.snapshot(&repo_dir, id, commit, files))
    }

    fn snapshot(
        &self,
        repo_dir: &Path,
        id: &HubId,
        commit: String,
        files: Vec<String>,
    ) -> Snapshot {
        Snapshot {
            repo: id.repo().to_string(),
            revision: id.revision().to_string(),
            dir: repo_dir.join("snapshots").join(&commit),
            commit,
            files,
        }
    }

    /// The commit the cache holds for `id`'s revision, if any (no network request).
    pub fn cached_commit(&self, kind: RepoKind, id: &HubId) -> Option<String> {
        cache::commit_of(&self.repo_dir(kind, id), id.revision())
    }

    /// `<cache>/models--org--name` (or `datasets--...`).
    pub fn repo_dir(&self, kind: RepoKind, id: &HubId) -> PathBuf {
        self.settings
            .cache
            .join(hf_hub::Repo::new(id.repo().to_string(), kind.hf()).folder_name())
    }
}
