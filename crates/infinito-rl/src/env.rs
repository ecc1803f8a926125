//! The environment interface (Gymnasium's, reduced to what PPO needs).

use crate::error::Result;
use std::collections::BTreeMap;

/// What one [`Env::step`] returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The observation after the step (length [`Env::observation_dim`]).
    pub observation: Vec<f32>,
    /// The reward of the step.
    pub reward: f64,
    /// The episode ended in a terminal state (no value to bootstrap).
    pub terminated: bool,
    /// The episode was cut by a time limit (the value of `observation` is bootstrapped).
    pub truncated: bool,
    /// Named numbers describing the step (logged by callers; empty if the env has none).
    pub info: BTreeMap<String, f64>,
}

impl Transition {
    /// True when the episode is over, for either reason.
    pub fn done(&self) -> bool {
        self.terminated || self.truncated
    }
}

/// An episodic environment with a discrete action space and a flat `f32` observation.
pub trait Env {
    /// Length of every observation.
    fn observation_dim(&self) -> usize;

    /// Number of discrete actions (`0..n_actions`).
    fn n_actions(&self) -> usize;

    /// Starts a new episode and returns its first observation. `Some(seed)` reseeds the
    /// environment's randomness (as Gymnasium's `reset(seed=...)`); `None` continues it.
    fn reset(&mut self, seed: Option<u64>) -> Result<Vec<f32>>;

    /// Applies `action` (must be `< n_actions`).
    fn step(&mut self, action: usize) -> Result<Transition>;
}
