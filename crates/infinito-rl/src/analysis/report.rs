//! The whole-run report of `analyze_rl`: the run's files read once, every section computed,
//! and the text rendering.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::actions::{action_names, phases, ActionShares, Phase};
use super::episodes::EpisodeReport;
use super::evaluations::EvalReport;
use super::metrics::MetricsReport;
use super::progress::is_finished;
use super::reward::RewardReport;
use super::run_config;
use super::samples::{render_samples, SamplePoint};
use crate::error::{Result, RlError};
use crate::scheduler::SchedulerConfig;
use crate::session::files::{
    read_run_info, read_samples, read_steps, Evaluations, RunInfo, StepLine,
};
use crate::session::summary::clock;

/// A run directory's files, read once.
#[derive(Debug, Clone)]
pub struct RunData {
    /// The run directory.
    pub dir: PathBuf,
    /// Every logged step.
    pub steps: Vec<StepLine>,
    /// The environment configuration (defaults when the run has none).
    pub config: SchedulerConfig,
    /// The action names.
    pub names: Vec<String>,
    /// `run.json`, if present.
    pub info: Option<RunInfo>,
    /// The evaluations (empty when none ran).
    pub evaluations: Evaluations,
}

impl RunData {
    /// Reads the run in `dir`; an error when the directory, its metrics or its steps are
    /// missing.
    pub fn load(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(RlError::BadFile {
                path: dir.to_path_buf(),
                reason: "no such run directory".into(),
            });
        }
        let steps = read_steps(dir)?;
        if steps.is_empty() {
            return Err(RlError::BadFile {
                path: dir.to_path_buf(),
                reason: "no steps logged yet".into(),
            });
        }
        let config = run_config(dir)?;
        let configured: Vec<String> = config.actions.iter().map(|a| a.name.clone()).collect();
        Ok(Self {
            dir: dir.to_path_buf(),
            names: action_names(&configured, &steps),
            info: read_run_info(dir)?,
            evaluations: Evaluations::load(dir)?,
            steps,
            config,
        })
    }
}

/// The run section of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSection {
    /// The run directory.
    pub dir: PathBuf,
    /// Steps logged.
    pub steps: usize,
    /// Step counter of the first logged step.
    pub first_timestep: u64,
    /// Step counter of the last logged step.
    pub last_timestep: u64,
    /// The session's start and target counters (`run.json`).
    pub session: Option<[u64; 2]>,
    /// Seconds from the session's start to its last logged step.
    pub elapsed_seconds: f64,
    /// True when the session wrote its `training_stats.json`.
    pub finished: bool,
}

/// Everything `analyze_rl` reports (and prints as JSON with `--json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunAnalysis {
    /// The run.
    pub run: RunSection,
    /// The action names, in action order.
    pub action_names: Vec<String>,
    /// Actions over every step.
    pub actions: ActionShares,
    /// Actions per phase.
    pub phases: Vec<Phase>,
    /// Reward statistics, curve and trend.
    pub reward: RewardReport,
    /// PHI, C and perplexity.
    pub metrics: MetricsReport,
    /// Episodes that ended.
    pub episodes: EpisodeReport,
    /// The evaluations (`None` when none ran).
    pub evaluations: Option<EvalReport>,
    /// Quality of the text samples over time (`samples.jsonl`; empty without them).
    pub samples: Vec<SamplePoint>,
    /// The plots written (filled in by the caller that writes them).
    pub plots: Vec<PathBuf>,
}

impl RunAnalysis {
    /// The report over `data` with `n_phases` phases and a reward curve of `curve_buckets`
    /// buckets.
    pub fn of(data: &RunData, n_phases: usize, curve_buckets: usize) -> Self {
        let steps = &data.steps;
        Self {
            run: RunSection {
                dir: data.dir.clone(),
                steps: steps.len(),
                first_timestep: steps.first().map_or(0, |s| s.timestep),
                last_timestep: steps.last().map_or(0, |s| s.timestep),
                session: data
                    .info
                    .as_ref()
                    .map(|i| [i.start_timesteps, i.target_timesteps]),
                elapsed_seconds: steps.last().map_or(0.0, |s| s.time),
                finished: is_finished(&data.dir),
            },
            action_names: data.names.clone(),
            actions: ActionShares::of(steps, &data.names),
            phases: phases(steps, &data.names, n_phases),
            reward: RewardReport::of(steps, curve_buckets),
            metrics: MetricsReport::of(steps, &data.config.reward),
            episodes: EpisodeReport::of(steps),
            evaluations: EvalReport::of(&data.evaluations),
            samples: SamplePoint::all(&read_samples(&data.dir)),
            plots: Vec::new(),
        }
    }

    /// The text report, one section after another.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_run(&mut out);
        self.render_actions(&mut out);
        self.render_reward(&mut out);
        self.render_metrics(&mut out);
        self.render_episodes(&mut out);
        match &self.evaluations {
            Some(e) => render_evaluations(e, &mut out),
            None => {
                let _ = writeln!(out, "\n== evaluations ==\nnone yet");
            }
        }
        render_samples(&self.samples, &mut out);
        if !self.plots.is_empty() {
            let _ = writeln!(out, "\n== plots ==");
            for p in &self.plots {
                let _ = writeln!(out, "{}", p.display());
            }
        }
        out
    }

    fn render_run(&self, out: &mut String) {
        let r = &self.run;
        let _ = writeln!(out, "== run ==");
        let _ = writeln!(out, "dir       {}", r.dir.display());
        let _ = writeln!(
            out,
            "steps     {} logged (counter {} to {})",
            r.steps, r.first_timestep, r.last_timestep
        );
        if let Some([start, target]) = r.session {
            let _ = writeln!(out, "session   counter {start} to {target}");
        }
        let state = if r.finished {
            "finished"
        } else {
            "running or stopped"
        };
        let _ = writeln!(out, "elapsed   {} | {state}", clock(r.elapsed_seconds));
    }

    fn render_actions(&self, out: &mut String) {
        let names = &self.action_names;
        let _ = writeln!(out, "\n== actions ==");
        let _ = writeln!(
            out,
            "overall              {}  ({})",
            self.actions.line(names),
            self.actions.remark
        );
        for p in &self.phases {
            let span = format!("{}-{}", p.first_timestep, p.last_timestep);
            let _ = writeln!(
                out,
                "phase {} {span:>13}  {}  ({})",
                p.phase,
                p.actions.line(names),
                p.actions.remark
            );
        }
    }

    fn render_reward(&self, out: &mut String) {
        let r = &self.reward;
        let _ = writeln!(out, "\n== reward ==");
        let _ = writeln!(
            out,
            "per step  {} over {} steps",
            r.stats.brief(),
            r.stats.n
        );
        let _ = writeln!(out, "curve     mean per bucket (bucket ends at step):");
        for p in &r.curve {
            let _ = writeln!(
                out,
                "  {:>10}  {:+.4}  ({} steps)",
                p.timestep, p.mean, p.steps
            );
        }
        let t = &r.trend;
        let slope = t
            .slope_per_1000
            .map_or("n/a".to_string(), |s| format!("{s:+.4}"));
        let direction = match t.slope_per_1000 {
            Some(s) if s > 0.0 => "rising",
            Some(s) if s < 0.0 => "falling",
            _ => "flat",
        };
        let _ = writeln!(out, "trend     {slope} per 1000 steps ({direction})");
        let _ = writeln!(
            out,
            "halves    first {:+.4} | second {:+.4} | change {:+.4}",
            t.first_half_mean, t.second_half_mean, t.change
        );
    }

    fn render_metrics(&self, out: &mut String) {
        let m = &self.metrics;
        let _ = writeln!(out, "\n== phi / C / ppl ==");
        let [lo, hi] = m.phi_band;
        let _ = writeln!(
            out,
            "phi  {}  in band [{lo}, {hi}]: {:.1}% of steps",
            m.phi.brief(),
            m.phi_in_band_percent
        );
        let _ = writeln!(out, "C    {}", m.c.brief());
        let _ = writeln!(
            out,
            "ppl  {}  below {} (collapse): {:.1}% | above {} (confused): {:.1}% of steps",
            m.ppl.brief(),
            m.ppl_band[0],
            m.ppl_below_band_percent,
            m.ppl_band[1],
            m.ppl_above_band_percent
        );
    }

    fn render_episodes(&self, out: &mut String) {
        let e = &self.episodes;
        let _ = writeln!(out, "\n== episodes ==");
        if e.count == 0 {
            let _ = writeln!(out, "none ended");
            return;
        }
        let _ = writeln!(
            out,
            "{} ended: return {} | length {:.1} | last 10 {:+.4}",
            e.count,
            e.returns.brief(),
            e.lengths.mean,
            e.last_10_mean
        );
    }
}

pub(crate) fn render_evaluations(e: &EvalReport, out: &mut String) {
    let _ = writeln!(out, "\n== evaluations ==");
    for p in &e.evaluations {
        let change = p.change.map_or(String::new(), |c| format!("{c:+.4}"));
        let episodes: Vec<String> = p.episodes.iter().map(|r| format!("{r:.3}")).collect();
        let _ = writeln!(
            out,
            "step {:>8}  {}  {change:>8} {}  episodes [{}]",
            p.timestep,
            p.returns.brief(),
            p.mark(),
            episodes.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "best       step {} mean {:+.4} (evaluation {} of {})",
        e.best.timestep,
        e.best.mean,
        e.best.index + 1,
        e.evaluations.len()
    );
    let s = &e.stability;
    let _ = writeln!(
        out,
        "stability  means {} | mean within-eval std {:.4} | most stable step {}, least stable step {} | variability {}",
        s.means.brief(),
        s.mean_within_std,
        s.most_stable_timestep,
        s.least_stable_timestep,
        e.variability
    );
    let change = e
        .half_change_percent
        .map_or("n/a".to_string(), |c| format!("{c:+.1}%"));
    let _ = writeln!(
        out,
        "halves     first {:+.4} | second {:+.4} | change {change}",
        e.first_half_mean, e.second_half_mean
    );
    if e.overfitting_warning {
        let _ = writeln!(
            out,
            "warning    the best evaluation is not the last: possible overfitting (use best_model/)"
        );
    }
    let _ = writeln!(out, "verdict    {} (best mean on the original reward scale: >7 excellent, >5 good, >0 acceptable)", e.verdict);
}
