//! Gymnasium's `CartPole-v1`: the classic cart-pole with Euler integration and a 500-step
//! time limit, for validating PPO.

use crate::env::{Env, Transition};
use crate::error::{Result, RlError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

const GRAVITY: f64 = 9.8;
const MASS_CART: f64 = 1.0;
const MASS_POLE: f64 = 0.1;
const TOTAL_MASS: f64 = MASS_CART + MASS_POLE;
/// Half the pole's length.
const LENGTH: f64 = 0.5;
const POLE_MASS_LENGTH: f64 = MASS_POLE * LENGTH;
const FORCE_MAG: f64 = 10.0;
/// Seconds between state updates.
const TAU: f64 = 0.02;
/// The pole falls beyond 12 degrees.
const THETA_THRESHOLD: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
/// The cart leaves the track beyond 2.4.
const X_THRESHOLD: f64 = 2.4;
/// `CartPole-v1`'s `max_episode_steps`.
pub const MAX_EPISODE_STEPS: u64 = 500;

/// CartPole-v1 with Gymnasium's exact dynamics: state `(x, x_dot, theta, theta_dot)` in f64,
/// observations in f32, action 0 pushes left and 1 right, reward 1 per step (the terminating
/// step included), terminated when the pole passes ±12° or the cart ±2.4, truncated at 500
/// steps. Reset draws each state variable uniformly from [-0.05, 0.05).
///
/// Gymnasium's random generator is not reproduced: equal seeds give equal episodes here, but
/// not the ones Gymnasium draws for that seed.
#[derive(Debug, Clone)]
pub struct CartPole {
    state: [f64; 4],
    steps: u64,
    /// The episode ended and `reset` has not been called since.
    finished: bool,
    rng: ChaCha8Rng,
}

impl CartPole {
    /// A cart-pole whose resets draw from `seed` (until `reset(Some(..))` reseeds it). Call
    /// [`Env::reset`] before the first step.
    pub fn new(seed: u64) -> Self {
        Self {
            state: [0.0; 4],
            steps: 0,
            finished: true,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The physical state `(x, x_dot, theta, theta_dot)`.
    pub fn state(&self) -> [f64; 4] {
        self.state
    }

    /// Starts a new episode from a given state (as assigning Gymnasium's `env.unwrapped.state`
    /// right after a reset).
    pub fn reset_to(&mut self, state: [f64; 4]) -> Vec<f32> {
        self.state = state;
        self.steps = 0;
        self.finished = false;
        self.observation()
    }

    fn observation(&self) -> Vec<f32> {
        self.state.iter().map(|&v| v as f32).collect()
    }
}

impl Env for CartPole {
    fn observation_dim(&self) -> usize {
        4
    }

    fn n_actions(&self) -> usize {
        2
    }

    fn reset(&mut self, seed: Option<u64>) -> Result<Vec<f32>> {
        if let Some(seed) = seed {
            self.rng = ChaCha8Rng::seed_from_u64(seed);
        }
        let state = std::array::from_fn(|_| self.rng.random_range(-0.05..0.05));
        Ok(self.reset_to(state))
    }

    fn step(&mut self, action: usize) -> Result<Transition> {
        if action > 1 {
            return Err(RlError::Env(format!(
                "CartPole action {action}, expected 0 (left) or 1 (right)"
            )));
        }
        if self.finished {
            return Err(RlError::Env(
                "CartPole step without a running episode: call reset first".to_string(),
            ));
        }
        let [x, x_dot, theta, theta_dot] = self.state;
        let force = if action == 1 { FORCE_MAG } else { -FORCE_MAG };
        let (sin, cos) = theta.sin_cos();
        let temp = (force + POLE_MASS_LENGTH * theta_dot * theta_dot * sin) / TOTAL_MASS;
        let theta_acc = (GRAVITY * sin - cos * temp)
            / (LENGTH * (4.0 / 3.0 - MASS_POLE * cos * cos / TOTAL_MASS));
        let x_acc = temp - POLE_MASS_LENGTH * theta_acc * cos / TOTAL_MASS;
        self.state = [
            x + TAU * x_dot,
            x_dot + TAU * x_acc,
            theta + TAU * theta_dot,
            theta_dot + TAU * theta_acc,
        ];
        self.steps += 1;
        let [x, _, theta, _] = self.state;
        let terminated = !(-X_THRESHOLD..=X_THRESHOLD).contains(&x)
            || !(-THETA_THRESHOLD..=THETA_THRESHOLD).contains(&theta);
        let truncated = self.steps >= MAX_EPISODE_STEPS;
        self.finished = terminated || truncated;
        Ok(Transition {
            observation: self.observation(),
            reward: 1.0,
            terminated,
            truncated,
            info: BTreeMap::new(),
        })
    }
}
