//! PNG plots of a run: reward with its moving average, PHI and C, perplexity, and the action
//! shares over time. Text uses an embedded DejaVu Sans, so no system font is needed.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::reward::moving_average;
use crate::error::{Result, RlError};
use crate::scheduler::RewardConfig;
use crate::session::files::StepLine;

/// The embedded font (Bitstream Vera licence, see `crates/infinito-rl/assets/fonts/LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// The family name the charts ask for.
const FAMILY: &str = "sans-serif";
/// Plot size in pixels.
const SIZE: (u32, u32) = (960, 540);
/// Colours of the actions, in order (cycled beyond three).
pub(crate) const ACTION_COLORS: [RGBColor; 3] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
];

/// One line of a chart.
pub(crate) struct Series<'a> {
    pub label: &'a str,
    pub color: RGBColor,
    pub width: u32,
    pub points: Vec<(f64, f64)>,
}

/// Writes `reward.png`, `phi_c.png`, `ppl.png` and `actions.png` into `dir` (created if
/// needed) and returns their paths.
pub fn write_plots(
    steps: &[StepLine],
    names: &[String],
    reward: &RewardConfig,
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    if steps.is_empty() {
        return Ok(Vec::new());
    }
    register_font()?;
    std::fs::create_dir_all(dir).map_err(|e| crate::session::files::io_error(dir, e))?;
    let x: Vec<f64> = steps.iter().map(|s| s.timestep as f64).collect();
    let along = |values: Vec<f64>| -> Vec<(f64, f64)> { x.iter().copied().zip(values).collect() };
    let band = |y: f64| vec![(x[0], y), (x[x.len() - 1], y)];
    let rewards: Vec<f64> = steps.iter().map(|s| s.reward).collect();
    // Moving averages (reward, action shares) over a tenth of the run.
    let window = (steps.len() / 10).max(1);
    let grey = RGBColor(150, 150, 150);
    let mut written = Vec::new();

    let path = dir.join("reward.png");
    let average_label = format!("moving average ({window} steps)");
    draw(&path, |root| {
        panel(
            root,
            "reward",
            &[
                Series {
                    label: "per step",
                    color: RGBColor(170, 190, 230),
                    width: 1,
                    points: along(rewards.clone()),
                },
                Series {
                    label: &average_label,
                    color: BLUE,
                    width: 2,
                    points: along(moving_average(&rewards, window)),
                },
            ],
        )
    })?;
    written.push(path);

    let path = dir.join("phi_c.png");
    draw(&path, |root| {
        let (top, bottom) = root.split_vertically(SIZE.1 / 2);
        let [lo, hi] = reward.phi_band;
        panel(
            &top,
            "PHI",
            &[
                Series {
                    label: "phi",
                    color: RED,
                    width: 1,
                    points: along(steps.iter().map(|s| s.phi).collect()),
                },
                Series {
                    label: "phi band",
                    color: grey,
                    width: 1,
                    points: band(lo),
                },
                Series {
                    label: "",
                    color: grey,
                    width: 1,
                    points: band(hi),
                },
            ],
        )?;
        panel(
            &bottom,
            "C",
            &[Series {
                label: "C",
                color: GREEN,
                width: 1,
                points: along(steps.iter().map(|s| s.c).collect()),
            }],
        )
    })?;
    written.push(path);

    let path = dir.join("ppl.png");
    draw(&path, |root| {
        panel(
            root,
            "perplexity",
            &[
                Series {
                    label: "ppl",
                    color: MAGENTA,
                    width: 1,
                    points: along(steps.iter().map(|s| s.ppl).collect()),
                },
                Series {
                    label: "ppl band",
                    color: grey,
                    width: 1,
                    points: band(reward.ppl_band[0]),
                },
                Series {
                    label: "",
                    color: grey,
                    width: 1,
                    points: band(reward.ppl_band[1]),
                },
            ],
        )
    })?;
    written.push(path);

    let path = dir.join("actions.png");
    let title = format!("action share (%) over the last {window} steps");
    draw(&path, |root| {
        let series: Vec<Series> = names
            .iter()
            .enumerate()
            .map(|(a, name)| {
                let chosen: Vec<f64> = steps
                    .iter()
                    .map(|s| if s.action == a { 100.0 } else { 0.0 })
                    .collect();
                Series {
                    label: name,
                    color: ACTION_COLORS[a % ACTION_COLORS.len()],
                    width: 2,
                    points: along(moving_average(&chosen, window)),
                }
            })
            .collect();
        panel(root, &title, &series)
    })?;
    written.push(path);
    Ok(written)
}

/// Registers the embedded font once.
pub(crate) fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(RlError::BadFile {
            path: PathBuf::from("assets/fonts/DejaVuSans.ttf"),
            reason: "the embedded plot font could not be read".into(),
        })
    }
}

/// Draws one PNG with `paint` on a white canvas.
pub(crate) fn draw(
    path: &Path,
    paint: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> std::result::Result<(), String>,
) -> Result<()> {
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    let bad = |reason: String| RlError::BadFile {
        path: path.to_path_buf(),
        reason: format!("cannot draw the plot: {reason}"),
    };
    root.fill(&WHITE).map_err(|e| bad(e.to_string()))?;
    paint(&root).map_err(bad)?;
    root.present().map_err(|e| bad(e.to_string()))
}

/// One chart of `series` against the step counter, with a legend of the labelled ones.
fn panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    title: &str,
    series: &[Series<'_>],
) -> std::result::Result<(), String> {
    panel_along(area, title, "timestep", series)
}

/// One chart of `series` against an x axis named `x_desc`, with a legend of the labelled ones.
pub(crate) fn panel_along(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    title: &str,
    x_desc: &str,
    series: &[Series<'_>],
) -> std::result::Result<(), String> {
    let finite = |f: fn(&(f64, f64)) -> f64| {
        series
            .iter()
            .flat_map(|s| s.points.iter().filter(|p| p.1.is_finite()).map(f))
            .collect::<Vec<f64>>()
    };
    let (x0, x1) = padded_range(&finite(|p| p.0));
    let (y0, y1) = padded_range(&finite(|p| p.1));
    let text = |size: u32| (FAMILY, size).into_font();
    let mut chart = ChartBuilder::on(area)
        .caption(title, text(20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .label_style(text(13))
        .axis_desc_style(text(14))
        .draw()
        .map_err(|e| e.to_string())?;
    for s in series {
        let style = s.color.stroke_width(s.width);
        let points = s.points.iter().copied().filter(|p| p.1.is_finite());
        let drawn = chart
            .draw_series(LineSeries::new(points, style))
            .map_err(|e| e.to_string())?;
        if !s.label.is_empty() {
            let color = s.color;
            drawn.label(s.label).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
    }
    chart
        .configure_series_labels()
        .label_font(text(13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

/// `[min, max]` of `values` widened by 5% (by 1 when they are all equal; `[0, 1]` when empty).
fn padded_range(values: &[f64]) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 1.0 };
    (lo - pad, hi + pad)
}

#[cfg(test)]
mod tests {
    use super::super::actions::tests::{names, step};
    use super::*;

    #[test]
    fn writes_four_pngs() {
        let dir = tempfile::tempdir().unwrap();
        let steps: Vec<StepLine> = (1..=40)
            .map(|t| step(t, (t % 3) as usize, t as f64 * 0.1))
            .collect();
        let paths = write_plots(&steps, &names(), &RewardConfig::default(), dir.path()).unwrap();
        let files: Vec<String> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files, ["reward.png", "phi_c.png", "ppl.png", "actions.png"]);
        for p in &paths {
            let bytes = std::fs::read(p).unwrap();
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", p.display());
        }
        assert!(
            write_plots(&[], &names(), &RewardConfig::default(), dir.path())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn ranges_are_padded() {
        assert_eq!(padded_range(&[0.0, 10.0]), (-0.5, 10.5));
        assert_eq!(padded_range(&[2.0, 2.0]), (1.0, 3.0));
        assert_eq!(padded_range(&[]), (0.0, 1.0));
    }
}
