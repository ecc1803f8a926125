//! Reinforcement learning for infinito.
//!
//! * [`env`](mod@env): the small [`Env`] trait every environment implements.
//! * [`ppo`]: PPO with stable-baselines3 semantics ([`Ppo`], [`PpoConfig`], [`evaluate`]).
//! * [`sb3`]: importing stable-baselines3 PPO `.zip` agents ([`Ppo::from_sb3_zip`]).
//! * [`cartpole`]: Gymnasium's CartPole-v1, for validating PPO.
//! * [`scheduler`]: the TEXT/PHI/MIXED training scheduler environment and its reward.
//! * [`session`]: a scheduler training run and its files (metrics, checkpoints, evaluations).
//! * [`analysis`]: reading a scheduler run back: reports, live progress, plots, policy probes;
//!   and the original's run folders (stable-baselines3 checkpoints, `evaluations.npz`).
//! * [`compare`]: budget-matched training under fixed, rule-based and learned schedules.
//!
//! # Example
//!
//! PPO on CartPole-v1 for one short rollout, then the policy's answer to an observation:
//!
//! ```
//! use infinito_rl::{CartPole, Env, Ppo, PpoConfig};
//!
//! let mut env = CartPole::new(0);
//! let config = PpoConfig { n_steps: 64, batch_size: 32, n_epochs: 2, ..PpoConfig::default() };
//! let mut agent = Ppo::new(env.observation_dim(), env.n_actions(), config, 42)?;
//! agent.learn(&mut env, 64, &mut ())?;
//! assert_eq!(agent.num_timesteps(), 64);
//! let probs = agent.action_probs(&[0.0, 0.0, 0.05, 0.0])?;
//! assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
