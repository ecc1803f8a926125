//! JSON files written atomically.

use crate::atomic::write_atomic;
use crate::error::{CheckpointError, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

/// Writes `value` as pretty-printed JSON (with a trailing newline), atomically.
pub fn save_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| CheckpointError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Reads a JSON file into `T`.
pub fn load_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| CheckpointError::io(path, "read", e))?;
    serde_json::from_slice(&bytes).map_err(|source| CheckpointError::Json {
        path: path.to_path_buf(),
        source,
    })
}
