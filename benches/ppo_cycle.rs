//! One PPO cycle at the original scheduler's settings: a rollout of 2048 steps in an
//! environment that costs almost nothing (observations of 6 numbers, 3 actions), then an
//! update of 10 epochs x 32 minibatches of 64 with 128-128 actor and critic networks.
//! `tools/refgen/bench_ppo_sb3.py` measures the same cycle with stable-baselines3.

use criterion::{criterion_group, criterion_main, Criterion};
use infinito_rl::{Env, Ppo, PpoConfig, Result, Transition};
use std::collections::BTreeMap;
use std::time::Duration;

/// Observations from a fixed recurrence; reward 1 when the action matches the largest of the
/// first three features; episodes of 200 steps (truncated).
struct CheapEnv {
    t: u64,
    obs: Vec<f32>,
}

impl CheapEnv {
    fn observe(&mut self) -> Vec<f32> {
        let t = self.t as f32;
        self.obs = (0..6).map(|i| (0.37 * t + 1.3 * i as f32).sin()).collect();
        self.obs.clone()
    }
}

impl Env for CheapEnv {
    fn observation_dim(&self) -> usize {
        6
    }

    fn n_actions(&self) -> usize {
        3
    }

    fn reset(&mut self, _seed: Option<u64>) -> Result<Vec<f32>> {
        self.t = 0;
        Ok(self.observe())
    }

    fn step(&mut self, action: usize) -> Result<Transition> {
        let best = (0..3)
            .max_by(|&a, &b| self.obs[a].total_cmp(&self.obs[b]))
            .unwrap_or(0);
        self.t += 1;
        Ok(Transition {
            observation: self.observe(),
            reward: if action == best { 1.0 } else { 0.0 },
            terminated: false,
            truncated: self.t.is_multiple_of(200),
            info: BTreeMap::new(),
        })
    }
}

fn ppo_cycle(c: &mut Criterion) {
    let mut agent = Ppo::new(6, 3, PpoConfig::default(), 0).expect("valid config");
    let mut env = CheapEnv {
        t: 0,
        obs: Vec::new(),
    };
    let mut group = c.benchmark_group("ppo");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("cycle_2048_steps_10x32x64_128x128", |b| {
        b.iter(|| {
            let target = agent.num_timesteps() + 2048;
            agent
                .learn(&mut env, target, &mut ())
                .expect("the cheap env never fails")
        })
    });
    group.finish();
}

criterion_group!(benches, ppo_cycle);
criterion_main!(benches);
