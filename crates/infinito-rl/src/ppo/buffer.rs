//! The rollout buffer and GAE (SB3's `RolloutBuffer` for one environment).

/// One rollout's transitions, in order, with the advantages and returns computed from them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RolloutBuffer {
    pub(crate) obs_dim: usize,
    /// `[len, obs_dim]` row-major: the observation each action was chosen from.
    pub(crate) observations: Vec<f32>,
    pub(crate) actions: Vec<usize>,
    /// Rewards, with `gamma · V(final observation)` added on time-limit truncations.
    pub(crate) rewards: Vec<f32>,
    /// True where the observation is the first of an episode.
    pub(crate) episode_starts: Vec<bool>,
    /// The critic's value of each observation during the rollout.
    pub(crate) values: Vec<f32>,
    /// Log-probability of each action under the rollout policy.
    pub(crate) log_probs: Vec<f32>,
    pub(crate) advantages: Vec<f32>,
    pub(crate) returns: Vec<f32>,
}

/// One transition as stored in the buffer.
pub(crate) struct Step<'a> {
    pub(crate) observation: &'a [f32],
    pub(crate) action: usize,
    pub(crate) reward: f32,
    pub(crate) episode_start: bool,
    pub(crate) value: f32,
    pub(crate) log_prob: f32,
}

impl RolloutBuffer {
    /// An empty buffer for observations of length `obs_dim`.
    pub(crate) fn new(obs_dim: usize) -> Self {
        Self {
            obs_dim,
            ..Self::default()
        }
    }

    /// Number of transitions.
    pub(crate) fn len(&self) -> usize {
        self.actions.len()
    }

    /// Empties the buffer, keeping its allocations.
    pub(crate) fn clear(&mut self) {
        self.observations.clear();
        self.actions.clear();
        self.rewards.clear();
        self.episode_starts.clear();
        self.values.clear();
        self.log_probs.clear();
        self.advantages.clear();
        self.returns.clear();
    }

    /// Appends one transition.
    pub(crate) fn push(&mut self, step: Step<'_>) {
        debug_assert_eq!(step.observation.len(), self.obs_dim);
        self.observations.extend_from_slice(step.observation);
        self.actions.push(step.action);
        self.rewards.push(step.reward);
        self.episode_starts.push(step.episode_start);
        self.values.push(step.value);
        self.log_probs.push(step.log_prob);
    }

    /// GAE(λ) advantages and λ-returns, as SB3's `compute_returns_and_advantage` (in f32):
    /// `last_value` is the value of the observation after the last step and `last_done` whether
    /// that step ended its episode.
    pub(crate) fn compute_returns_and_advantage(
        &mut self,
        last_value: f32,
        last_done: bool,
        gamma: f64,
        gae_lambda: f64,
    ) {
        let n = self.len();
        let gamma32 = gamma as f32;
        // SB3 multiplies the two Python floats first.
        let gamma_lambda = (gamma * gae_lambda) as f32;
        self.advantages.clear();
        self.advantages.resize(n, 0.0);
        let mut last_gae = 0.0f32;
        for step in (0..n).rev() {
            let (next_non_terminal, next_value) = if step == n - 1 {
                (1.0 - f32::from(u8::from(last_done)), last_value)
            } else {
                (
                    1.0 - f32::from(u8::from(self.episode_starts[step + 1])),
                    self.values[step + 1],
                )
            };
            let delta =
                self.rewards[step] + gamma32 * next_value * next_non_terminal - self.values[step];
            last_gae = delta + gamma_lambda * next_non_terminal * last_gae;
            self.advantages[step] = last_gae;
        }
        self.returns.clear();
        self.returns
            .extend(self.advantages.iter().zip(&self.values).map(|(a, v)| a + v));
    }
}

/// SB3's `explained_variance(values, returns)`: `1 - Var(returns - values) / Var(returns)`,
/// `None` when the returns do not vary.
pub(crate) fn explained_variance(values: &[f32], returns: &[f32]) -> Option<f64> {
    let variance = |xs: &mut dyn Iterator<Item = f64>| {
        let v: Vec<f64> = xs.collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64
    };
    let var_y = variance(&mut returns.iter().map(|&r| f64::from(r)));
    if var_y == 0.0 || returns.is_empty() {
        return None;
    }
    let var_diff = variance(
        &mut returns
            .iter()
            .zip(values)
            .map(|(&r, &v)| f64::from(r) - f64::from(v)),
    );
    Some(1.0 - var_diff / var_y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer(rewards: &[f32], values: &[f32], starts: &[bool]) -> RolloutBuffer {
        let mut b = RolloutBuffer::new(1);
        for i in 0..rewards.len() {
            b.push(Step {
                observation: &[0.0],
                action: 0,
                reward: rewards[i],
                episode_start: starts[i],
                value: values[i],
                log_prob: 0.0,
            });
        }
        b
    }

    fn assert_close(got: &[f32], expected: &[f64]) {
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(expected) {
            assert!((f64::from(*g) - e).abs() < 1e-6, "{got:?} vs {expected:?}");
        }
    }

    #[test]
    fn gae_matches_hand_computation_across_an_episode_boundary() {
        // gamma 0.5, lambda 0.5; a new episode starts at step 2.
        let mut b = buffer(
            &[1.0, 2.0, 3.0, 4.0],
            &[0.5, 1.0, 2.0, 1.0],
            &[true, false, true, false],
        );
        b.compute_returns_and_advantage(4.0, false, 0.5, 0.5);
        // Step 3: delta = 4 + 0.5·4 - 1 = 5; A3 = 5.
        // Step 2: delta = 3 + 0.5·1 - 2 = 1.5; A2 = 1.5 + 0.25·5 = 2.75.
        // Step 1: next is an episode start: delta = 2 - 1 = 1; A1 = 1.
        // Step 0: delta = 1 + 0.5·1 - 0.5 = 1; A0 = 1 + 0.25·1 = 1.25.
        assert_close(&b.advantages, &[1.25, 1.0, 2.75, 5.0]);
        assert_close(&b.returns, &[1.75, 2.0, 4.75, 6.0]);
        // The last step ended its episode: the last value is not bootstrapped.
        b.compute_returns_and_advantage(4.0, true, 0.5, 0.5);
        assert_close(&b.advantages, &[1.25, 1.0, 2.25, 3.0]);
    }

    #[test]
    fn gae_matches_sb3_rollout_buffer() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/gae_ref.json"
        ))
        .unwrap();
        let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
        let floats = |v: &serde_json::Value| -> Vec<f32> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        };
        let starts: Vec<bool> = fixture["episode_starts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_bool().unwrap())
            .collect();
        let mut b = buffer(
            &floats(&fixture["rewards"]),
            &floats(&fixture["values"]),
            &starts,
        );
        for case in fixture["cases"].as_array().unwrap() {
            b.compute_returns_and_advantage(
                case["last_value"].as_f64().unwrap() as f32,
                case["last_done"].as_bool().unwrap(),
                fixture["gamma"].as_f64().unwrap(),
                fixture["gae_lambda"].as_f64().unwrap(),
            );
            let expect = |key: &str| -> Vec<f64> {
                floats(&case[key]).iter().map(|&x| f64::from(x)).collect()
            };
            assert_close(&b.advantages, &expect("advantages"));
            assert_close(&b.returns, &expect("returns"));
        }
    }

    #[test]
    fn explained_variance_is_sb3s() {
        assert_eq!(explained_variance(&[1.0, 2.0], &[3.0, 3.0]), None);
        // Perfect prediction: 1. Constant offset: still 1. Predicting the mean: 0.
        assert_eq!(
            explained_variance(&[1.0, 2.0, 4.0], &[1.0, 2.0, 4.0]),
            Some(1.0)
        );
        assert_eq!(
            explained_variance(&[0.0, 1.0, 3.0], &[1.0, 2.0, 4.0]),
            Some(1.0)
        );
        let ev = explained_variance(&[2.0, 2.0], &[1.0, 3.0]).unwrap();
        assert!(ev.abs() < 1e-12);
    }
}
