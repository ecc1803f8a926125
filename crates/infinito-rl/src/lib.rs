//! Reinforcement learning for infinito.
//!
//! * [`env`]: the small [`Env`] trait every environment implements.

pub mod env;
pub mod error;

pub use env::{Env, Transition};
pub use error::{Result, RlError};
