//! The learning loop: rollouts of `n_steps` environment steps, each followed by an update
//! (SB3's `OnPolicyAlgorithm.learn` and `collect_rollouts` for one environment).

use super::agent::Ppo;
use super::buffer::Step;
use super::callback::{Callback, Control, EpisodeSummary, LearnOutcome, StepRecord};
use super::categorical::Categorical;
use crate::env::Env;
use crate::error::{Result, RlError};

impl Ppo {
    /// Learns until the step counter reaches `total_timesteps` (an absolute target: to continue
    /// for `n` more steps pass `num_timesteps() + n`).
    ///
    /// Runs whole rollouts of `n_steps`, so it may pass the target by up to `n_steps - 1`. The
    /// episode in progress is kept between calls; the first call (or the first after
    /// [`Ppo::load`] or [`Ppo::reset_episode`]) resets the environment, with the agent's seed
    /// if the counter is 0. Schedules are evaluated at `1 - num_timesteps / total_timesteps`.
    /// Returns early with [`LearnOutcome::Interrupted`] when the callback says stop.
    pub fn learn<E: Env + ?Sized, C: Callback + ?Sized>(
        &mut self,
        env: &mut E,
        total_timesteps: u64,
        callback: &mut C,
    ) -> Result<LearnOutcome> {
        self.check_env(env)?;
        while self.num_timesteps < total_timesteps {
            if !self.collect_rollout(env, callback)? {
                return Ok(LearnOutcome::Interrupted);
            }
            self.progress_remaining = 1.0 - self.num_timesteps as f64 / total_timesteps as f64;
            let stats = self.update();
            callback.on_update(self, &stats)?;
        }
        Ok(LearnOutcome::Completed)
    }

    /// Checks that the environment's sizes are the agent's.
    pub(crate) fn check_env<E: Env + ?Sized>(&self, env: &E) -> Result<()> {
        if env.observation_dim() != self.obs_dim() || env.n_actions() != self.n_actions() {
            return Err(RlError::Env(format!(
                "the environment has observations of length {} and {} actions, the agent {} and {}",
                env.observation_dim(),
                env.n_actions(),
                self.obs_dim(),
                self.n_actions()
            )));
        }
        Ok(())
    }

    /// The observation to act on next, resetting the environment if no episode is running.
    fn current_obs<E: Env + ?Sized>(&mut self, env: &mut E) -> Result<Vec<f32>> {
        if let Some(obs) = &self.episode.last_obs {
            return Ok(obs.clone());
        }
        let seed = (self.num_timesteps == 0).then_some(self.seed);
        let obs = env.reset(seed)?;
        self.check_obs(&obs)?;
        self.episode.last_obs = Some(obs.clone());
        self.episode.starts = true;
        Ok(obs)
    }

    /// Fills the rollout buffer with `n_steps` steps and computes advantages and returns.
    /// Returns false if the callback stopped it (the buffer is then incomplete).
    pub(crate) fn collect_rollout<E: Env + ?Sized, C: Callback + ?Sized>(
        &mut self,
        env: &mut E,
        callback: &mut C,
    ) -> Result<bool> {
        self.buffer.clear();
        let gamma = self.config.gamma as f32;
        for _ in 0..self.config.n_steps {
            let obs = self.current_obs(env)?;
            let (logits, value) = self.net.evaluate(&obs, &mut self.tapes);
            let distribution = Categorical::new(&logits);
            let action = distribution.sample(&mut self.rng);
            let transition = env.step(action)?;
            self.check_obs(&transition.observation)?;
            self.num_timesteps += 1;
            self.episode.total_reward += transition.reward;
            self.episode.length += 1;
            let mut reward = transition.reward as f32;
            if transition.truncated && !transition.terminated {
                // Time limit: bootstrap with the value of the final observation (SB3).
                reward += gamma * self.net.value(&transition.observation, &mut self.tapes[1]);
            }
            self.buffer.push(Step {
                observation: &obs,
                action,
                reward,
                episode_start: self.episode.starts,
                value,
                log_prob: distribution.log_probs[action],
            });
            let done = transition.done();
            let episode = done.then_some(EpisodeSummary {
                total_reward: self.episode.total_reward,
                length: self.episode.length,
            });
            if done {
                self.episode.total_reward = 0.0;
                self.episode.length = 0;
                let first = env.reset(None)?;
                self.check_obs(&first)?;
                self.episode.last_obs = Some(first);
            } else {
                self.episode.last_obs = Some(transition.observation);
            }
            self.episode.starts = done;
            let record = StepRecord {
                num_timesteps: self.num_timesteps,
                action,
                reward: transition.reward,
                terminated: transition.terminated,
                truncated: transition.truncated,
                info: &transition.info,
                episode,
            };
            if callback.on_step(self, &record)? == Control::Stop {
                return Ok(false);
            }
        }
        let last_obs = self.current_obs(env)?;
        let last_value = self.net.value(&last_obs, &mut self.tapes[1]);
        self.buffer.compute_returns_and_advantage(
            last_value,
            self.episode.starts,
            self.config.gamma,
            self.config.gae_lambda,
        );
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Transition;
    use crate::ppo::config::{NetArch, PpoConfig};
    use std::collections::BTreeMap;

    /// Episodes of `limit` steps with reward 1 and observation `[0.1·t, 1]`, ended by the time
    /// limit (truncated) or, with `terminate`, as terminal.
    struct Countdown {
        t: u64,
        limit: u64,
        terminate: bool,
    }

    impl Env for Countdown {
        fn observation_dim(&self) -> usize {
            2
        }
        fn n_actions(&self) -> usize {
            2
        }
        fn reset(&mut self, _seed: Option<u64>) -> Result<Vec<f32>> {
            self.t = 0;
            Ok(vec![0.0, 1.0])
        }
        fn step(&mut self, _action: usize) -> Result<Transition> {
            self.t += 1;
            let end = self.t == self.limit;
            Ok(Transition {
                observation: vec![0.1 * self.t as f32, 1.0],
                reward: 1.0,
                terminated: end && self.terminate,
                truncated: end && !self.terminate,
                info: BTreeMap::new(),
            })
        }
    }

    fn new_agent(n_steps: usize) -> Ppo {
        let config = PpoConfig {
            n_steps,
            gamma: 0.9,
            net_arch: NetArch {
                pi: vec![4],
                vf: vec![4],
            },
            ..PpoConfig::default()
        };
        let mut agent = Ppo::new(2, 2, config, 1).unwrap();
        // A critic that gives non-zero values.
        agent.net.params.iter_mut().for_each(|p| *p += 0.3);
        agent
    }

    #[test]
    fn time_limits_bootstrap_and_terminations_do_not() {
        for terminate in [false, true] {
            let mut agent = new_agent(7);
            let mut env = Countdown {
                t: 0,
                limit: 3,
                terminate,
            };
            assert!(agent.collect_rollout(&mut env, &mut ()).unwrap());
            let bootstrap = 1.0 + 0.9 * agent.value(&[0.3, 1.0]).unwrap();
            let b = &agent.buffer;
            for (i, r) in b.rewards.iter().enumerate() {
                let expected = if i % 3 == 2 && !terminate {
                    bootstrap
                } else {
                    1.0
                };
                assert!(
                    (r - expected).abs() < 1e-6,
                    "terminate {terminate}, step {i}: {r}"
                );
            }
            assert_eq!(
                b.episode_starts,
                vec![true, false, false, true, false, false, true]
            );
            assert_eq!(b.observations[2..4], [0.1, 1.0]);
            // The episode in progress continues in the next rollout.
            assert_eq!(agent.episode.last_obs, Some(vec![0.1, 1.0]));
            assert_eq!(agent.episode.length, 1);
        }
    }

    #[test]
    fn the_last_step_bootstraps_unless_it_ended_the_episode() {
        // 6 steps: the rollout ends exactly at an episode end (no bootstrap).
        let mut agent = new_agent(6);
        let mut env = Countdown {
            t: 0,
            limit: 3,
            terminate: true,
        };
        agent.collect_rollout(&mut env, &mut ()).unwrap();
        let b = &agent.buffer;
        assert!((b.advantages[5] - (1.0 - b.values[5])).abs() < 1e-6);
        // 5 steps: the last value of the next observation is bootstrapped.
        let mut agent = new_agent(5);
        agent.collect_rollout(&mut env, &mut ()).unwrap();
        let b = &agent.buffer;
        let next = agent.value(&[0.2, 1.0]).unwrap();
        assert!((b.advantages[4] - (1.0 + 0.9 * next - b.values[4])).abs() < 1e-6);
    }
}
