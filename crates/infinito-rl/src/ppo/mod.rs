//! PPO with stable-baselines3 semantics for one environment with discrete actions.
//!
//! * [`Ppo`]: the agent. [`Ppo::new`], [`Ppo::learn`] (rollouts + updates until an absolute
//!   step target, reporting to a [`Callback`]), [`Ppo::predict`], [`Ppo::action_probs`],
//!   [`Ppo::value`], [`Ppo::save`] / [`Ppo::load`] (exact resume), hyper-parameter setters.
//! * [`evaluate`]: whole evaluation episodes.
//! * [`PpoConfig`] with [`Schedule`]s for the learning rate and clip ranges.
//!
//! The networks run in plain `f32` (matrix products through the `gemm` crate) with a
//! hand-written backward pass; the loss, gradient clipping and Adam follow torch's formulas.

mod adam;
mod agent;
mod buffer;
mod callback;
mod categorical;
mod config;
mod evaluate;
mod init;
mod learn;
mod linalg;
mod loss;
mod mlp;
mod network;
mod persist;
mod update;

pub use agent::Ppo;
pub use callback::{Callback, Control, EpisodeSummary, LearnOutcome, StepRecord, UpdateStats};
pub use config::{ConfigOverrides, NetArch, PpoConfig, Schedule};
pub use evaluate::evaluate;
pub(crate) use persist::copy_tensors;
pub use persist::AGENT_FORMAT;
