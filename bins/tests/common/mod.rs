//! Helpers shared by the command-line tests.

use std::path::{Path, PathBuf};
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

/// A small WikiText-2 corpus under `dir/data`: the first `train_lines` lines of the shared
/// `valid.txt` as `train.txt` and the first `valid_lines` of `test.txt` as `valid.txt`.
pub fn wikitext_head(shared: &Path, dir: &Path, train_lines: usize, valid_lines: usize) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();
    let head = |file: &str, lines: usize| -> String {
        let text = std::fs::read_to_string(shared.join(file)).unwrap();
        text.lines().take(lines).collect::<Vec<_>>().join("\n")
    };
    std::fs::write(data.join("train.txt"), head("valid.txt", train_lines)).unwrap();
    std::fs::write(data.join("valid.txt"), head("test.txt", valid_lines)).unwrap();
    data
}
