//! PNG plots of a schedule comparison: held-out perplexity and PHI per decision, one line per
//! policy (the mean over seeds) with thin lines at the mean ± the 95% interval.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::{Estimate, RunResult};
use crate::analysis::plots::{draw, panel_along, register_font, Series};
use crate::error::Result;

/// Colours of the policies, in order (cycled).
const COLORS: [RGBColor; 7] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(255, 127, 14),
    RGBColor(0, 0, 0),
];

/// One number of a trace point.
type TraceMeasure = fn(&super::TracePoint) -> f64;

/// Writes `val_ppl.png` and `phi.png` into `dir` for the `policies` (in this order) of `runs`.
pub fn write_compare_plots(
    runs: &[RunResult],
    policies: &[String],
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    register_font()?;
    std::fs::create_dir_all(dir).map_err(|e| crate::session::files::io_error(dir, e))?;
    let mut written = Vec::new();
    let measures: [(&str, &str, TraceMeasure); 2] = [
        ("val_ppl.png", "validation perplexity", |p| p.val_ppl),
        ("phi.png", "validation PHI", |p| p.phi),
    ];
    for (file, title, value) in measures {
        let mut labels = Vec::new();
        let mut curves = Vec::new();
        for (i, name) in policies.iter().enumerate() {
            let mine: Vec<&RunResult> = runs.iter().filter(|r| &r.policy == name).collect();
            let Some(len) = mine.iter().map(|r| r.trace.len()).min() else {
                continue;
            };
            let at: Vec<Estimate> = (0..len)
                .map(|d| Estimate::of(&mine.iter().map(|r| value(&r.trace[d])).collect::<Vec<_>>()))
                .collect();
            labels.push(format!("{name} (mean of {})", mine.len()));
            curves.push((COLORS[i % COLORS.len()], at));
        }
        let mut series = Vec::new();
        for (label, (color, at)) in labels.iter().zip(&curves) {
            let line = |f: fn(&Estimate) -> f64| -> Vec<(f64, f64)> {
                at.iter()
                    .enumerate()
                    .map(|(d, e)| (d as f64, f(e)))
                    .collect()
            };
            series.push(Series {
                label,
                color: *color,
                width: 2,
                points: line(|e| e.mean),
            });
            for bound in [|e: &Estimate| e.ci95[0], |e: &Estimate| e.ci95[1]] {
                series.push(Series {
                    label: "",
                    color: lighter(*color),
                    width: 1,
                    points: line(bound),
                });
            }
        }
        let path = dir.join(file);
        let title = format!("{title} (mean and 95% interval over seeds)");
        draw(&path, |root| panel_along(root, &title, "decision", &series))?;
        written.push(path);
    }
    Ok(written)
}

/// `color` mixed 60% towards white.
fn lighter(RGBColor(r, g, b): RGBColor) -> RGBColor {
    let mix = |c: u8| c + ((255 - c) as f64 * 0.6) as u8;
    RGBColor(mix(r), mix(g), mix(b))
}
