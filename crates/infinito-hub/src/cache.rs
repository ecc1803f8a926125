//! Reading the hub cache without the network: `refs/<revision>` and snapshot listings.

use std::path::{Path, PathBuf};

/// True for a full commit hash (40 lowercase hex digits).
pub(crate) fn is_commit(revision: &str) -> bool {
    revision.len() == 40
        && revision
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The commit `revision` stands for in the cached repository at `repo_dir`: the content of
/// `refs/<revision>`, or the revision itself when it is a commit hash; `None` unless its
/// snapshot directory exists.
pub(crate) fn commit_of(repo_dir: &Path, revision: &str) -> Option<String> {
    let commit = match std::fs::read_to_string(repo_dir.join("refs").join(revision)) {
        Ok(text) => text.trim().to_string(),
        Err(_) if is_commit(revision) => revision.to_string(),
        Err(_) => return None,
    };
    (is_commit(&commit) && repo_dir.join("snapshots").join(&commit).is_dir()).then_some(commit)
}

/// `huggingface_hub` writes `refs/<revision>` only for names, never for a commit hash; the
/// `hf-hub` client writes it for both. Removes the one for a commit hash.
pub(crate) fn forget_commit_ref(repo_dir: &Path, revision: &str) {
    if is_commit(revision) {
        // Absent when the files were all cached already.
        let _ = std::fs::remove_file(repo_dir.join("refs").join(revision));
    }
}

/// The files of a snapshot directory whose targets exist, as sorted `/`-separated paths
/// relative to it (nothing when it does not exist).
pub(crate) fn snapshot_files(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut pending: Vec<(PathBuf, String)> = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, prefix)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let relative = format!("{prefix}{name}");
            let full = entry.path();
            if full.is_dir() {
                pending.push((full, format!("{relative}/")));
            } else if full.is_file() {
                files.push(relative);
            }
        }
    }
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_is_forty_lowercase_hex_digits() {
        assert!(is_commit("607a30d783dfa663caf39e06633721c8d4cfcd7e"));
        assert!(!is_commit("607A30D783DFA663CAF39E06633721C8D4CFCD7E"));
        assert!(!is_commit("main"));
        assert!(!is_commit("607a30d"));
    }

    #[test]
    fn refs_resolve_only_to_existing_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let commit = "0123456789abcdef0123456789abcdef01234567";
        std::fs::create_dir_all(dir.path().join("refs")).unwrap();
        std::fs::write(dir.path().join("refs/main"), commit).unwrap();
        assert_eq!(commit_of(dir.path(), "main"), None);
        assert_eq!(commit_of(dir.path(), commit), None);
        std::fs::create_dir_all(dir.path().join("snapshots").join(commit).join("sub")).unwrap();
        std::fs::write(
            dir.path().join("snapshots").join(commit).join("sub/a.txt"),
            "",
        )
        .unwrap();
        assert_eq!(commit_of(dir.path(), "main").as_deref(), Some(commit));
        assert_eq!(commit_of(dir.path(), commit).as_deref(), Some(commit));
        assert_eq!(commit_of(dir.path(), "v1"), None);
        assert_eq!(
            snapshot_files(&dir.path().join("snapshots").join(commit)),
            ["sub/a.txt"]
        );
    }
}
