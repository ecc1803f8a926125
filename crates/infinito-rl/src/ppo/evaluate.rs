//! Evaluation episodes (SB3's `evaluate_policy`).

use super::agent::Ppo;
use super::callback::EpisodeSummary;
use crate::env::Env;
use crate::error::Result;

/// Plays `n_episodes` whole episodes with the agent's policy (argmax actions if
/// `deterministic`) and returns each one's total reward and length.
///
/// Each episode starts with `env.reset(None)`; the agent is not changed (stochastic actions
/// use its prediction generator).
pub fn evaluate<E: Env + ?Sized>(
    agent: &Ppo,
    env: &mut E,
    n_episodes: usize,
    deterministic: bool,
) -> Result<Vec<EpisodeSummary>> {
    agent.check_env(env)?;
    let mut episodes = Vec::with_capacity(n_episodes);
    for _ in 0..n_episodes {
        let mut obs = env.reset(None)?;
        let mut summary = EpisodeSummary {
            total_reward: 0.0,
            length: 0,
        };
        loop {
            let transition = env.step(agent.predict(&obs, deterministic)?)?;
            summary.total_reward += transition.reward;
            summary.length += 1;
            if transition.done() {
                break;
            }
            obs = transition.observation;
        }
        episodes.push(summary);
    }
    Ok(episodes)
}
