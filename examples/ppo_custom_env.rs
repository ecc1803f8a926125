//! Trains the PPO agent (stable-baselines3 semantics) on an environment of your own.
//!
//! `cargo run --release -p infinito-examples --example ppo_custom_env`
//!
//! Implement [`Env`] for your problem: an observation of fixed length, a few discrete actions,
//! `reset` and `step`. Here a walker on a line has to reach a target and stay there.

use anyhow::Result;
use infinito_rl::{evaluate, Env, NetArch, Ppo, PpoConfig, Transition};
use std::collections::BTreeMap;

/// A walker at integer position `x` in `-10..=10`; each step it moves left, stays or moves
/// right, and is rewarded by how close it is to `target`. Episodes last 20 steps.
struct Walker {
    x: i32,
    target: i32,
    steps: u32,
    rng: u64,
}

impl Walker {
    fn new(seed: u64) -> Self {
        Self {
            x: 0,
            target: 0,
            steps: 0,
            rng: seed.wrapping_add(1),
        }
    }

    /// A position in `-10..=10` from a small xorshift generator (any RNG will do).
    fn random_position(&mut self) -> i32 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng % 21) as i32 - 10
    }

    fn observation(&self) -> Vec<f32> {
        vec![self.x as f32 / 10.0, self.target as f32 / 10.0]
    }
}

impl Env for Walker {
    fn observation_dim(&self) -> usize {
        2
    }

    fn n_actions(&self) -> usize {
        3
    }

    fn reset(&mut self, seed: Option<u64>) -> infinito_rl::Result<Vec<f32>> {
        if let Some(seed) = seed {
            self.rng = seed.wrapping_add(1);
        }
        self.x = self.random_position();
        self.target = self.random_position();
        self.steps = 0;
        Ok(self.observation())
    }

    fn step(&mut self, action: usize) -> infinito_rl::Result<Transition> {
        self.x = (self.x + action as i32 - 1).clamp(-10, 10);
        self.steps += 1;
        Ok(Transition {
            observation: self.observation(),
            reward: -f64::from((self.x - self.target).abs()) / 10.0,
            terminated: false,
            truncated: self.steps == 20,
            info: BTreeMap::new(),
        })
    }
}

fn mean_return(agent: &Ppo, seed: u64) -> Result<f64> {
    let episodes = evaluate(agent, &mut Walker::new(seed), 50, true)?;
    Ok(episodes.iter().map(|e| e.total_reward).sum::<f64>() / episodes.len() as f64)
}

fn main() -> Result<()> {
    let config = PpoConfig {
        n_steps: 512,
        batch_size: 64,
        n_epochs: 10,
        net_arch: NetArch {
            pi: vec![32, 32],
            vf: vec![32, 32],
        },
        ..PpoConfig::default()
    };
    let mut agent = Ppo::new(2, 3, config, 0)?;
    let before = mean_return(&agent, 99)?;
    // `()` is the empty callback; pass your own `Callback` to log steps and updates or stop early.
    agent.learn(&mut Walker::new(0), 30_000, &mut ())?;
    let after = mean_return(&agent, 99)?;
    println!("mean return over 50 episodes: {before:.2} before training, {after:.2} after");
    // Save and load like any checkpoint: agent.save(path) / Ppo::load(path).
    Ok(())
}
