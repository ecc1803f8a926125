//! Which GPT-2 a run trains on: `--model` resolved to a directory (local, or a snapshot in the
//! hub cache) with the identity its checkpoints record, and that identity resolved back.

use crate::error::{Result, TrainError};
use infinito_hub::{directory_sha256, BaseModel, Hub, HubId, GPT2_FILES};
use std::path::{Path, PathBuf};

/// Name of the built-in model, trained from scratch (also what no `--model` means).
pub const BUILTIN_MODEL: &str = "builtin:tiny";

/// A resolved base model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// The built-in model.
    Builtin,
    /// A Hugging Face GPT-2 directory.
    Dir {
        /// Its absolute path.
        dir: PathBuf,
        /// What a checkpoint records of it.
        base: BaseModel,
    },
}

impl ModelRef {
    /// What a checkpoint records of it.
    pub fn base(&self) -> BaseModel {
        match self {
            ModelRef::Builtin => BaseModel::Builtin {
                name: BUILTIN_MODEL.to_string(),
            },
            ModelRef::Dir { base, .. } => base.clone(),
        }
    }
}

/// Resolves `--model`: the built-in name (or nothing), an existing directory (made absolute),
/// else a hub id from the hub cache (downloaded when missing and not offline).
pub fn resolve_model(model: Option<&str>) -> Result<ModelRef> {
    let name = match model {
        None | Some(BUILTIN_MODEL) => return Ok(ModelRef::Builtin),
        Some(name) => name,
    };
    let path = Path::new(name);
    if path.is_dir() {
        let dir = std::fs::canonicalize(path).map_err(|e| TrainError::io(path, "read", e))?;
        let base = directory_base(&dir)?;
        return Ok(ModelRef::Dir { dir, base });
    }
    let id = HubId::parse(name).ok_or_else(|| {
        TrainError::flag(
            "--model",
            name,
            format!("a Hugging Face GPT-2 directory (no such directory), a hub id such as gpt2 or org/name[@revision], or {BUILTIN_MODEL}"),
        )
    })?;
    let snapshot = Hub::from_env().model(&id, &GPT2_FILES)?;
    Ok(ModelRef::Dir {
        base: snapshot.base_model(),
        dir: snapshot.dir,
    })
}

/// The identity of a model directory: the hub repository and commit when it is a snapshot of
/// the hub cache (`.../models--org--name/snapshots/<commit>`), else its path and content hash.
fn directory_base(dir: &Path) -> Result<BaseModel> {
    if let Some(base) = hub_snapshot(dir) {
        return Ok(base);
    }
    let sha256 = directory_sha256(dir).map_err(|e| TrainError::io(dir, "read", e))?;
    Ok(BaseModel::Directory {
        path: dir.to_path_buf(),
        sha256,
    })
}

/// The hub record of `<cache>/models--org--name/snapshots/<commit>`, if `dir` is one.
fn hub_snapshot(dir: &Path) -> Option<BaseModel> {
    let mut parts = dir.iter().rev().map(|p| p.to_string_lossy());
    let (commit, snapshots, folder) = (parts.next()?, parts.next()?, parts.next()?);
    let repo = folder.strip_prefix("models--")?.replace("--", "/");
    let is_commit = commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit());
    if snapshots != "snapshots" || !is_commit {
        return None;
    }
    let id = HubId::with_revision(&repo, &commit)?;
    Some(BaseModel::Hub {
        id: id.repo().to_string(),
        revision: commit.to_string(),
        commit: commit.to_string(),
    })
}

/// True when two records name the same weights (a moved directory with the same content, or
/// the same hub commit asked for by another revision name, still counts).
pub fn same_model(a: &BaseModel, b: &BaseModel) -> bool {
    match (a, b) {
        (BaseModel::Builtin { name: x }, BaseModel::Builtin { name: y }) => x == y,
        (
            BaseModel::Hub {
                id: x, commit: cx, ..
            },
            BaseModel::Hub {
                id: y, commit: cy, ..
            },
        ) => x == y && cx == cy,
        (BaseModel::Directory { sha256: x, .. }, BaseModel::Directory { sha256: y, .. }) => x == y,
        _ => false,
    }
}

/// Refuses `found` as the base model of `checkpoint`, which records `recorded`.
pub fn check_same(checkpoint: &Path, recorded: &BaseModel, found: &BaseModel) -> Result<()> {
    if same_model(recorded, found) {
        return Ok(());
    }
    Err(TrainError::BaseModelMismatch {
        checkpoint: checkpoint.to_path_buf(),
        recorded: Box::new(recorded.clone()),
        found: found.to_string(),
        hint: format!(
            "pass the --model it was trained on ({})",
            model_arg(recorded)
        ),
    })
}

/// The `--model` value that names `base`.
fn model_arg(base: &BaseModel) -> String {
    match base {
        BaseModel::Builtin { name } => name.clone(),
        BaseModel::Hub { id, commit, .. } => format!("{id}@{commit}"),
        BaseModel::Directory { path, .. } => path.display().to_string(),
    }
}

/// Finds the model a checkpoint records: the hub commit through the hub cache (downloaded when
/// missing and not offline), or the directory, whose content must still match.
pub fn resolve_recorded(checkpoint: &Path, base: &BaseModel) -> Result<ModelRef> {
    match base {
        BaseModel::Builtin { .. } => Ok(ModelRef::Builtin),
        BaseModel::Hub { id, commit, .. } => {
            let hub = Hub::from_env();
            let pinned = HubId::with_revision(id, commit).ok_or_else(|| TrainError::Resume {
                path: checkpoint.to_path_buf(),
                reason: format!("its base model id {id}@{commit} is malformed"),
            })?;
            match hub.model(&pinned, &GPT2_FILES) {
                Ok(snapshot) => Ok(ModelRef::Dir {
                    base: base.clone(),
                    dir: snapshot.dir,
                }),
                Err(e @ infinito_hub::HubError::NotCached { .. }) => {
                    let main = HubId::parse(id)
                        .and_then(|i| hub.cached_commit(infinito_hub::RepoKind::Model, &i));
                    match main {
                        Some(other) if &other != commit => Err(TrainError::BaseModelMismatch {
                            checkpoint: checkpoint.to_path_buf(),
                            recorded: Box::new(base.clone()),
                            found: format!("{id} at commit {other} (the one in the hub cache)"),
                            hint: format!("download {id}@{commit} (run without HF_HUB_OFFLINE)"),
                        }),
                        _ => Err(e.into()),
                    }
                }
                Err(e) => Err(e.into()),
            }
        }
        BaseModel::Directory { path, .. } => {
            if !path.is_dir() {
                return Err(TrainError::Resume {
                    path: checkpoint.to_path_buf(),
                    reason: format!(
                        "its base model directory {} is gone; train from a hub id (--model org/name) to have checkpoints that move between machines",
                        path.display()
                    ),
                });
            }
            let found = directory_base(path)?;
            check_same(checkpoint, base, &found)?;
            Ok(ModelRef::Dir {
                dir: path.clone(),
                base: base.clone(),
            })
        }
    }
}
