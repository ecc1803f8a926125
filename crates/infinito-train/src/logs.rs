//! The files a run writes next to its checkpoints: `metrics.jsonl`, `history.json`,
//! `training_log.txt`, `config.json` and, when enabled, TensorBoard events in `tensorboard/`.

use crate::error::{Result, TrainError};
use crate::history::History;
use crate::tensorboard::{EventWriter, TENSORBOARD_DIR};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Per-step and per-validation records, one JSON object a line.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// The per-epoch history with the original's keys.
pub const HISTORY_FILE: &str = "history.json";
/// The human-readable log, appended to by every session of a run.
pub const TEXT_LOG_FILE: &str = "training_log.txt";
/// The effective run configuration.
pub const CONFIG_FILE: &str = "config.json";

/// Open log files of a run directory.
#[derive(Debug)]
pub(crate) struct RunLogs {
    dir: PathBuf,
    metrics: File,
    text: File,
    board: Option<EventWriter>,
}

impl RunLogs {
    /// Creates `dir` if needed and opens the append-only logs, first dropping the records of
    /// `metrics.jsonl` after step `keep_up_to` (0 for a new run; the checkpoint's step on
    /// resume, which drops what an interrupted session logged after its last checkpoint).
    /// With `tensorboard`, records also go to a new event file in `tensorboard/`.
    pub(crate) fn open(dir: &Path, keep_up_to: u64, tensorboard: bool) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, "create", e))?;
        let metrics_path = dir.join(METRICS_FILE);
        drop_records_after(&metrics_path, keep_up_to)?;
        Ok(Self {
            metrics: append(&metrics_path)?,
            text: append(&dir.join(TEXT_LOG_FILE))?,
            board: tensorboard
                .then(|| EventWriter::create(&dir.join(TENSORBOARD_DIR)))
                .transpose()?,
            dir: dir.to_path_buf(),
        })
    }

    /// Appends one record to `metrics.jsonl`, and its numbers to TensorBoard as
    /// `train/<key>` or `val/<key>` at its step.
    pub(crate) fn record(&mut self, record: &serde_json::Value) -> Result<()> {
        if let Some(board) = &mut self.board {
            let prefix = match record.get("split").and_then(|s| s.as_str()) {
                Some("valid") => "val",
                _ => "train",
            };
            let step = record.get("step").and_then(|s| s.as_u64()).unwrap_or(0);
            let tags: Vec<(String, f64)> = record
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| !matches!(k.as_str(), "step" | "epoch" | "split" | "skipped"))
                .filter_map(|(k, v)| Some((format!("{prefix}/{k}"), v.as_f64()?)))
                .collect();
            board.scalars(step, tags.iter().map(|(k, v)| (k.as_str(), *v)))?;
            board.flush()?;
        }
        let mut line = record.to_string();
        line.push('\n');
        self.metrics
            .write_all(line.as_bytes())
            .map_err(|e| TrainError::io(self.dir.join(METRICS_FILE), "write", e))
    }

    /// Appends one line to `training_log.txt`.
    pub(crate) fn line(&mut self, text: &str) -> Result<()> {
        writeln!(self.text, "{text}")
            .map_err(|e| TrainError::io(self.dir.join(TEXT_LOG_FILE), "write", e))
    }

    /// Adds the newest epoch of `history` to TensorBoard (`train/epoch_*`, `val/epoch_*`, at
    /// the epoch number).
    pub(crate) fn epoch(&mut self, history: &History) -> Result<()> {
        let (Some(board), Some(i)) = (&mut self.board, history.len().checked_sub(1)) else {
            return Ok(());
        };
        board.scalars(
            history.len() as u64,
            [
                ("train/epoch_loss", history.train_loss[i]),
                ("train/epoch_ppl", history.train_ppl[i]),
                ("train/epoch_phi", history.train_phi[i]),
                ("train/epoch_phi_loss", history.delta_phi_loss[i]),
                ("val/epoch_loss", history.val_loss[i]),
                ("val/epoch_ppl", history.val_ppl[i]),
                ("val/epoch_phi", history.val_phi[i]),
            ],
        )?;
        board.flush()
    }

    /// Replaces `history.json` atomically.
    pub(crate) fn write_history(&self, history: &History) -> Result<()> {
        infinito_checkpoint::save_json(&self.dir.join(HISTORY_FILE), history)?;
        Ok(())
    }

    /// Replaces `config.json` atomically.
    pub(crate) fn write_config(&self, config: &serde_json::Value) -> Result<()> {
        infinito_checkpoint::save_json(&self.dir.join(CONFIG_FILE), config)?;
        Ok(())
    }
}

fn append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| TrainError::io(path, "open", e))
}

/// Rewrites `path` without the records whose `"step"` exceeds `step` (and without lines that
/// are not JSON objects, such as a line cut short by a crash).
fn drop_records_after(path: &Path, step: u64) -> Result<()> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(TrainError::io(path, "read", e)),
    };
    let mut kept = String::new();
    let mut dropped = false;
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| TrainError::io(path, "read", e))?;
        let record_step = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v.get("step").and_then(serde_json::Value::as_u64));
        match record_step {
            Some(s) if s <= step => {
                kept.push_str(&line);
                kept.push('\n');
            }
            _ => dropped = true,
        }
    }
    if dropped {
        infinito_checkpoint::write_atomic(path, kept.as_bytes())?;
    }
    Ok(())
}
