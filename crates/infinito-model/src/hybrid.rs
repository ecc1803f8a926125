//! The INFINITO hybrid: GPT-2 + LoRA, the PHI-guided memory, stochastic exploration and the learned
//! PHI head on the enhanced hidden state and the last layer's attention (spec §1, §2.2), with the
//! original's defects fixed (noise only in training, memory written after PHI with each sample's
//! PHI, weighted read-out, no dead parameters).

use std::collections::HashMap;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{Init, VarBuilder, VarMap};
use infinito_phi::{LearnedPhi, PhiComponents, PhiConfig};

use crate::config::Gpt2Config;
use crate::error::{ModelError, Result};
use crate::gpt2::{tied_head, AttentionCapture, Gpt2};
use crate::lora::{LoraBuilder, LoraConfig};
use crate::memory::PhiMemory;
use crate::nn::{seeded_normal, Mode};
use infinito_kernels::rng::seed_for;

/// Retrieved slots per query.
const TOP_K: usize = 5;
/// Weight of the memory read-out (plus exploration noise) added to the hidden state.
const MEMORY_SCALE: f64 = 0.4;
/// Initial scale of the exploration noise.
const NOISE_SCALE: f64 = 0.1;
/// State-dict prefixes of the parts of the hybrid.
pub const GPT2_PREFIX: &str = "gpt2.";
pub const MEMORY_PREFIX: &str = "memory.";
pub const PHI_PREFIX: &str = "iit_metrics.";
pub const NOISE_NAME: &str = "stochastic_exploration.adaptive_scale";

/// Sizes and options of the hybrid.
#[derive(Debug, Clone)]
pub struct HybridConfig {
    pub gpt2: Gpt2Config,
    pub lora: LoraConfig,
    pub memory_slots: usize,
    pub phi: PhiConfig,
    /// Train the GPT-2 base weights too (for models trained from scratch); otherwise they are
    /// frozen and only LoRA, the memory projection, the noise scale and the PHI nets train.
    pub train_base: bool,
}

/// One forward pass of the hybrid. The vocabulary logits are formed on request
/// ([`HybridOutput::logits`]); the training loss does without them ([`HybridOutput::lm_loss`]).
pub struct HybridOutput {
    /// The tied LM head `(V, D)`.
    head: Tensor,
    /// Learned PHI of each sequence.
    pub phi: PhiComponents,
    /// The hidden state the learned PHI scored: GPT-2's last hidden state plus the memory
    /// readout (and, in training, the exploration noise), `(B, T, D)`.
    pub hidden: Tensor,
    /// Fraction of memory slots in use after this pass.
    pub memory_utilization: f64,
    /// Where this pass's time went.
    pub times: ForwardTimes,
}

/// Seconds of host time spent in the parts of one hybrid forward pass. On the CPU that is the
/// compute; on CUDA, without a device sync, mostly the kernel launches.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ForwardTimes {
    /// GPT-2 with its adapters, up to the last hidden state and attention map.
    pub gpt2: f64,
    /// Memory read and write, exploration noise and the enhanced hidden state.
    pub memory: f64,
    /// The learned PHI.
    pub phi: f64,
}

impl ForwardTimes {
    /// The parts by name (`gpt2`, `memory`, `phi`).
    pub fn named(&self) -> [(&'static str, f64); 3] {
        [
            ("gpt2", self.gpt2),
            ("memory", self.memory),
            ("phi", self.phi),
        ]
    }
}

impl HybridOutput {
    /// Vocabulary logits of the enhanced hidden state, `(B, T, V)`.
    pub fn logits(&self) -> candle_core::Result<Tensor> {
        tied_head(&self.hidden, &self.head)
    }

    /// Mean cross-entropy of `labels` `(B, T)` under [`Self::logits`], in row chunks that never
    /// hold the full logits.
    pub fn lm_loss(&self, labels: &Tensor) -> candle_core::Result<Tensor> {
        infinito_kernels::linear_cross_entropy(&self.hidden, &self.head, labels)
    }
}

/// GPT-2 + LoRA + memory + noise + learned PHI.
pub struct Hybrid {
    config: HybridConfig,
    gpt2: Gpt2,
    memory: PhiMemory,
    phi: LearnedPhi,
    noise_scale: Var,
    varmap: VarMap,
}

impl Hybrid {
    /// Builds the hybrid on GPT-2 base weights (Hugging Face names, see
    /// [`crate::pretrained::normalize_names`]); everything trainable is initialised from `seed`.
    pub fn new(
        config: HybridConfig,
        base: HashMap<String, Tensor>,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let gpt2 = {
            let lora = LoraBuilder {
                config: &config.lora,
                vb: vb.pp("gpt2"),
            };
            if config.train_base {
                let base_vb = vb.pp("gpt2.base_model.model");
                let gpt2 = Gpt2::load(&config.gpt2, base_vb, Some(&lora))?;
                assign_base(&varmap, &base)?;
                gpt2
            } else {
                let base_vb = VarBuilder::from_tensors(base, DType::F32, device);
                Gpt2::load(&config.gpt2, base_vb, Some(&lora)).map_err(|e| ModelError::Weights {
                    path: "base weights".into(),
                    message: e.to_string(),
                })?
            }
        };
        let memory = PhiMemory::new(config.memory_slots, config.gpt2.n_embd, vb.pp("memory"))?;
        let phi = LearnedPhi::new(config.phi, vb.pp("iit_metrics"))?;
        let noise_scale =
            varmap.get((), NOISE_NAME, Init::Const(NOISE_SCALE), DType::F32, device)?;
        let noise_scale = Var::from_tensor(&noise_scale)?;
        phi.init_seeded(seed_for(seed, "iit_metrics"))
            .map_err(|e| ModelError::Input(e.to_string()))?;
        let hybrid = Self {
            config,
            gpt2,
            memory,
            phi,
            noise_scale,
            varmap,
        };
        hybrid.init_seeded(seed)?;
        Ok(hybrid)
    }

    /// Seeded PyTorch-style initialisation of LoRA A (U(±1/√in)) and the memory projection
    /// (U(±1/√D)), each from the seed of its own name; LoRA B stays zero so the adapter starts
    /// as an exact no-op.
    fn init_seeded(&self, seed: u64) -> Result<()> {
        let data = self.varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        for (name, var) in data.iter() {
            let fan_in = *var.dims().last().unwrap_or(&1);
            if name.ends_with("lora_A.weight") || name.starts_with("memory.query_proj.") {
                let fan_in = if name.ends_with(".bias") {
                    self.config.gpt2.n_embd
                } else {
                    fan_in
                };
                let bound = 1.0 / (fan_in as f64).sqrt();
                let u = crate::nn::seeded_uniform(var.as_tensor(), seed_for(seed, name))?;
                var.set(&((u * (2.0 * bound))? - bound)?)?;
            }
        }
        Ok(())
    }

    /// The configuration.
    pub fn config(&self) -> &HybridConfig {
        &self.config
    }

    /// The GPT-2 inside (with its adapters).
    pub fn gpt2(&self) -> &Gpt2 {
        &self.gpt2
    }

    /// The memory.
    pub fn memory(&self) -> &PhiMemory {
        &self.memory
    }

    /// Runs the hybrid on `input_ids` `(B, T)`. In training mode the exploration noise and every
    /// dropout are drawn from the mode's seed, and the memory stores each sequence's mean hidden
    /// state with its PHI; evaluation is deterministic and leaves the memory unchanged.
    pub fn forward(&mut self, input_ids: &Tensor, mode: Mode) -> Result<HybridOutput> {
        let mut clock = Instant::now();
        let mut lap = move || {
            let now = Instant::now();
            let secs = (now - clock).as_secs_f64();
            clock = now;
            secs
        };
        let mut times = ForwardTimes::default();
        let out =
            self.gpt2
                .forward(input_ids, mode.derive("gpt2"), AttentionCapture::Last, None)?;
        times.gpt2 = lap();
        let h = out.hidden;
        let attention = &out.attentions[0];
        let query = h.mean(1)?;
        let read = self.memory.read(&query, TOP_K)?;
        let mut residual = read.readout.unsqueeze(1)?.broadcast_as(h.shape())?;
        if let Mode::Train { seed } = mode.derive("noise") {
            let noise = seeded_normal(&h, seed)?.broadcast_mul(self.noise_scale.as_tensor())?;
            residual = (residual + noise)?;
        }
        let enhanced = (&h + (residual * MEMORY_SCALE)?)?;
        if let Mode::Train { seed } = mode.derive("iit_metrics") {
            self.phi.set_dropout_seed(seed);
        }
        times.memory = lap();
        let phi = self
            .phi
            .forward(&enhanced, Some(attention), mode.is_train())?;
        times.phi = lap();
        if mode.is_train() {
            self.memory.write(&query, &query, &phi.phi_estimate)?;
        }
        times.memory += lap();
        Ok(HybridOutput {
            head: self.gpt2.head_weight().clone(),
            phi,
            hidden: enhanced,
            memory_utilization: self.memory.utilization(),
            times,
        })
    }

    /// Every trainable variable with its state-dict name, sorted by name.
    pub fn trainable_vars(&self) -> Vec<(String, Var)> {
        let data = self.varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        let mut vars: Vec<(String, Var)> =
            data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    /// Parameters and buffers (memory, PHI BatchNorm statistics) under their state-dict names.
    pub fn state(&self) -> Result<HashMap<String, Tensor>> {
        let device = self.gpt2.device();
        let mut out: HashMap<String, Tensor> = self
            .trainable_vars()
            .into_iter()
            .map(|(k, v)| (k, v.as_tensor().detach()))
            .collect();
        for (k, v) in self.memory.buffers(device)? {
            out.insert(format!("{MEMORY_PREFIX}{k}"), v);
        }
        let phi_state = self
            .phi
            .state_dict(PHI_PREFIX)
            .map_err(|e| ModelError::Input(e.to_string()))?;
        out.extend(phi_state);
        Ok(out)
    }

    /// Restores a state saved by [`Self::state`] (or imported from the original's checkpoint).
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        let missing =
            infinito_checkpoint::assign_varmap(&self.varmap, tensors, "", "checkpoint".as_ref())?;
        if let Some(first) = missing.first() {
            return Err(ModelError::Input(format!(
                "checkpoint lacks {} trainable tensor(s), e.g. {first}",
                missing.len()
            )));
        }
        self.memory.load_buffers(tensors, MEMORY_PREFIX)?;
        self.phi
            .load_state_dict(tensors, PHI_PREFIX)
            .map_err(|e| ModelError::Input(e.to_string()))?;
        Ok(())
    }
}

/// Copies base weights into the trainable `VarMap` entries under `gpt2.base_model.model.`.
fn assign_base(varmap: &VarMap, base: &HashMap<String, Tensor>) -> Result<()> {
    let prefix = "gpt2.base_model.model.";
    let renamed: HashMap<String, Tensor> = base
        .iter()
        .map(|(k, v)| (format!("{prefix}{k}"), v.clone()))
        .collect();
    let missing =
        infinito_checkpoint::assign_varmap(varmap, &renamed, "", "base weights".as_ref())?;
    match missing
        .iter()
        .find(|m| m.starts_with(prefix) && !m.contains(".lora_"))
    {
        Some(m) => Err(ModelError::Weights {
            path: "base weights".into(),
            message: format!("missing GPT-2 tensor {}", &m[prefix.len()..]),
        }),
        None => Ok(()),
    }
}
