//! The PPO agent: networks, optimizer, random generators and counters.

use super::adam::Adam;
use super::buffer::RolloutBuffer;
use super::categorical::Categorical;
use super::config::{ConfigOverrides, PpoConfig, Schedule, ADAM_BETAS, ADAM_EPS};
use super::mlp::Tape;
use super::network::PolicyNet;
use crate::error::{Result, RlError};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::Mutex;

/// The stream of [`Ppo`]'s prediction generator (stream 0 drives learning).
const PREDICT_STREAM: u64 = 1;

/// The episode in progress in the training environment, kept between `learn` calls.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct EpisodeState {
    /// The observation to act on next; `None` before the first reset.
    pub(crate) last_obs: Option<Vec<f32>>,
    /// Whether `last_obs` starts an episode.
    pub(crate) starts: bool,
    pub(crate) total_reward: f64,
    pub(crate) length: u64,
}

/// A PPO agent with stable-baselines3 semantics over one environment with discrete actions.
///
/// Learning ([`Ppo::learn`]) samples actions and shuffles minibatches with its own seeded
/// generator; stochastic [`Ppo::predict`] calls use a second one, so predictions (e.g. by
/// evaluation callbacks) never change the course of training.
#[derive(Debug)]
pub struct Ppo {
    pub(crate) config: PpoConfig,
    pub(crate) seed: u64,
    pub(crate) net: PolicyNet,
    pub(crate) adam: Adam,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) predict_rng: Mutex<ChaCha8Rng>,
    pub(crate) num_timesteps: u64,
    pub(crate) n_updates: u64,
    pub(crate) progress_remaining: f64,
    pub(crate) episode: EpisodeState,
    pub(crate) buffer: RolloutBuffer,
    /// Actor and critic scratch for one-observation forwards during rollouts.
    pub(crate) tapes: [Tape; 2],
}

impl Ppo {
    /// A new agent for observations of length `obs_dim` and `n_actions` actions, with SB3's
    /// orthogonal initialisation drawn from `seed`.
    pub fn new(obs_dim: usize, n_actions: usize, config: PpoConfig, seed: u64) -> Result<Self> {
        let mut agent = Self::with_zero_weights(obs_dim, n_actions, config, seed)?;
        agent.net.init_orthogonal(&mut agent.rng);
        Ok(agent)
    }

    /// An agent whose weights are all zero (filled in by the loaders).
    pub(crate) fn with_zero_weights(
        obs_dim: usize,
        n_actions: usize,
        config: PpoConfig,
        seed: u64,
    ) -> Result<Self> {
        config.validate()?;
        if obs_dim == 0 {
            return Err(RlError::flag("obs_dim", 0, "expected at least one feature"));
        }
        if n_actions < 2 {
            return Err(RlError::flag(
                "n_actions",
                n_actions,
                "expected at least two actions",
            ));
        }
        let net = PolicyNet::zeros(obs_dim, n_actions, &config.net_arch);
        let adam = Adam::new(net.params.len(), ADAM_BETAS, ADAM_EPS);
        let mut predict_rng = ChaCha8Rng::seed_from_u64(seed);
        predict_rng.set_stream(PREDICT_STREAM);
        Ok(Self {
            config,
            seed,
            net,
            adam,
            rng: ChaCha8Rng::seed_from_u64(seed),
            predict_rng: Mutex::new(predict_rng),
            num_timesteps: 0,
            n_updates: 0,
            progress_remaining: 1.0,
            episode: EpisodeState::default(),
            buffer: RolloutBuffer::new(obs_dim),
            tapes: Default::default(),
        })
    }

    /// Length of the observations the agent takes.
    pub fn obs_dim(&self) -> usize {
        self.net.obs_dim
    }

    /// Number of actions.
    pub fn n_actions(&self) -> usize {
        self.net.n_actions
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &PpoConfig {
        &self.config
    }

    /// The seed the agent was created with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Environment steps taken by all `learn` calls so far (SB3's `num_timesteps`).
    pub fn num_timesteps(&self) -> u64 {
        self.num_timesteps
    }

    /// Sets the step counter (e.g. to restart counting as SB3's `reset_num_timesteps`).
    pub fn set_num_timesteps(&mut self, num_timesteps: u64) {
        self.num_timesteps = num_timesteps;
    }

    /// Gradient epochs run so far (SB3's `_n_updates`: `n_epochs` per update).
    pub fn n_updates(&self) -> u64 {
        self.n_updates
    }

    /// Number of scalar parameters of the two networks.
    pub fn n_parameters(&self) -> usize {
        self.net.params.len()
    }

    /// Replaces the hyper-parameters named in `overrides` (all at once, after validation).
    /// Schedules take effect at the next update, unlike assigning floats to a loaded SB3 model.
    pub fn apply_overrides(&mut self, overrides: &ConfigOverrides) -> Result<()> {
        let mut config = self.config.clone();
        overrides.apply(&mut config);
        config.validate()?;
        self.config = config;
        Ok(())
    }

    /// Sets the learning-rate schedule.
    pub fn set_learning_rate(&mut self, learning_rate: Schedule) -> Result<()> {
        self.apply_overrides(&ConfigOverrides {
            learning_rate: Some(learning_rate),
            ..ConfigOverrides::default()
        })
    }

    /// Sets the clip-range schedule.
    pub fn set_clip_range(&mut self, clip_range: Schedule) -> Result<()> {
        self.apply_overrides(&ConfigOverrides {
            clip_range: Some(clip_range),
            ..ConfigOverrides::default()
        })
    }

    /// Sets the entropy coefficient.
    pub fn set_ent_coef(&mut self, ent_coef: f64) -> Result<()> {
        self.apply_overrides(&ConfigOverrides {
            ent_coef: Some(ent_coef),
            ..ConfigOverrides::default()
        })
    }

    /// Sets the gradient-norm clip.
    pub fn set_max_grad_norm(&mut self, max_grad_norm: f64) -> Result<()> {
        self.apply_overrides(&ConfigOverrides {
            max_grad_norm: Some(max_grad_norm),
            ..ConfigOverrides::default()
        })
    }

    /// Forgets the episode in progress: the next `learn` call starts by resetting the
    /// environment (as after [`Ppo::load`]).
    pub fn reset_episode(&mut self) {
        self.episode = EpisodeState::default();
    }

    /// Checks an observation's length.
    pub(crate) fn check_obs(&self, obs: &[f32]) -> Result<()> {
        if obs.len() == self.obs_dim() {
            Ok(())
        } else {
            Err(RlError::Env(format!(
                "observation of length {}, expected {} (the agent's observation size)",
                obs.len(),
                self.obs_dim()
            )))
        }
    }

    /// The action distribution of one observation.
    fn distribution(&self, obs: &[f32]) -> Result<Categorical> {
        self.check_obs(obs)?;
        let logits = self.net.logits(obs, &mut Tape::default());
        Ok(Categorical::new(&logits))
    }

    /// The action for `obs`: the most probable one if `deterministic` (SB3's argmax),
    /// otherwise drawn from the policy with the prediction generator.
    pub fn predict(&self, obs: &[f32], deterministic: bool) -> Result<usize> {
        let distribution = self.distribution(obs)?;
        if deterministic {
            return Ok(distribution.mode());
        }
        // A poisoned lock only means another prediction panicked; the generator is intact.
        let mut rng = self
            .predict_rng
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(distribution.sample(&mut *rng))
    }

    /// The policy's probability of each action for `obs`.
    pub fn action_probs(&self, obs: &[f32]) -> Result<Vec<f32>> {
        Ok(self.distribution(obs)?.probs)
    }

    /// The critic's value of `obs`.
    pub fn value(&self, obs: &[f32]) -> Result<f32> {
        self.check_obs(obs)?;
        Ok(self.net.value(obs, &mut Tape::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_config() -> PpoConfig {
        PpoConfig {
            net_arch: super::super::config::NetArch {
                pi: vec![8],
                vf: vec![8],
            },
            ..PpoConfig::default()
        }
    }

    #[test]
    fn same_seed_same_weights_and_bad_sizes_are_errors() {
        let a = Ppo::new(3, 2, small_config(), 9).unwrap();
        let b = Ppo::new(3, 2, small_config(), 9).unwrap();
        let c = Ppo::new(3, 2, small_config(), 10).unwrap();
        assert_eq!(a.net.params, b.net.params);
        assert_ne!(a.net.params, c.net.params);
        assert!(Ppo::new(0, 2, small_config(), 0).is_err());
        assert!(Ppo::new(3, 1, small_config(), 0).is_err());
        let msg = a.value(&[1.0, 2.0]).unwrap_err().to_string();
        assert!(msg.contains("length 2, expected 3"), "{msg}");
    }

    #[test]
    fn overrides_are_validated_and_applied_together() {
        let mut agent = Ppo::new(3, 2, small_config(), 0).unwrap();
        agent.set_clip_range(Schedule::Constant(0.15)).unwrap();
        agent
            .set_learning_rate(Schedule::linear_to_zero(1e-4))
            .unwrap();
        agent.set_ent_coef(0.02).unwrap();
        agent.set_max_grad_norm(0.3).unwrap();
        let c = agent.config();
        assert_eq!(c.clip_range, Schedule::Constant(0.15));
        assert_eq!(c.learning_rate, Schedule::linear_to_zero(1e-4));
        assert_eq!((c.ent_coef, c.max_grad_norm), (0.02, 0.3));
        let bad = ConfigOverrides {
            ent_coef: Some(0.5),
            max_grad_norm: Some(-1.0),
            ..ConfigOverrides::default()
        };
        assert!(agent.apply_overrides(&bad).is_err());
        assert_eq!(
            agent.config().ent_coef,
            0.02,
            "a rejected override changes nothing"
        );
    }

    #[test]
    fn stochastic_predictions_do_not_touch_the_learning_generator() {
        let agent = Ppo::new(3, 2, small_config(), 4).unwrap();
        let before = agent.rng.clone();
        for _ in 0..10 {
            agent.predict(&[0.1, 0.2, 0.3], false).unwrap();
        }
        assert_eq!(agent.rng, before);
        let probs = agent.action_probs(&[0.1, 0.2, 0.3]).unwrap();
        assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
}
