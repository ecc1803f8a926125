//! Ctrl+C handling for long-running binaries.

use crate::error::{Result, TrainError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Exit status of a second Ctrl+C (128 + SIGINT, as shells report it).
const FORCED_EXIT_CODE: i32 = 130;

/// Installs the process's Ctrl+C (SIGINT/SIGTERM) handler and returns the flag it sets.
///
/// Pass the flag as [`crate::FitOptions::stop`]: the trainer finishes the current step, saves
/// `last` and returns [`crate::StopReason::Interrupted`]. A second Ctrl+C exits at once with
/// status 130, without saving. Call it once per process; a second call fails.
pub fn install_ctrlc_handler() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&flag);
    ctrlc::set_handler(move || {
        if seen.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond interrupt: exiting without saving");
            std::process::exit(FORCED_EXIT_CODE);
        }
        eprintln!("\ninterrupt: finishing the current step and saving a checkpoint (Ctrl+C again to quit at once)");
    })
    .map_err(|e| TrainError::Signal(e.to_string()))?;
    Ok(flag)
}
