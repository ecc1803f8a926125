//! The callback of a scheduler session: per-step metrics log, progress bar, periodic
//! summaries, checkpoints, evaluations with the best model, and Ctrl+C.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Map, Value};

use super::board::SessionBoard;
use super::checkpoint::save_checkpoint;
use super::files::{
    io_error, Evaluations, SampleLine, BEST_DIR, CHECKPOINT_DIR, EVAL_DIR, SAMPLES_FILE,
};
use super::summary::{Progress, StepWindow};
use super::SessionOptions;
use crate::error::Result;
use crate::ppo::{evaluate, Callback, Control, Ppo, StepRecord, UpdateStats};
use crate::scheduler::{SampleSettings, SchedulerEnv, SAMPLE_PROMPTS};

/// Everything the session does between environment steps.
pub(crate) struct SessionCallback<'a> {
    pub env: Rc<RefCell<SchedulerEnv>>,
    pub options: &'a SessionOptions,
    pub names: Vec<String>,
    pub start_timesteps: u64,
    pub started: Instant,
    pub metrics: BufWriter<File>,
    pub metrics_path: PathBuf,
    pub updates: BufWriter<File>,
    pub updates_path: PathBuf,
    pub window: StepWindow,
    pub totals: StepWindow,
    pub evaluations: Evaluations,
    pub best_mean: f64,
    pub bar: ProgressBar,
    pub board: Option<SessionBoard>,
    /// Decisions per action since the last text sample.
    pub since_sample: Vec<u64>,
}

impl SessionCallback<'_> {
    /// A progress bar over `total` steps (hidden when progress is off).
    pub fn bar(total: u64, show: bool) -> ProgressBar {
        if !show {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} steps | {elapsed_precise} | ETA {eta_precise} | {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    }

    /// Prints a line above the progress bar (plainly when the bar is hidden).
    fn say(&self, line: &str) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    fn done(&self, agent: &Ppo) -> u64 {
        agent.num_timesteps().saturating_sub(self.start_timesteps)
    }

    fn progress(&self, agent: &Ppo) -> Progress {
        Progress {
            done: self.done(agent),
            total: self.options.timesteps,
            num_timesteps: agent.num_timesteps(),
            elapsed: self.started.elapsed().as_secs_f64(),
        }
    }

    fn log_step(&mut self, record: &StepRecord<'_>) -> Result<()> {
        let env = self.env.borrow();
        let mut line: Map<String, Value> = record
            .info
            .iter()
            .map(|(k, v)| (k.clone(), json!(v.is_finite().then_some(*v))))
            .collect();
        line.insert("timestep".into(), json!(record.num_timesteps));
        for key in ["episode", "episode_step"] {
            if let Some(v) = record.info.get(key) {
                line.insert(key.into(), json!(*v as u64));
            }
        }
        line.insert("action".into(), json!(record.action));
        line.insert("mode".into(), json!(env.action_name(record.action)));
        line.insert("reward".into(), json!(record.reward));
        line.insert("truncated".into(), json!(record.truncated));
        line.insert("time".into(), json!(self.started.elapsed().as_secs_f64()));
        if let Some(ep) = &record.episode {
            line.insert("episode_return".into(), json!(ep.total_reward));
            line.insert("episode_length".into(), json!(ep.length));
        }
        writeln!(self.metrics, "{}", Value::Object(line))
            .and_then(|()| self.metrics.flush())
            .map_err(|e| io_error(&self.metrics_path, e))
    }

    /// Appends text samples of the model on the fixed prompts to `samples.jsonl`.
    fn sample(&mut self, agent: &Ppo) -> Result<()> {
        let set = self
            .env
            .borrow_mut()
            .sample(&SAMPLE_PROMPTS, SampleSettings::default())?;
        let total: u64 = self.since_sample.iter().sum();
        let line = SampleLine {
            timestep: agent.num_timesteps(),
            samples: set.samples,
            quality: serde_json::to_value(&set.quality).unwrap_or(Value::Null),
            action_shares: self
                .names
                .iter()
                .zip(&self.since_sample)
                .map(|(n, &c)| (n.clone(), 100.0 * c as f64 / total.max(1) as f64))
                .collect(),
        };
        self.since_sample.iter_mut().for_each(|c| *c = 0);
        let path = self.options.output.join(SAMPLES_FILE);
        let text = serde_json::to_string(&line).unwrap_or_default();
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{text}"))
            .map_err(|e| io_error(&path, e))
    }

    fn checkpoint(&self, agent: &Ppo) -> Result<()> {
        let name = format!(
            "{}_{}_steps",
            self.options.checkpoint_prefix,
            agent.num_timesteps()
        );
        let dir = self.options.output.join(CHECKPOINT_DIR).join(name);
        save_checkpoint(&dir, agent, &self.env.borrow())?;
        self.say(&format!("checkpoint: {}", dir.display()));
        if let Some(keep) = self.options.keep_last {
            super::retention::prune(&self.options.output, keep, self.options.keep_every)?;
        }
        Ok(())
    }

    /// Plays the evaluation episodes on a copy of the environment's state, then restores it.
    fn evaluate(&mut self, agent: &Ppo) -> Result<()> {
        let episodes = {
            let mut env = self.env.borrow_mut();
            let saved = env.save_state()?;
            let episodes = evaluate(agent, &mut *env, self.options.n_eval_episodes, true);
            env.restore_state(&saved)?;
            episodes?
        };
        let returns: Vec<f64> = episodes.iter().map(|e| e.total_reward).collect();
        let mean = super::files::mean(&returns);
        self.evaluations.timesteps.push(agent.num_timesteps());
        self.evaluations.results.push(returns);
        self.evaluations
            .ep_lengths
            .push(episodes.iter().map(|e| e.length).collect());
        self.evaluations.save(&self.options.output.join(EVAL_DIR))?;
        if let Some(board) = &mut self.board {
            let lengths: Vec<f64> = episodes.iter().map(|e| e.length as f64).collect();
            board.evaluation(agent.num_timesteps(), mean, super::files::mean(&lengths))?;
        }
        let mut line = format!(
            "eval at {}: mean return {mean:+.4} over {} episodes",
            agent.num_timesteps(),
            episodes.len()
        );
        if mean > self.best_mean {
            self.best_mean = mean;
            save_checkpoint(
                &self.options.output.join(BEST_DIR),
                agent,
                &self.env.borrow(),
            )?;
            line.push_str(" | new best");
        }
        self.say(&line);
        Ok(())
    }
}

impl Callback for SessionCallback<'_> {
    fn on_step(&mut self, agent: &Ppo, record: &StepRecord<'_>) -> Result<Control> {
        self.log_step(record)?;
        if let Some(board) = &mut self.board {
            board.step(record)?;
        }
        let get = |k: &str| record.info.get(k).copied().unwrap_or(f64::NAN);
        for w in [&mut self.window, &mut self.totals] {
            w.add(
                record.action,
                record.reward,
                get("phi"),
                get("c"),
                get("ppl"),
            );
            if let Some(ep) = &record.episode {
                w.add_episode(ep.total_reward, ep.length);
            }
        }
        let done = self.done(agent);
        self.bar.set_position(done);
        let shares = self.totals.action_shares();
        let mix: Vec<String> = self
            .names
            .iter()
            .zip(&shares)
            .map(|(n, s)| format!("{n} {s:.0}%"))
            .collect();
        self.bar.set_message(format!(
            "reward {:+.3} | {}",
            self.window.mean_reward(),
            mix.join(" ")
        ));
        let every = |freq: u64| freq > 0 && done.is_multiple_of(freq);
        if every(self.options.log_freq) && !self.window.is_empty() {
            let report = self.window.report(
                &self.names,
                &self.progress(agent),
                &self.env.borrow().config().reward,
            );
            self.say(report.trim_end());
            self.window = StepWindow::new(self.names.len());
        }
        if let Some(count) = self.since_sample.get_mut(record.action) {
            *count += 1;
        }
        if every(self.options.sample_every) {
            self.sample(agent)?;
        }
        if every(self.options.save_freq) {
            self.checkpoint(agent)?;
        }
        if every(self.options.eval_freq) {
            self.evaluate(agent)?;
        }
        if self.options.stop.load(Ordering::SeqCst) {
            return Ok(Control::Stop);
        }
        Ok(Control::Continue)
    }

    fn on_update(&mut self, _agent: &Ppo, stats: &UpdateStats) -> Result<()> {
        if let Some(board) = &mut self.board {
            board.update(stats)?;
        }
        let line = serde_json::to_string(stats).unwrap_or_default();
        writeln!(self.updates, "{line}")
            .and_then(|()| self.updates.flush())
            .map_err(|e| io_error(&self.updates_path, e))
    }
}
