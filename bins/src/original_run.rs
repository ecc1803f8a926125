//! `check_progress` and `analyze_rl` on a folder written by the original (stable-baselines3).

use std::path::Path;

use infinito_rl::analysis::original::{OriginalReport, RunFolder};

/// When `dir` is a run folder of the original, prints its report (one JSON object with
/// `json`) and returns true; false for a run of ours; an error for a folder that is neither.
pub fn report_original(dir: &Path, json: bool) -> anyhow::Result<bool> {
    let RunFolder::Original(run) = RunFolder::detect(dir)? else {
        return Ok(false);
    };
    let report = OriginalReport::of(&run)?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(true)
}
