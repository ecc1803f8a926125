//! What [`Ppo::learn`](super::Ppo::learn) reports to its caller while it runs.

use super::agent::Ppo;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A finished episode: the sum of its rewards and its number of steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpisodeSummary {
    /// Sum of the episode's rewards (undiscounted, without bootstrap values).
    pub total_reward: f64,
    /// Number of steps.
    pub length: u64,
}

/// One environment step during learning.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord<'a> {
    /// The agent's step counter after this step.
    pub num_timesteps: u64,
    /// The action taken.
    pub action: usize,
    /// The environment's reward.
    pub reward: f64,
    /// The episode ended in a terminal state.
    pub terminated: bool,
    /// The episode was cut by a time limit.
    pub truncated: bool,
    /// The step's info numbers.
    pub info: &'a BTreeMap<String, f64>,
    /// The episode this step ended, if it ended one.
    pub episode: Option<EpisodeSummary>,
}

/// Whether learning goes on after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Keep learning.
    Continue,
    /// Stop now: `learn` returns [`LearnOutcome::Interrupted`] without updating on the
    /// partial rollout.
    Stop,
}

/// How a `learn` call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnOutcome {
    /// The step counter reached the target.
    Completed,
    /// A callback asked to stop.
    Interrupted,
}

/// Statistics of one PPO update (SB3's `train/*` log entries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateStats {
    /// Step counter at the update.
    pub num_timesteps: u64,
    /// Gradient epochs run so far (SB3's `n_updates`).
    pub n_updates: u64,
    /// Epochs run in this update (fewer than `n_epochs` when `target_kl` stopped it).
    pub epochs: usize,
    /// Learning rate used.
    pub learning_rate: f64,
    /// Clip range used.
    pub clip_range: f64,
    /// Value clip range used, if any.
    pub clip_range_vf: Option<f64>,
    /// Entropy coefficient used.
    #[serde(default)]
    pub ent_coef: f64,
    /// Gradient-norm clip used.
    #[serde(default)]
    pub max_grad_norm: f64,
    /// Steps of the rollout this update learned from.
    #[serde(default)]
    pub n_steps: usize,
    /// Mean of `-entropy` over all minibatches.
    pub entropy_loss: f64,
    /// Mean clipped-surrogate loss over all minibatches.
    pub policy_gradient_loss: f64,
    /// Mean value loss over all minibatches.
    pub value_loss: f64,
    /// Mean approximate KL divergence over the last epoch's minibatches.
    pub approx_kl: f64,
    /// Mean fraction of ratios outside the clip range over all minibatches.
    pub clip_fraction: f64,
    /// Total loss of the last minibatch.
    pub loss: f64,
    /// `1 - Var(returns - values) / Var(returns)` over the rollout; `None` if the returns are
    /// constant.
    pub explained_variance: Option<f64>,
}

/// Hooks called by [`Ppo::learn`](super::Ppo::learn). Both default to doing nothing.
pub trait Callback {
    /// Called after every environment step (the environment already reset if the episode
    /// ended), with the agent in its state after the step.
    fn on_step(&mut self, agent: &Ppo, record: &StepRecord<'_>) -> Result<Control> {
        let _ = (agent, record);
        Ok(Control::Continue)
    }

    /// Called after every update.
    fn on_update(&mut self, agent: &Ppo, stats: &UpdateStats) -> Result<()> {
        let _ = (agent, stats);
        Ok(())
    }
}

/// No callback.
impl Callback for () {}
