//! The actor-critic networks of SB3's `MlpPolicy` over one flat parameter vector, with SB3's
//! `policy.pth` tensor names.

use super::config::NetArch;
use super::init::orthogonal;
use super::mlp::{Linear, Mlp, Tape};
use rand::Rng;

/// One parameter tensor: its SB3 name, shape, and place in the flat vector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParamSpec {
    pub(crate) name: String,
    pub(crate) shape: Vec<usize>,
    pub(crate) offset: usize,
}

impl ParamSpec {
    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The element range in the flat vector.
    pub(crate) fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// Actor (observation → logits) and critic (observation → value) networks, separate as in SB3
/// with a dict `net_arch`, and their parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PolicyNet {
    pub(crate) obs_dim: usize,
    pub(crate) n_actions: usize,
    pub(crate) actor: Mlp,
    pub(crate) critic: Mlp,
    /// Every tensor, in SB3's `named_parameters()` order.
    pub(crate) specs: Vec<ParamSpec>,
    pub(crate) params: Vec<f32>,
}

/// Lays out linear layers one after the other in a flat vector, recording their specs.
struct Layout {
    specs: Vec<ParamSpec>,
    len: usize,
}

impl Layout {
    fn add(&mut self, name: String, shape: Vec<usize>) -> usize {
        let offset = self.len;
        self.len += shape.iter().product::<usize>();
        self.specs.push(ParamSpec {
            name,
            shape,
            offset,
        });
        offset
    }

    fn linear(&mut self, prefix: &str, n_in: usize, n_out: usize) -> Linear {
        let weight = self.add(format!("{prefix}.weight"), vec![n_out, n_in]);
        let bias = self.add(format!("{prefix}.bias"), vec![n_out]);
        Linear {
            weight,
            bias,
            n_in,
            n_out,
        }
    }

    /// The hidden layers `mlp_extractor.{branch}.{0,2,4..}` (index 2i: the Linear before the
    /// i-th Tanh module).
    fn hidden(&mut self, branch: &str, obs_dim: usize, widths: &[usize]) -> Vec<Linear> {
        let mut n_in = obs_dim;
        widths
            .iter()
            .enumerate()
            .map(|(i, &n_out)| {
                let layer = self.linear(&format!("mlp_extractor.{branch}.{}", 2 * i), n_in, n_out);
                n_in = n_out;
                layer
            })
            .collect()
    }
}

impl PolicyNet {
    /// The networks for `obs_dim` inputs and `n_actions` actions, with all parameters zero.
    pub(crate) fn zeros(obs_dim: usize, n_actions: usize, arch: &NetArch) -> Self {
        let mut layout = Layout {
            specs: Vec::new(),
            len: 0,
        };
        let mut actor = layout.hidden("policy_net", obs_dim, &arch.pi);
        let mut critic = layout.hidden("value_net", obs_dim, &arch.vf);
        let pi_out = arch.pi.last().copied().unwrap_or(obs_dim);
        let vf_out = arch.vf.last().copied().unwrap_or(obs_dim);
        actor.push(layout.linear("action_net", pi_out, n_actions));
        critic.push(layout.linear("value_net", vf_out, 1));
        Self {
            obs_dim,
            n_actions,
            actor: Mlp::new(actor),
            critic: Mlp::new(critic),
            specs: layout.specs,
            params: vec![0.0; layout.len],
        }
    }

    /// SB3's `ortho_init`: orthogonal weights with gain √2 in the hidden layers, 0.01 in the
    /// action head and 1 in the value head; zero biases.
    pub(crate) fn init_orthogonal(&mut self, rng: &mut impl Rng) {
        let hidden_gain = 2f64.sqrt();
        let heads = [(&self.actor, 0.01), (&self.critic, 1.0)];
        for (mlp, head_gain) in heads {
            let last = mlp.layers().len() - 1;
            for (l, layer) in mlp.layers().iter().enumerate() {
                let gain = if l == last { head_gain } else { hidden_gain };
                let w = orthogonal(layer.n_out, layer.n_in, gain, rng);
                self.params[layer.weight..layer.weight + w.len()].copy_from_slice(&w);
                self.params[layer.bias..layer.bias + layer.n_out].fill(0.0);
            }
        }
    }

    /// Logits and value of one observation.
    pub(crate) fn evaluate(&self, obs: &[f32], tapes: &mut [Tape; 2]) -> (Vec<f32>, f32) {
        let [actor_tape, critic_tape] = tapes;
        let logits = self
            .actor
            .forward(&self.params, obs, 1, actor_tape)
            .to_vec();
        let value = self.critic.forward(&self.params, obs, 1, critic_tape)[0];
        (logits, value)
    }

    /// Value of one observation.
    pub(crate) fn value(&self, obs: &[f32], tape: &mut Tape) -> f32 {
        self.critic.forward(&self.params, obs, 1, tape)[0]
    }

    /// Logits of one observation.
    pub(crate) fn logits(&self, obs: &[f32], tape: &mut Tape) -> Vec<f32> {
        self.actor.forward(&self.params, obs, 1, tape).to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn names_and_shapes_are_sb3s() {
        let net = PolicyNet::zeros(6, 3, &NetArch::default());
        let listed: Vec<(&str, Vec<usize>)> = net
            .specs
            .iter()
            .map(|s| (s.name.as_str(), s.shape.clone()))
            .collect();
        let expected: Vec<(&str, Vec<usize>)> = vec![
            ("mlp_extractor.policy_net.0.weight", vec![128, 6]),
            ("mlp_extractor.policy_net.0.bias", vec![128]),
            ("mlp_extractor.policy_net.2.weight", vec![128, 128]),
            ("mlp_extractor.policy_net.2.bias", vec![128]),
            ("mlp_extractor.value_net.0.weight", vec![128, 6]),
            ("mlp_extractor.value_net.0.bias", vec![128]),
            ("mlp_extractor.value_net.2.weight", vec![128, 128]),
            ("mlp_extractor.value_net.2.bias", vec![128]),
            ("action_net.weight", vec![3, 128]),
            ("action_net.bias", vec![3]),
            ("value_net.weight", vec![1, 128]),
            ("value_net.bias", vec![1]),
        ];
        assert_eq!(listed, expected);
        // The parameter count of the original scheduler's policy (spec 6.3).
        assert_eq!(net.params.len(), 35_332);
    }

    #[test]
    fn orthogonal_init_uses_sb3_gains_and_zero_biases() {
        let mut net = PolicyNet::zeros(4, 2, &NetArch::default());
        net.params.fill(1.0);
        net.init_orthogonal(&mut ChaCha8Rng::seed_from_u64(0));
        let norm_of_row = |name: &str, row: usize| {
            let spec = net.specs.iter().find(|s| s.name == name).unwrap();
            let cols = spec.shape[1];
            let start = spec.offset + row * cols;
            net.params[start..start + cols]
                .iter()
                .map(|v| f64::from(*v).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        // Square hidden layer: rows of norm √2; heads: rows of norm 0.01 and 1.
        assert!((norm_of_row("mlp_extractor.policy_net.2.weight", 5) - 2f64.sqrt()).abs() < 1e-5);
        assert!((norm_of_row("action_net.weight", 1) - 0.01).abs() < 1e-7);
        assert!((norm_of_row("value_net.weight", 0) - 1.0).abs() < 1e-5);
        for spec in net.specs.iter().filter(|s| s.name.ends_with("bias")) {
            assert!(net.params[spec.range()].iter().all(|v| *v == 0.0));
        }
    }
}
