//! Leftovers of writers that were killed mid-write: the temporary files of [`crate::write_atomic`]
//! (`.NAME.tmp-PID-N`) and the staging directories of directory checkpoints (`.NAME.tmp-PID`,
//! `.NAME.old-PID`). They are recognised by name and removed at the next start once the process
//! that made them is gone.

use std::path::{Path, PathBuf};

use crate::error::{CheckpointError, Result};

/// Removes from `dir` (not recursively) the temporaries and staging directories left by
/// processes that are no longer running, and returns their paths. A missing `dir` holds none.
/// Where process liveness cannot be checked (no `/proc`), nothing is removed.
pub fn remove_leftovers(dir: &Path) -> Result<Vec<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(leftover_pid) else {
            continue;
        };
        if pid == std::process::id() || process_may_be_running(pid) {
            continue;
        }
        let path = entry.path();
        let result = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match result {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(CheckpointError::io(&path, "delete", e)),
        }
    }
    removed.sort();
    Ok(removed)
}

/// The process id in a leftover's name (`.NAME.tmp-PID`, `.NAME.tmp-PID-N` or
/// `.NAME.old-PID`), or `None` for any other name.
fn leftover_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (stem, tail) = rest
        .rsplit_once(".tmp-")
        .or_else(|| rest.rsplit_once(".old-"))?;
    if stem.is_empty() {
        return None;
    }
    let mut parts = tail.split('-');
    let pid = parts.next()?.parse().ok()?;
    match (parts.next(), parts.next()) {
        (None, _) => Some(pid),
        (Some(n), None) if n.parse::<u64>().is_ok() => Some(pid),
        _ => None,
    }
}

/// False only when `/proc` shows that no process `pid` exists.
fn process_may_be_running(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_our_writers_are_recognised() {
        assert_eq!(leftover_pid(".step-3.safetensors.tmp-123-4"), Some(123));
        assert_eq!(leftover_pid(".ppo_x_100_steps.tmp-77"), Some(77));
        assert_eq!(leftover_pid(".best_model.old-9"), Some(9));
        assert_eq!(leftover_pid(".history.json.tmp-5-0"), Some(5));
        assert_eq!(leftover_pid("step-3.safetensors.tmp-123-4"), None);
        assert_eq!(leftover_pid(".notes.tmp-abc"), None);
        assert_eq!(leftover_pid(".x.tmp-1-2-3"), None);
        assert_eq!(leftover_pid(".tmp-5"), None);
    }

    #[test]
    fn only_leftovers_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // A pid above the kernel's maximum (4194304) never runs.
        let dead = 4_194_305 + 11;
        let own = std::process::id();
        let files = [
            format!(".last.safetensors.tmp-{dead}-0"),
            format!(".last.safetensors.tmp-{own}-0"),
            "last.safetensors".to_string(),
            format!("notes.tmp-{dead}"),
        ];
        for f in &files {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        let staging = dir.path().join(format!(".ppo_1_steps.tmp-{dead}"));
        std::fs::create_dir(&staging).unwrap();
        std::fs::write(staging.join("agent.safetensors"), b"x").unwrap();
        let removed = remove_leftovers(dir.path()).unwrap();
        if !Path::new("/proc/self").exists() {
            assert!(removed.is_empty());
            return;
        }
        let mut expected = vec![dir.path().join(&files[0]), staging.clone()];
        expected.sort();
        assert_eq!(removed, expected);
        for f in &files[1..] {
            assert!(dir.path().join(f).exists(), "{f} was removed");
        }
        assert!(!staging.exists());
    }
}
