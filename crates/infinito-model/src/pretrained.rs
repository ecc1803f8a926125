//! Loading GPT-2 from Hugging Face model directories and peft adapter directories.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

use crate::config::Gpt2Config;
use crate::error::{ModelError, Result};
use crate::gpt2::Gpt2;
use crate::lora::{self, LoraBuilder, LoraConfig};

/// A LoRA adapter: its config and its trainable matrices (peft names).
pub struct Adapter {
    pub config: LoraConfig,
    pub varmap: VarMap,
}

impl Adapter {
    /// The trainable variables, sorted by name.
    pub fn trainable_vars(&self) -> Vec<(String, Var)> {
        let data = self.varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        let mut vars: Vec<(String, Var)> =
            data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    /// Writes the adapter as a peft directory.
    pub fn save(&self, dir: &Path) -> Result<()> {
        lora::save_adapter(&self.varmap, &self.config, dir)
    }
}

/// A GPT-2 and, optionally, the LoRA adapter built into it.
pub struct Pretrained {
    pub model: Gpt2,
    pub adapter: Option<Adapter>,
}

/// Puts Hugging Face GPT-2 tensor names in the `transformer.`-rooted form (old checkpoints store
/// `h.0...`), drops the causal-mask buffers and the tied `lm_head`, and converts to f32.
pub fn normalize_names(tensors: HashMap<String, Tensor>) -> Result<HashMap<String, Tensor>> {
    let mut out = HashMap::with_capacity(tensors.len());
    for (name, tensor) in tensors {
        if name == "lm_head.weight"
            || name.ends_with(".attn.bias")
            || name.ends_with(".attn.masked_bias")
        {
            continue;
        }
        let name = if name.starts_with("transformer.") {
            name
        } else {
            format!("transformer.{name}")
        };
        out.insert(name, tensor.to_dtype(DType::F32)?);
    }
    Ok(out)
}

/// Weights for a freshly initialised GPT-2, as Hugging Face initialises them: normal(0, 0.02)
/// matrices and embeddings (residual projections scaled by `1/sqrt(2·n_layer)`), zero biases,
/// unit LayerNorm gains. Deterministic for a given `seed`.
pub fn random_weights(
    config: &Gpt2Config,
    seed: u64,
    device: &Device,
) -> Result<HashMap<String, Tensor>> {
    let shapes = VarMap::new();
    Gpt2::load(
        config,
        VarBuilder::from_varmap(&shapes, DType::F32, device),
        None,
    )?;
    let names: Vec<(String, Vec<usize>)> = shapes
        .data()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(k, v)| (k.clone(), v.dims().to_vec()))
        .collect();
    let proj_std = 0.02 / (2.0 * config.n_layer as f64).sqrt();
    let mut out = HashMap::with_capacity(names.len());
    for (name, dims) in names {
        let n: usize = dims.iter().product();
        let values: Vec<f32> = if name.ends_with(".bias") {
            vec![0.0; n]
        } else if name.contains(".ln_") {
            vec![1.0; n]
        } else {
            let std = if name.ends_with("c_proj.weight") {
                proj_std
            } else {
                0.02
            };
            let normal =
                Normal::new(0.0, std as f32).map_err(|e| ModelError::Input(e.to_string()))?;
            let mut rng = StdRng::seed_from_u64(infinito_kernels::rng::seed_for(seed, &name));
            (0..n).map(|_| normal.sample(&mut rng)).collect()
        };
        out.insert(name, Tensor::from_vec(values, dims, device)?);
    }
    Ok(out)
}

fn weights_file(dir: &Path) -> Result<PathBuf> {
    ["model.safetensors", "pytorch_model.bin"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| ModelError::Weights {
            path: dir.to_path_buf(),
            message: "no model.safetensors or pytorch_model.bin in this model directory"
                .to_string(),
        })
}

/// The config and base weights (normalised names, f32) of a Hugging Face GPT-2 directory.
pub fn load_base(dir: &Path, device: &Device) -> Result<(Gpt2Config, HashMap<String, Tensor>)> {
    if !dir.is_dir() {
        return Err(ModelError::Weights {
            path: dir.to_path_buf(),
            message: "not a directory (expected a Hugging Face model directory with config.json)"
                .to_string(),
        });
    }
    let config = Gpt2Config::from_file(&dir.join("config.json"))?;
    let path = weights_file(dir)?;
    let tensors = normalize_names(infinito_checkpoint::load_tensors(&path, None, device)?)?;
    Ok((config, tensors))
}

impl Pretrained {
    /// Loads `config.json` and the weights of a Hugging Face GPT-2 directory and, with
    /// `adapter_dir`, a peft LoRA adapter.
    pub fn from_dir(dir: &Path, adapter_dir: Option<&Path>, device: &Device) -> Result<Self> {
        let (config, tensors) = load_base(dir, device)?;
        let lora = adapter_dir
            .map(|a| {
                let path = a.join(lora::ADAPTER_CONFIG);
                let lora = LoraConfig::from_file(&path)?;
                if lora.r > config.n_embd {
                    return Err(ModelError::Config {
                        path,
                        message: format!(
                            "r {} is more than the model's width n_embd ({})",
                            lora.r, config.n_embd
                        ),
                    });
                }
                Ok(lora)
            })
            .transpose()?;
        let pretrained = Self::from_tensors(&config, tensors, lora, device, dir)?;
        if let (Some(a), Some(adapter)) = (adapter_dir, &pretrained.adapter) {
            lora::load_adapter_weights(&adapter.varmap, a, device)?;
        }
        Ok(pretrained)
    }

    /// Builds GPT-2 from named tensors (see [`normalize_names`]); with `lora`, adds a fresh adapter
    /// (A random, B zero: an exact no-op until trained). `source` names the file in errors.
    pub fn from_tensors(
        config: &Gpt2Config,
        tensors: HashMap<String, Tensor>,
        lora: Option<LoraConfig>,
        device: &Device,
        source: &Path,
    ) -> Result<Self> {
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let weights_error = |e: candle_core::Error| ModelError::Weights {
            path: source.to_path_buf(),
            message: format!("does not hold the GPT-2 of its config: {e}"),
        };
        match lora {
            None => Ok(Self {
                model: Gpt2::load(config, vb, None).map_err(weights_error)?,
                adapter: None,
            }),
            Some(lora_config) => {
                let varmap = VarMap::new();
                let model = {
                    let builder = LoraBuilder {
                        config: &lora_config,
                        vb: lora::varmap_builder(&varmap, device),
                    };
                    Gpt2::load(config, vb, Some(&builder)).map_err(weights_error)?
                };
                Ok(Self {
                    model,
                    adapter: Some(Adapter {
                        config: lora_config,
                        varmap,
                    }),
                })
            }
        }
    }
}
