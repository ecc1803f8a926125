//! One PPO update on the filled rollout buffer (SB3's `PPO.train`).

use super::adam::clip_grad_norm;
use super::agent::Ppo;
use super::buffer::explained_variance;
use super::callback::UpdateStats;
use super::loss::{ppo_loss, LossCoefficients, LossTerms, MinibatchTargets};
use super::mlp::Tape;
use rand::seq::SliceRandom;

/// Buffers of one minibatch step, allocated once per update.
#[derive(Debug, Default)]
pub(crate) struct Workspace {
    observations: Vec<f32>,
    actions: Vec<usize>,
    old_log_probs: Vec<f32>,
    old_values: Vec<f32>,
    advantages: Vec<f32>,
    returns: Vec<f32>,
    actor: Tape,
    critic: Tape,
    d_logits: Vec<f32>,
    d_values: Vec<f32>,
    grads: Vec<f32>,
}

impl Workspace {
    /// Copies the rows `indices` of the agent's rollout buffer.
    fn gather(&mut self, agent: &Ppo, indices: &[usize]) {
        let buffer = &agent.buffer;
        let dim = buffer.obs_dim;
        self.observations.clear();
        for &i in indices {
            self.observations
                .extend_from_slice(&buffer.observations[i * dim..(i + 1) * dim]);
        }
        let pick = |out: &mut Vec<f32>, from: &[f32]| {
            out.clear();
            out.extend(indices.iter().map(|&i| from[i]));
        };
        pick(&mut self.old_log_probs, &buffer.log_probs);
        pick(&mut self.old_values, &buffer.values);
        pick(&mut self.advantages, &buffer.advantages);
        pick(&mut self.returns, &buffer.returns);
        self.actions.clear();
        self.actions
            .extend(indices.iter().map(|&i| buffer.actions[i]));
    }
}

impl Ppo {
    /// The loss coefficients at the current progress.
    pub(crate) fn loss_coefficients(&self) -> LossCoefficients {
        let progress = self.progress_remaining;
        LossCoefficients {
            clip_range: self.config.clip_range.value(progress),
            clip_range_vf: self.config.clip_range_vf.map(|s| s.value(progress)),
            ent_coef: self.config.ent_coef,
            vf_coef: self.config.vf_coef,
            normalize_advantage: self.config.normalize_advantage,
        }
    }

    /// Loss, gradient, norm clipping and one Adam step on the minibatch in `work`.
    pub(crate) fn minibatch_step(
        &mut self,
        work: &mut Workspace,
        coefs: LossCoefficients,
        learning_rate: f64,
        target_kl: Option<f64>,
    ) -> (LossTerms, bool) {
        let batch = work.actions.len();
        let net = &self.net;
        let logits = net
            .actor
            .forward(&net.params, &work.observations, batch, &mut work.actor);
        let values = net
            .critic
            .forward(&net.params, &work.observations, batch, &mut work.critic);
        work.d_logits.resize(logits.len(), 0.0);
        work.d_values.resize(batch, 0.0);
        let targets = MinibatchTargets {
            actions: &work.actions,
            old_log_probs: &work.old_log_probs,
            old_values: &work.old_values,
            advantages: &work.advantages,
            returns: &work.returns,
        };
        let terms = ppo_loss(
            logits,
            values,
            &targets,
            coefs,
            &mut work.d_logits,
            &mut work.d_values,
        );
        if let Some(kl) = target_kl {
            if f64::from(terms.approx_kl) > 1.5 * kl {
                return (terms, false);
            }
        }
        work.grads.resize(net.params.len(), 0.0);
        net.actor.backward(
            &net.params,
            &work.observations,
            &mut work.actor,
            &work.d_logits,
            &mut work.grads,
        );
        net.critic.backward(
            &net.params,
            &work.observations,
            &mut work.critic,
            &work.d_values,
            &mut work.grads,
        );
        clip_grad_norm(&mut work.grads, self.config.max_grad_norm);
        self.adam
            .step(&mut self.net.params, &work.grads, learning_rate);
        (terms, true)
    }

    /// Runs `n_epochs` passes of shuffled minibatches over the rollout buffer.
    pub(crate) fn update(&mut self) -> UpdateStats {
        let learning_rate = self.config.learning_rate.value(self.progress_remaining);
        let coefs = self.loss_coefficients();
        let target_kl = self.config.target_kl;
        let n = self.buffer.len();
        let mut indices: Vec<usize> = Vec::with_capacity(n);
        let mut work = Workspace::default();
        let (mut entropy, mut policy, mut value, mut clip) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        let (mut minibatches, mut epochs) = (0usize, 0usize);
        let mut last_epoch_kl: Vec<f64> = Vec::new();
        let mut loss = 0.0f64;
        'epochs: for _ in 0..self.config.n_epochs {
            indices.clear();
            indices.extend(0..n);
            indices.shuffle(&mut self.rng);
            last_epoch_kl.clear();
            epochs += 1;
            self.n_updates += 1;
            for chunk in indices.chunks(self.config.batch_size) {
                work.gather(self, chunk);
                let (terms, stepped) =
                    self.minibatch_step(&mut work, coefs, learning_rate, target_kl);
                minibatches += 1;
                entropy += f64::from(terms.entropy_loss);
                policy += f64::from(terms.policy_loss);
                value += f64::from(terms.value_loss);
                clip += f64::from(terms.clip_fraction);
                last_epoch_kl.push(f64::from(terms.approx_kl));
                loss = f64::from(terms.loss);
                if !stepped {
                    break 'epochs;
                }
            }
        }
        let mean = |sum: f64| sum / minibatches as f64;
        UpdateStats {
            num_timesteps: self.num_timesteps,
            n_updates: self.n_updates,
            epochs,
            learning_rate,
            clip_range: coefs.clip_range,
            clip_range_vf: coefs.clip_range_vf,
            ent_coef: self.config.ent_coef,
            max_grad_norm: self.config.max_grad_norm,
            n_steps: n,
            entropy_loss: mean(entropy),
            policy_gradient_loss: mean(policy),
            value_loss: mean(value),
            approx_kl: last_epoch_kl.iter().sum::<f64>() / last_epoch_kl.len() as f64,
            clip_fraction: mean(clip),
            loss,
            explained_variance: explained_variance(&self.buffer.values, &self.buffer.returns),
        }
    }
}

#[cfg(test)]
mod sb3_parity;
