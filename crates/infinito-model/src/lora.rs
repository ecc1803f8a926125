//! LoRA adapters with peft semantics: `y = base(x) + (alpha / r) · B(A(dropout(x)))`, peft's
//! `adapter_config.json` and `adapter_model.safetensors` key names, and merging into `Conv1D` weights.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{Init, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::nn::{dropout, matmul_last, Conv1D, Mode};

/// Prefix peft puts before the model's own parameter names in adapter files.
pub const PEFT_PREFIX: &str = "base_model.model";
/// File names of a peft adapter directory.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";

/// The part of peft's `LoraConfig` that defines a LoRA adapter on GPT-2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    pub r: usize,
    pub lora_alpha: f64,
    #[serde(default)]
    pub lora_dropout: f32,
    pub target_modules: Vec<String>,
    /// GPT-2's layers are `Conv1D`, for which peft forces `fan_in_fan_out = true` whatever the
    /// file says; either value loads the same adapter.
    #[serde(default = "default_true")]
    pub fan_in_fan_out: bool,
    #[serde(default = "default_bias")]
    pub bias: String,
    #[serde(default)]
    pub use_rslora: bool,
    #[serde(default)]
    pub use_dora: bool,
    #[serde(default = "default_peft_type")]
    pub peft_type: String,
    #[serde(default)]
    pub task_type: Option<String>,
    /// peft settings this crate does not implement, kept only to refuse them when set
    /// (`alpha_pattern`, `rank_pattern`, `modules_to_save`, `layers_to_transform`,
    /// `layers_pattern`, `exclude_modules`, `layer_replication`, `trainable_token_indices`,
    /// `target_parameters`, `lora_bias`).
    #[serde(flatten)]
    pub unsupported: UnsupportedPeft,
}

/// The peft settings that [`LoraConfig::validate`] refuses when they are set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UnsupportedPeft {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha_pattern: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank_pattern: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modules_to_save: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers_to_transform: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers_pattern: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_modules: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_replication: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trainable_token_indices: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_parameters: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora_bias: Option<serde_json::Value>,
}

impl UnsupportedPeft {
    /// The first setting that is present with a value (not null, not empty).
    fn first_set(&self) -> Option<&'static str> {
        let set = |v: &Option<serde_json::Value>| match v {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Object(m)) => !m.is_empty(),
            Some(serde_json::Value::Array(a)) => !a.is_empty(),
            Some(serde_json::Value::String(s)) => !s.is_empty(),
            Some(serde_json::Value::Bool(b)) => *b,
            Some(_) => true,
        };
        [
            ("alpha_pattern", &self.alpha_pattern),
            ("rank_pattern", &self.rank_pattern),
            ("modules_to_save", &self.modules_to_save),
            ("layers_to_transform", &self.layers_to_transform),
            ("layers_pattern", &self.layers_pattern),
            ("exclude_modules", &self.exclude_modules),
            ("layer_replication", &self.layer_replication),
            ("trainable_token_indices", &self.trainable_token_indices),
            ("target_parameters", &self.target_parameters),
            ("lora_bias", &self.lora_bias),
        ]
        .into_iter()
        .find(|(_, v)| set(v))
        .map(|(name, _)| name)
    }
}

fn default_true() -> bool {
    true
}
fn default_bias() -> String {
    "none".to_string()
}
fn default_peft_type() -> String {
    "LORA".to_string()
}

impl LoraConfig {
    /// The original system's adapter: `c_attn` and `c_proj` (which matches both attention and MLP
    /// projections), rank `r`, the given alpha and dropout.
    pub fn new(r: usize, lora_alpha: f64, lora_dropout: f32) -> Self {
        Self {
            r,
            lora_alpha,
            lora_dropout,
            target_modules: vec!["c_attn".to_string(), "c_proj".to_string()],
            fan_in_fan_out: true,
            bias: default_bias(),
            use_rslora: false,
            use_dora: false,
            peft_type: default_peft_type(),
            task_type: Some("CAUSAL_LM".to_string()),
            unsupported: UnsupportedPeft::default(),
        }
    }

    /// Reads and validates `adapter_config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let config: Self = serde_json::from_str(&text).map_err(|source| ModelError::Json {
            path: path.to_path_buf(),
            expected: "a peft LoRA adapter config with r, lora_alpha and a list of target_modules",
            source,
        })?;
        config.validate().map_err(|message| ModelError::Config {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(config)
    }

    /// Checks that the adapter is one this crate computes exactly.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.peft_type != "LORA" {
            return Err(format!("peft_type {:?}, expected \"LORA\"", self.peft_type));
        }
        if self.r == 0 {
            return Err("r must be positive".to_string());
        }
        if !(self.lora_alpha.is_finite() && self.lora_alpha > 0.0) {
            return Err(format!(
                "lora_alpha {} must be a finite number > 0",
                self.lora_alpha
            ));
        }
        if let Some(name) = self.unsupported.first_set() {
            return Err(format!(
                "{name} is not supported (one r and lora_alpha for every targeted module of every layer)"
            ));
        }
        if self.use_dora {
            return Err("DoRA adapters (use_dora=true) are not supported".to_string());
        }
        if self.bias != "none" {
            return Err(format!("bias {:?}, expected \"none\"", self.bias));
        }
        if !(0.0..1.0).contains(&self.lora_dropout) {
            return Err(format!(
                "lora_dropout {} must be in [0, 1)",
                self.lora_dropout
            ));
        }
        if self.target_modules.is_empty() {
            return Err("target_modules is empty".to_string());
        }
        Ok(())
    }

    /// `alpha / r`, or `alpha / sqrt(r)` for rsLoRA.
    pub fn scaling(&self) -> f64 {
        if self.use_rslora {
            self.lora_alpha / (self.r as f64).sqrt()
        } else {
            self.lora_alpha / self.r as f64
        }
    }

    /// peft's suffix rule: a module is targeted when its dotted name equals a target or ends with
    /// `.target`.
    pub fn targets(&self, module: &str) -> bool {
        self.target_modules
            .iter()
            .any(|t| module == t || module.ends_with(&format!(".{t}")))
    }
}

/// Trainable LoRA matrices of one layer.
#[derive(Debug, Clone)]
struct LoraPair {
    /// `[r, in]` (peft `lora_A.weight`).
    a: Tensor,
    /// `[out, r]` (peft `lora_B.weight`).
    b: Tensor,
    scaling: f64,
    dropout: f32,
}

/// A `Conv1D` with an optional LoRA adapter.
#[derive(Debug, Clone)]
pub struct LoraConv1D {
    base: Conv1D,
    lora: Option<LoraPair>,
}

/// Where the adapters of a model come from: the config and a builder over its `VarMap`.
#[derive(Clone)]
pub struct LoraBuilder<'a> {
    pub config: &'a LoraConfig,
    /// Positioned at the model root; paths get the peft prefix added.
    pub vb: VarBuilder<'a>,
}

impl LoraConv1D {
    /// Loads the base layer from `vb` at `path` and, if `lora` targets `path`, creates its adapter
    /// (A Kaiming-uniform like peft, B zeros) in the LoRA `VarMap`.
    pub fn load(
        vb: &VarBuilder,
        lora: Option<&LoraBuilder>,
        path: &str,
        n_in: usize,
        n_out: usize,
    ) -> candle_core::Result<Self> {
        let base = Conv1D::load(vb.pp(path), n_in, n_out)?;
        let lora = match lora {
            Some(l) if l.config.targets(path) => {
                let lvb = l.vb.pp(PEFT_PREFIX).pp(path);
                let bound = 1.0 / (n_in as f64).sqrt();
                let r = l.config.r;
                Some(LoraPair {
                    a: lvb.get_with_hints(
                        (r, n_in),
                        "lora_A.weight",
                        Init::Uniform {
                            lo: -bound,
                            up: bound,
                        },
                    )?,
                    b: lvb.get_with_hints((n_out, r), "lora_B.weight", Init::Const(0.0))?,
                    scaling: l.config.scaling(),
                    dropout: l.config.lora_dropout,
                })
            }
            _ => None,
        };
        Ok(Self { base, lora })
    }

    /// `base(x) + scaling · (dropout(x) · Aᵀ) · Bᵀ`.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> candle_core::Result<Tensor> {
        let y = self.base.forward(x)?;
        let Some(l) = &self.lora else { return Ok(y) };
        let (a, b) = if mode.is_train() {
            (l.a.clone(), l.b.clone())
        } else {
            (l.a.detach(), l.b.detach())
        };
        let h = matmul_last(&dropout(x, l.dropout, mode)?, &a.t()?)?;
        let delta = matmul_last(&h, &b.t()?)?;
        y + (delta * l.scaling)?
    }

    /// The same layer with the adapter folded into the weight: `W + scaling · (B·A)ᵀ`.
    pub fn merged(&self) -> candle_core::Result<Self> {
        let Some(l) = &self.lora else {
            return Ok(self.clone());
        };
        let delta = (l.b.matmul(&l.a)?.t()? * l.scaling)?;
        Ok(Self {
            base: Conv1D {
                weight: (&self.base.weight + delta)?,
                bias: self.base.bias.clone(),
            },
            lora: None,
        })
    }
}

/// A `VarBuilder` over a LoRA `VarMap` (f32).
pub fn varmap_builder<'a>(varmap: &'a VarMap, device: &Device) -> VarBuilder<'a> {
    VarBuilder::from_varmap(varmap, DType::F32, device)
}

/// Copies the tensors of a peft `adapter_model.safetensors` into an adapter `VarMap` that the model
/// has already populated; every adapter of the model must be present in the file.
pub fn load_adapter_weights(varmap: &VarMap, dir: &Path, device: &Device) -> Result<()> {
    let path = dir.join(ADAPTER_WEIGHTS);
    let tensors = infinito_checkpoint::load_tensors(&path, None, device)?;
    let tensors: HashMap<String, Tensor> = tensors
        .into_iter()
        .map(|(k, v)| (k.replace(".default.", "."), v))
        .collect();
    let missing = infinito_checkpoint::assign_varmap(varmap, &tensors, "", &path)?;
    if let Some(first) = missing.first() {
        return Err(ModelError::Weights {
            path,
            message: format!(
                "missing {} adapter tensor(s), e.g. {first}; the adapter config does not match its weights",
                missing.len()
            ),
        });
    }
    Ok(())
}

/// Writes a peft adapter directory (`adapter_config.json` and `adapter_model.safetensors`).
pub fn save_adapter(varmap: &VarMap, config: &LoraConfig, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| ModelError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let tensors: HashMap<String, Tensor> = varmap
        .data()
        .lock()
        .map_err(|_| ModelError::Input("adapter VarMap lock poisoned".to_string()))?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    infinito_checkpoint::save_tensors(&dir.join(ADAPTER_WEIGHTS), &tensors, None)?;
    infinito_checkpoint::save_json(&dir.join(ADAPTER_CONFIG), config)?;
    Ok(())
}
