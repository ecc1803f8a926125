//! Pruning periodic checkpoints: keep the newest few and every N-th.

use std::path::Path;

use super::files::{io_error, list_checkpoints};
use crate::error::Result;

/// Deletes the periodic checkpoints of `run_dir` except the newest `keep_last` and those whose
/// step count is a multiple of `keep_every`. Returns how many were deleted.
pub fn prune(run_dir: &Path, keep_last: usize, keep_every: Option<u64>) -> Result<usize> {
    let all = list_checkpoints(run_dir);
    let old = all.len().saturating_sub(keep_last);
    let mut deleted = 0;
    for (steps, path) in &all[..old] {
        if keep_every.is_some_and(|every| every > 0 && steps % every == 0) {
            continue;
        }
        std::fs::remove_dir_all(path).map_err(|e| io_error(path, e))?;
        deleted += 1;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::files::CHECKPOINT_DIR;

    #[test]
    fn keeps_newest_and_every_nth() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| io_error(Path::new("tmp"), e))?;
        let ckpts = dir.path().join(CHECKPOINT_DIR);
        for n in [1000, 2000, 3000, 4000, 5000, 6000] {
            std::fs::create_dir_all(ckpts.join(format!("ppo_x_{n}_steps")))
                .map_err(|e| io_error(&ckpts, e))?;
        }
        assert_eq!(prune(dir.path(), 2, Some(2000))?, 2);
        let left: Vec<u64> = list_checkpoints(dir.path())
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(left, vec![2000, 4000, 5000, 6000]);
        Ok(())
    }
}
