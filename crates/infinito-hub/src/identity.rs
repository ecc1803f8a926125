//! What a checkpoint records of its base model, so that it finds the same model elsewhere.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The base model a checkpoint was trained from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum BaseModel {
    /// A built-in model trained from scratch.
    Builtin {
        /// Its name (`builtin:tiny`).
        name: String,
    },
    /// A hub repository at a commit, found again through the hub cache.
    Hub {
        /// The repository id.
        id: String,
        /// The revision asked for.
        revision: String,
        /// The commit it resolved to.
        commit: String,
    },
    /// A model directory, by absolute path and content.
    Directory {
        /// Its absolute path.
        path: PathBuf,
        /// [`directory_sha256`] of it.
        sha256: String,
    },
}

impl std::fmt::Display for BaseModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BaseModel::Builtin { name } => f.write_str(name),
            BaseModel::Hub { id, commit, .. } => write!(f, "{id} at commit {commit}"),
            BaseModel::Directory { path, sha256 } => {
                write!(
                    f,
                    "{} (content sha256 {})",
                    path.display(),
                    &sha256[..12.min(sha256.len())]
                )
            }
        }
    }
}

/// Files whose content identifies a model directory: its config and weights.
const CONTENT_FILES: [&str; 3] = ["config.json", "model.safetensors", "pytorch_model.bin"];

/// Hex SHA-256 of a model directory's `config.json` and weights (`model.safetensors`,
/// `pytorch_model.bin`), each present one hashed with its name and length.
pub fn directory_sha256(dir: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    for name in CONTENT_FILES {
        let path = dir.join(name);
        let mut file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        hasher.update(name.as_bytes());
        hasher.update(file.metadata()?.len().to_le_bytes());
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
        }
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_content_hash_follows_config_and_weights_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        std::fs::write(dir.path().join("model.safetensors"), "weights").unwrap();
        let first = directory_sha256(dir.path()).unwrap();
        std::fs::write(dir.path().join("vocab.json"), "{}").unwrap();
        assert_eq!(directory_sha256(dir.path()).unwrap(), first);
        std::fs::write(dir.path().join("model.safetensors"), "weightz").unwrap();
        assert_ne!(directory_sha256(dir.path()).unwrap(), first);
        let expected: String = Sha256::new()
            .chain_update("config.json")
            .chain_update(2u64.to_le_bytes())
            .chain_update("{}")
            .chain_update("model.safetensors")
            .chain_update(7u64.to_le_bytes())
            .chain_update("weightz")
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(directory_sha256(dir.path()).unwrap(), expected);
    }
}
