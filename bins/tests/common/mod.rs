//! Helpers shared by the command-line tests.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Waits until `log` holds at least `lines` lines (the run is under way, at most 120 s), then
/// sends Ctrl+C (SIGINT) to `child`.
pub fn interrupt_after_lines(child: &Child, log: &Path, lines: usize) {
    let start = Instant::now();
    while !log.is_file() || std::fs::read_to_string(log).unwrap().lines().count() < lines {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "training never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
}
