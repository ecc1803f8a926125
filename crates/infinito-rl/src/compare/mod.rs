//! Budget-matched training under different schedules (`compare_schedules`): each run starts
//! from the same model state, makes the same number of decisions of `inner_steps` optimizer
//! updates through the scheduler environment, and is measured on held-out data.

mod plots;
mod policy;
mod stats;

use std::collections::BTreeMap;

use infinito_model::quality::{Quality, REPORT_PROMPTS};
use serde::Serialize;

pub use plots::write_compare_plots;
pub use policy::{ActionIndex, Chooser, Policy};
pub use stats::Estimate;

use crate::env::Env;
use crate::error::Result;
use crate::scheduler::{EnvState, SampleSettings, SchedulerEnv};

/// How long each run trains and how it is measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompareOptions {
    /// Agent decisions per run (each of the environment's `inner_steps` updates).
    pub decisions: usize,
    /// Validation batches of the final measurement.
    pub eval_batches: usize,
    /// Validation batches measured after every decision (the curves of the plots).
    pub trace_batches: usize,
    /// Generation settings of the quality measures.
    pub samples: SampleSettings,
}

/// Held-out measures after decision `decision` (0: the start).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TracePoint {
    pub decision: usize,
    pub val_ppl: f64,
    pub phi: f64,
}

/// What one (policy, seed) run produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResult {
    pub policy: String,
    pub seed: u64,
    pub val_lm_loss: f64,
    pub val_ppl: f64,
    /// Mean PHI on the held-out batches at the end.
    pub phi_mean: f64,
    /// Share of decisions after which the step's PHI was inside the band.
    pub phi_in_band: f64,
    /// Total environment reward.
    pub reward: f64,
    /// Decisions per action name.
    pub actions: BTreeMap<String, usize>,
    /// Generation quality on the report's prompts at the end.
    pub quality: Quality,
    /// Held-out perplexity and PHI after each decision.
    pub trace: Vec<TracePoint>,
}

/// Runs `chooser` for `options.decisions` decisions from `start` with data order `seed`.
/// The environment continues across episode boundaries (it must be built with
/// `episode_reset = continue`), so the whole budget trains one model.
pub fn run_schedule(
    env: &mut SchedulerEnv,
    start: &EnvState,
    chooser: &mut Chooser<'_>,
    name: &str,
    seed: u64,
    options: &CompareOptions,
) -> Result<RunResult> {
    env.restore_state(start)?;
    let mut obs = env.reset(Some(seed))?;
    let band = env.config().model.phi_band.0;
    let names: Vec<String> = (0..env.n_actions())
        .map(|a| env.action_name(a).to_string())
        .collect();
    let mut counts = vec![0usize; names.len()];
    let (mut reward, mut in_band) = (0.0, 0usize);
    let mut trace = vec![trace_point(env, 0, options.trace_batches)?];
    for decision in 0..options.decisions {
        let action = chooser.choose(decision, &obs, env.current_phi())?;
        let transition = env.step(action)?;
        reward += transition.reward;
        counts[action] += 1;
        let phi = env.current_phi();
        in_band += usize::from(phi >= band[0] && phi <= band[1]);
        trace.push(trace_point(env, decision + 1, options.trace_batches)?);
        obs = if transition.done() {
            env.reset(None)?
        } else {
            transition.observation
        };
    }
    let end = env.validation(options.eval_batches)?;
    let samples = env.sample(&REPORT_PROMPTS, options.samples)?;
    Ok(RunResult {
        policy: name.to_string(),
        seed,
        val_lm_loss: end.lm_loss,
        val_ppl: end.lm_loss.exp(),
        phi_mean: end.phi,
        phi_in_band: in_band as f64 / options.decisions.max(1) as f64,
        reward,
        actions: names.into_iter().zip(counts).collect(),
        quality: samples.quality,
        trace,
    })
}

fn trace_point(env: &mut SchedulerEnv, decision: usize, batches: usize) -> Result<TracePoint> {
    let v = env.validation(batches)?;
    Ok(TracePoint {
        decision,
        val_ppl: v.lm_loss.exp(),
        phi: v.phi,
    })
}

/// One policy's runs over all seeds, summarised (the `--json` object's `policies` entries).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicySummary {
    pub name: String,
    pub runs: usize,
    pub val_ppl: Estimate,
    pub val_lm_loss: Estimate,
    pub phi_mean: Estimate,
    pub phi_in_band: Estimate,
    pub reward: Estimate,
    /// Mean share of decisions per action.
    pub actions: BTreeMap<String, f64>,
    /// `distinct_2`, `repeated_3gram_rate` and `continuation_ppl`.
    pub quality: BTreeMap<String, Estimate>,
}

/// The quality measures reported, by name.
fn quality_measures(q: &Quality) -> [(&'static str, f64); 3] {
    let v = |x: Option<f64>| x.unwrap_or(f64::NAN);
    [
        ("distinct_2", v(q.distinct_2)),
        ("repeated_3gram_rate", v(q.repeated_ngram_rate)),
        ("continuation_ppl", v(q.perplexity)),
    ]
}

impl PolicySummary {
    /// Summarises `runs` (all of one policy).
    pub fn of(name: &str, runs: &[&RunResult]) -> Self {
        let field = |f: fn(&RunResult) -> f64| -> Estimate {
            Estimate::of(&runs.iter().map(|r| f(r)).collect::<Vec<_>>())
        };
        let mut actions = BTreeMap::new();
        for r in runs {
            let total: usize = r.actions.values().sum();
            for (a, n) in &r.actions {
                *actions.entry(a.clone()).or_insert(0.0) +=
                    *n as f64 / total.max(1) as f64 / runs.len() as f64;
            }
        }
        let quality = ["distinct_2", "repeated_3gram_rate", "continuation_ppl"]
            .into_iter()
            .enumerate()
            .map(|(i, measure)| {
                let values: Vec<f64> = runs
                    .iter()
                    .map(|r| quality_measures(&r.quality)[i].1)
                    .collect();
                (measure.to_string(), Estimate::of(&values))
            })
            .collect();
        Self {
            name: name.to_string(),
            runs: runs.len(),
            val_ppl: field(|r| r.val_ppl),
            val_lm_loss: field(|r| r.val_lm_loss),
            phi_mean: field(|r| r.phi_mean),
            phi_in_band: field(|r| r.phi_in_band),
            reward: field(|r| r.reward),
            actions,
            quality,
        }
    }
}

/// The paired difference of one measure between two policies over the same seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairedDifference {
    /// The policy measured first.
    pub policy: String,
    /// The policy it is compared with.
    pub versus: String,
    /// `val_ppl`, `phi_in_band` or `reward`.
    pub measure: String,
    /// `policy − versus`, over the seeds both ran.
    pub difference: Estimate,
}

/// One number of a run.
type Measure = fn(&RunResult) -> f64;

/// Paired differences of `policy` against every other policy in `runs`, on validation
/// perplexity, the in-band share and the reward.
pub fn paired_differences(runs: &[RunResult], policy: &str) -> Vec<PairedDifference> {
    let of = |name: &str| -> BTreeMap<u64, &RunResult> {
        runs.iter()
            .filter(|r| r.policy == name)
            .map(|r| (r.seed, r))
            .collect()
    };
    let mine = of(policy);
    let mut others: Vec<&str> = Vec::new();
    for r in runs {
        if !others.contains(&r.policy.as_str()) {
            others.push(&r.policy);
        }
    }
    let mut out = Vec::new();
    for other in others.into_iter().filter(|o| *o != policy) {
        let theirs = of(other);
        let pairs: Vec<(&RunResult, &RunResult)> = mine
            .iter()
            .filter_map(|(s, a)| theirs.get(s).map(|b| (*a, *b)))
            .collect();
        let measures: [(&str, Measure); 3] = [
            ("val_ppl", |r| r.val_ppl),
            ("phi_in_band", |r| r.phi_in_band),
            ("reward", |r| r.reward),
        ];
        for (measure, f) in measures {
            let a: Vec<f64> = pairs.iter().map(|(a, _)| f(a)).collect();
            let b: Vec<f64> = pairs.iter().map(|(_, b)| f(b)).collect();
            out.push(PairedDifference {
                policy: policy.to_string(),
                versus: other.to_string(),
                measure: measure.to_string(),
                difference: Estimate::paired(&a, &b),
            });
        }
    }
    out
}
