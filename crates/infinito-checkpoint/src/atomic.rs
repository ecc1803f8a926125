//! Atomic file replacement: write a temporary file next to the target, then rename it over the target.

use crate::error::{CheckpointError, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Counter making temporary names unique within this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically.
///
/// The bytes go to a uniquely named temporary file in the same directory, which is flushed to
/// disk and then renamed over `path`; the directory is synced afterwards. Readers see either the
/// old file or the complete new one, never a partial write. On error the temporary file is removed
/// and the target is left untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    stage(path, bytes)?.commit()
}

/// A fully written and synced temporary file that has not yet replaced its target.
///
/// Dropping it without [`StagedFile::commit`] deletes the temporary file.
#[derive(Debug)]
pub(crate) struct StagedFile {
    temp: PathBuf,
    target: PathBuf,
}

/// Writes `bytes` to a new temporary file beside `path` and syncs it, without touching `path`.
pub(crate) fn stage(path: &Path, bytes: &[u8]) -> Result<StagedFile> {
    let file_name = path.file_name().ok_or_else(|| CheckpointError::Io {
        path: path.to_path_buf(),
        op: "write",
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path does not name a file",
        ),
    })?;
    let dir = parent_dir(path);
    let pid = std::process::id();
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(file_name);
        temp_name.push(format!(".tmp-{pid}-{n}"));
        let temp = dir.join(temp_name);
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => {
                let staged = StagedFile {
                    temp,
                    target: path.to_path_buf(),
                };
                // On error `staged` is dropped here, which removes the temporary file.
                write_and_sync(file, bytes).map_err(|e| CheckpointError::io(path, "write", e))?;
                return Ok(staged);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(CheckpointError::io(path, "create a temporary file for", e)),
        }
    }
}

impl StagedFile {
    /// The temporary file holding the new content.
    #[cfg(test)]
    pub(crate) fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Renames the temporary file over the target and syncs the directory.
    pub(crate) fn commit(self) -> Result<()> {
        std::fs::rename(&self.temp, &self.target)
            .map_err(|e| CheckpointError::io(&self.target, "rename a temporary file onto", e))?;
        // The temporary name no longer exists; nothing is left to clean up.
        let target = self.target.clone();
        std::mem::forget(self);
        sync_dir(parent_dir(&target))
            .map_err(|e| CheckpointError::io(&target, "sync the directory of", e))
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        // Best effort: the file may already be gone, and a drop cannot report errors.
        let _ = std::fs::remove_file(&self.temp);
    }
}

/// The directory a file lives in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn write_and_sync(mut file: File, bytes: &[u8]) -> std::io::Result<()> {
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes a rename durable by syncing the directory entry (a no-op where directories cannot be opened).
#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use infinito_testutil::dir_listing;

    #[test]
    fn crash_before_rename_leaves_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("ckpt.safetensors");
        std::fs::write(&target, b"old content").unwrap();
        let staged = stage(&target, b"new content that never lands").unwrap();
        let temp = staged.temp_path().to_path_buf();
        // A crash skips every destructor: the temporary file stays, the target is the old one.
        std::mem::forget(staged);
        assert_eq!(std::fs::read(&target).unwrap(), b"old content");
        assert_eq!(
            std::fs::read(&temp).unwrap(),
            b"new content that never lands"
        );
        assert_ne!(temp, target);
        assert_eq!(temp.parent(), target.parent());
    }

    #[test]
    fn abandoned_stage_removes_its_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("ckpt.json");
        std::fs::write(&target, b"old").unwrap();
        let staged = stage(&target, b"new").unwrap();
        assert_eq!(dir_listing(dir.path()).len(), 2);
        drop(staged);
        assert_eq!(dir_listing(dir.path()), vec!["ckpt.json".to_string()]);
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
    }

    #[test]
    fn temp_names_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.bin");
        let first = stage(&target, b"1").unwrap();
        let second = stage(&target, b"2").unwrap();
        assert_ne!(first.temp_path(), second.temp_path());
        second.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"2");
        first.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"1");
        assert_eq!(dir_listing(dir.path()), vec!["a.bin".to_string()]);
    }
}
