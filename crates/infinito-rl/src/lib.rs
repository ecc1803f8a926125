//! Reinforcement learning for infinito.
//!
//! * [`env`]: the small [`Env`] trait every environment implements.
//! * [`ppo`]: PPO with stable-baselines3 semantics ([`Ppo`], [`PpoConfig`], [`evaluate`]).
//! * [`sb3`]: importing stable-baselines3 PPO `.zip` agents ([`Ppo::from_sb3_zip`]).
//! * [`cartpole`]: Gymnasium's CartPole-v1, for validating PPO.
//! * [`scheduler`]: the TEXT/PHI/MIXED training scheduler environment and its reward.
//! * [`session`]: a scheduler training run and its files (metrics, checkpoints, evaluations).
//! * [`analysis`]: reading a scheduler run back: reports, live progress, plots, policy probes.
//! * [`compare`]: budget-matched training under fixed, rule-based and learned schedules.

pub mod analysis;
pub mod cartpole;
pub mod compare;
pub mod env;
pub mod error;
pub mod ppo;
pub mod sb3;
pub mod scheduler;
pub mod session;

pub use cartpole::CartPole;
pub use env::{Env, Transition};
pub use error::{Result, RlError};
pub use ppo::{
    evaluate, Callback, ConfigOverrides, Control, EpisodeSummary, LearnOutcome, NetArch, Ppo,
    PpoConfig, Schedule, StepRecord, UpdateStats,
};
pub use sb3::Sb3Import;
