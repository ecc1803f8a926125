//! TensorBoard scalars of a scheduler session in `<output>/tensorboard/`: the agent under
//! stable-baselines3's tag names (`rollout/*`, `train/*`, `time/fps`, `eval/*`), the model and
//! the reward under `infinito/*`.

use std::collections::VecDeque;
use std::path::Path;
use std::time::Instant;

use infinito_train::tensorboard::{EventWriter, TENSORBOARD_DIR};

use crate::error::Result;
use crate::ppo::{StepRecord, UpdateStats};

/// Episodes in the `rollout/ep_*_mean` window (SB3's `stats_window_size`).
const EPISODE_WINDOW: usize = 100;

/// Info keys that are counters or settings rather than measurements.
const NOT_LOGGED: [&str; 5] = ["episode", "episode_step", "skipped", "w_text", "w_phi"];

/// The event file of a session and what its rollout-level scalars need.
#[derive(Debug)]
pub(crate) struct SessionBoard {
    writer: EventWriter,
    names: Vec<String>,
    episodes: VecDeque<(f64, u64)>,
    rollout_actions: Vec<u64>,
    start_timesteps: u64,
    started: Instant,
}

impl SessionBoard {
    /// A new event file in `<output>/tensorboard/` for a session starting at `start_timesteps`.
    pub fn create(output: &Path, names: Vec<String>, start_timesteps: u64) -> Result<Self> {
        Ok(Self {
            writer: EventWriter::create(&output.join(TENSORBOARD_DIR))?,
            rollout_actions: vec![0; names.len()],
            names,
            episodes: VecDeque::new(),
            start_timesteps,
            started: Instant::now(),
        })
    }

    /// `infinito/<info key>` (`ppl` as `infinito/perplexity`, reward terms `r_<name>` as
    /// `infinito/reward/<name>`) and `infinito/reward` of one step.
    pub fn step(&mut self, record: &StepRecord<'_>) -> Result<()> {
        if let Some(count) = self.rollout_actions.get_mut(record.action) {
            *count += 1;
        }
        if let Some(ep) = &record.episode {
            if self.episodes.len() == EPISODE_WINDOW {
                self.episodes.pop_front();
            }
            self.episodes.push_back((ep.total_reward, ep.length));
        }
        let mut tags: Vec<(String, f64)> = record
            .info
            .iter()
            .filter(|(k, _)| !NOT_LOGGED.contains(&k.as_str()))
            .map(|(k, v)| {
                let tag = match (k.as_str(), k.strip_prefix("r_")) {
                    ("ppl", _) => "infinito/perplexity".to_string(),
                    (_, Some(term)) => format!("infinito/reward/{term}"),
                    _ => format!("infinito/{k}"),
                };
                (tag, *v)
            })
            .collect();
        tags.push(("infinito/reward".into(), record.reward));
        self.writer.scalars(
            record.num_timesteps,
            tags.iter().map(|(k, v)| (k.as_str(), *v)),
        )?;
        Ok(self.writer.flush()?)
    }

    /// SB3's rollout and train scalars of an update, and the action shares of its rollout
    /// (`infinito/action_share/<NAME>`, percent).
    pub fn update(&mut self, stats: &UpdateStats) -> Result<()> {
        let step = stats.num_timesteps;
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-9);
        let fps = (step.saturating_sub(self.start_timesteps) as f64 / elapsed).floor();
        let mut tags: Vec<(String, f64)> = vec![
            ("time/fps".into(), fps),
            ("train/approx_kl".into(), stats.approx_kl),
            ("train/clip_fraction".into(), stats.clip_fraction),
            ("train/clip_range".into(), stats.clip_range),
            ("train/entropy_loss".into(), stats.entropy_loss),
            (
                "train/policy_gradient_loss".into(),
                stats.policy_gradient_loss,
            ),
            ("train/value_loss".into(), stats.value_loss),
            ("train/learning_rate".into(), stats.learning_rate),
            ("train/loss".into(), stats.loss),
            ("train/n_updates".into(), stats.n_updates as f64),
        ];
        if let Some(ev) = stats.explained_variance {
            tags.push(("train/explained_variance".into(), ev));
        }
        if !self.episodes.is_empty() {
            let n = self.episodes.len() as f64;
            let reward = self.episodes.iter().map(|e| e.0).sum::<f64>() / n;
            let length = self.episodes.iter().map(|e| e.1 as f64).sum::<f64>() / n;
            tags.push(("rollout/ep_rew_mean".into(), reward));
            tags.push(("rollout/ep_len_mean".into(), length));
        }
        let total: u64 = self.rollout_actions.iter().sum();
        if total > 0 {
            for (name, count) in self.names.iter().zip(&self.rollout_actions) {
                let share = 100.0 * *count as f64 / total as f64;
                tags.push((format!("infinito/action_share/{name}"), share));
            }
        }
        self.rollout_actions.iter_mut().for_each(|c| *c = 0);
        self.writer
            .scalars(step, tags.iter().map(|(k, v)| (k.as_str(), *v)))?;
        Ok(self.writer.flush()?)
    }

    /// EvalCallback's `eval/mean_reward` and `eval/mean_ep_length`.
    pub fn evaluation(&mut self, step: u64, mean_reward: f64, mean_length: f64) -> Result<()> {
        self.writer.scalars(
            step,
            [
                ("eval/mean_reward", mean_reward),
                ("eval/mean_ep_length", mean_length),
            ],
        )?;
        Ok(self.writer.flush()?)
    }
}
