//! Deleting old checkpoints so that only the newest few remain.

use crate::error::{CheckpointError, Result};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Keeps the newest `keep` files in `dir` whose names start with `prefix` and deletes the others.
///
/// Files are ordered by the step number that follows the prefix (`ckpt_1200.safetensors` and
/// `ckpt_1200_steps.zip` both have step 1200 for the prefix `ckpt_`). When some files carry a
/// step, only those take part and files without one (such as `ckpt_best.safetensors`) are never
/// deleted; when none does, all matching files are ordered by modification time. Ties are broken
/// by modification time, then by name. Directories are ignored. Returns the deleted paths, oldest
/// first.
pub fn retain_latest(dir: &Path, prefix: &str, keep: usize) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| CheckpointError::io(dir, "list", e))?;
    let mut candidates = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| CheckpointError::io(dir, "list", e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        let path = entry.path();
        let meta = entry
            .metadata()
            .map_err(|e| CheckpointError::io(&path, "read the metadata of", e))?;
        if !meta.is_file() {
            continue;
        }
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        candidates.push(Candidate {
            step: leading_number(rest),
            mtime,
            name: name.to_string(),
            path,
        });
    }
    if candidates.iter().any(|c| c.step.is_some()) {
        candidates.retain(|c| c.step.is_some());
    }
    candidates.sort_by(|a, b| (a.step, a.mtime, &a.name).cmp(&(b.step, b.mtime, &b.name)));
    let excess = candidates.len().saturating_sub(keep);
    let mut deleted = Vec::with_capacity(excess);
    for old in candidates.into_iter().take(excess) {
        std::fs::remove_file(&old.path).map_err(|e| CheckpointError::io(&old.path, "delete", e))?;
        deleted.push(old.path);
    }
    Ok(deleted)
}

struct Candidate {
    step: Option<u64>,
    mtime: SystemTime,
    name: String,
    path: PathBuf,
}

/// The decimal number at the start of `s`, if any.
fn leading_number(s: &str) -> Option<u64> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}
