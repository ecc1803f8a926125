//! The learned PHI ("ImprovedIITMetricsV2"): four nets mixed by softmax weights, scaled to [0, 10].

use crate::config::PhiConfig;
use crate::error::{PhiError, Result as PhiResult};
use crate::mode::Mode;
use crate::nets::{
    complexity::ComplexityNet, diversity::DiversityNet, integration::IntegrationNet,
    temporal::TemporalNet,
};
use crate::params::{Param, ParamInit, Params};
use candle_core::{DType, Result, Tensor};
use candle_nn::VarBuilder;
use std::sync::atomic::{AtomicU64, Ordering};

/// The per-sample outputs of [`LearnedPhi::forward`], each (B,) f32.
#[derive(Debug, Clone)]
pub struct PhiComponents {
    /// `10 * softmax(w) . (t, g, c, d)`, in [0, 10].
    pub phi_estimate: Tensor,
    /// TemporalCoherenceNet score t in (0, 1) (0 when T < 2).
    pub temporal_coherence: Tensor,
    /// IntegrationNet score g in (0, 1).
    pub integration_strength: Tensor,
    /// ComplexityNet score c in (0, 1).
    pub complexity: Tensor,
    /// AttentionDiversityNet score d in (0, 1); zeros when no attention was given.
    pub attention_diversity: Tensor,
}

impl PhiComponents {
    /// The outputs with their names, in the order of the JSON output of `phi_score`.
    pub fn named(&self) -> [(&'static str, &Tensor); 5] {
        [
            ("phi_estimate", &self.phi_estimate),
            ("temporal_coherence", &self.temporal_coherence),
            ("integration_strength", &self.integration_strength),
            ("complexity", &self.complexity),
            ("attention_diversity", &self.attention_diversity),
        ]
    }
}

/// Names of the four mixing logits, in mixing order.
const MIX_NAMES: [&str; 4] = ["w_temporal", "w_integration", "w_complexity", "w_diversity"];

/// The learned PHI module ("ImprovedIITMetricsV2"), for any hidden size D and head count H.
pub struct LearnedPhi {
    pub(crate) cfg: PhiConfig,
    temporal: TemporalNet,
    integration: IntegrationNet,
    pub(crate) complexity: ComplexityNet,
    diversity: DiversityNet,
    mix: Vec<Tensor>,
    pub(crate) params: Vec<Param>,
    dropout_stream: AtomicU64,
}

impl LearnedPhi {
    /// Creates every parameter through `vb` under its original name (`temporal_net.fc1.weight`,
    /// `w_temporal`, ...): a `VarMap`-backed builder gives trainable `Var`s initialised like
    /// PyTorch's layers; a tensor-backed builder loads them. The BatchNorm running statistics and
    /// batch counters are buffers held by the module (never in the `VarMap`, never optimised).
    pub fn new(cfg: PhiConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate().map_err(candle_core::Error::wrap)?;
        let p = Params::new(vb);
        let mix = MIX_NAMES
            .iter()
            .map(|n| p.get(1, n, ParamInit::Const(1.0)))
            .collect::<Result<_>>()?;
        let d = cfg.hidden_dim;
        let temporal = TemporalNet::new(&p.pp("temporal_net"), d, cfg.temporal_dim)?;
        let integration = IntegrationNet::new(
            &p.pp("integration_net"),
            d,
            cfg.num_heads,
            cfg.integration_dim,
            cfg.attention_features,
        )?;
        let complexity = ComplexityNet::new(
            &p.pp("complexity_net"),
            d,
            cfg.complexity_dim,
            cfg.complexity_norm,
        )?;
        let diversity =
            DiversityNet::new(&p.pp("diversity_net"), cfg.num_heads, cfg.diversity_dim)?;
        Ok(Self {
            cfg,
            temporal,
            integration,
            complexity,
            diversity,
            mix,
            params: p.into_params(),
            dropout_stream: AtomicU64::new(0),
        })
    }

    /// The configuration the module was built with.
    pub fn config(&self) -> &PhiConfig {
        &self.cfg
    }

    /// Restarts the dropout stream: train-mode forwards on the CPU are then reproducible.
    pub fn set_dropout_seed(&self, seed: u64) {
        self.dropout_stream.store(seed, Ordering::Relaxed);
    }

    /// Scores hidden states (B, T, D) f32 and optional attention maps (B, H, T, T) f32.
    ///
    /// `train`: dropout active and BatchNorm on batch statistics (running statistics updated);
    /// otherwise eval mode. Without attention the diversity component is zeros(B) on the input's
    /// device and the integration net sees zero attention features.
    pub fn forward(
        &self,
        hidden: &Tensor,
        attention: Option<&Tensor>,
        train: bool,
    ) -> Result<PhiComponents> {
        self.check_input(hidden, attention)
            .map_err(candle_core::Error::wrap)?;
        let mode = Mode::new(train, self.cfg.dropout, &self.dropout_stream);
        let t = self.temporal.forward(hidden, &mode)?;
        let g = self.integration.forward(hidden, attention, &mode)?;
        let c = self.complexity.forward(hidden, &mode)?;
        let d = match attention {
            Some(a) => self.diversity.forward(a, &mode)?,
            None => Tensor::zeros(hidden.dim(0)?, DType::F32, hidden.device())?,
        };
        let w = candle_nn::ops::softmax(&Tensor::cat(&self.mix, 0)?, 0)?;
        let stacked = Tensor::stack(&[&t, &g, &c, &d], 1)?;
        let phi = (stacked.broadcast_mul(&w.unsqueeze(0)?)?.sum(1)? * 10.0)?;
        Ok(PhiComponents {
            phi_estimate: phi,
            temporal_coherence: t,
            integration_strength: g,
            complexity: c,
            attention_diversity: d,
        })
    }

    fn check_input(&self, hidden: &Tensor, attention: Option<&Tensor>) -> PhiResult<()> {
        let bad = |m: String| Err(PhiError::Input(m));
        let (b, t, d) = match hidden.dims() {
            &[b, t, d] => (b, t, d),
            dims => return bad(format!("hidden_state must be (B, T, D), got {dims:?}")),
        };
        if d != self.cfg.hidden_dim {
            return bad(format!(
                "hidden_state has D = {d}, the weights expect {}",
                self.cfg.hidden_dim
            ));
        }
        if b == 0 || t == 0 {
            return bad(format!("hidden_state {:?} is empty", hidden.dims()));
        }
        if hidden.dtype() != DType::F32 {
            return bad(format!(
                "hidden_state must be f32, got {:?}",
                hidden.dtype()
            ));
        }
        if let Some(a) = attention {
            let want = [b, self.cfg.num_heads, t, t];
            if a.dims() != want {
                return bad(format!(
                    "attention_weights must be {want:?} (B, H, T, T), got {:?}",
                    a.dims()
                ));
            }
            if a.dtype() != DType::F32 {
                return bad(format!(
                    "attention_weights must be f32, got {:?}",
                    a.dtype()
                ));
            }
            if !a.device().same_device(hidden.device()) {
                return bad("attention_weights and hidden_state are on different devices".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use std::collections::HashMap;

    fn fixture(name: &str) -> HashMap<String, Tensor> {
        candle_core::safetensors::load(infinito_testutil::fixture!(name), &Device::Cpu).unwrap()
    }

    /// The composed path (what CUDA and other devices run) against PyTorch, on the CPU.
    #[test]
    fn composed_path_matches_pytorch() {
        infinito_kernels::with_composed(|| {
            let (weights, cases) = (
                fixture("phi_small_weights.safetensors"),
                fixture("phi_small_cases.safetensors"),
            );
            let mut cfg = LearnedPhi::infer_config(&weights, "").unwrap();
            cfg.dropout = 0.0;
            let (phi, varmap) =
                LearnedPhi::from_config_and_state_dict(cfg, &weights, "", &Device::Cpu).unwrap();
            let x = Var::from_tensor(&cases["t13.hidden_state"]).unwrap();
            let a = &cases["t13.attention_weights"];
            for (train, tag) in [(false, "eval"), (true, "train")] {
                let out = phi.forward(&x, Some(a), train).unwrap();
                for (name, got) in out.named() {
                    let diff =
                        infinito_testutil::max_abs_diff(got, &cases[&format!("t13.{tag}.{name}")]);
                    assert!(diff < 1e-4, "{tag}.{name}: {diff}");
                }
                if train {
                    let grads = out.phi_estimate.sum_all().unwrap().backward().unwrap();
                    let want = &cases["t13.grad.hidden_state"];
                    let rel = infinito_testutil::max_abs_diff(grads.get(&x).unwrap(), want)
                        / infinito_testutil::max_abs_diff(want, &want.zeros_like().unwrap());
                    assert!(rel < 1e-4, "hidden-state gradient: relative {rel}");
                    let vars = varmap.data().lock().unwrap().clone();
                    let w = "integration_net.transformer_layer.self_attn.in_proj_weight";
                    let want = &cases[&format!("t13.grad.{w}")];
                    let rel = infinito_testutil::max_abs_diff(grads.get(&vars[w]).unwrap(), want)
                        / infinito_testutil::max_abs_diff(want, &want.zeros_like().unwrap());
                    assert!(rel < 1e-4, "{w} gradient: relative {rel}");
                }
            }
        })
    }
}
