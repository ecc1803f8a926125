//! Import of the original Python trainer's checkpoint (`torch.save` of a dict whose
//! `model_state_dict` holds the hybrid's peft/IIT names): infers every size from the shapes and
//! maps the names to this crate's, dropping what the corrected model no longer has
//! (`memory.key_proj`, `memory.attention_scores`, `phi_weights.*`).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use candle_core::Tensor;
use infinito_phi::LearnedPhi;

use crate::config::Gpt2Config;
use crate::error::{ModelError, Result};
use crate::hybrid::{HybridConfig, MEMORY_PREFIX, NOISE_NAME, PHI_PREFIX};
use crate::lora::LoraConfig;
use crate::pretrained::normalize_names;

/// Where the peft-wrapped GPT-2 lives in the original state dict.
const PEFT_GPT2: &str = "gpt2.base_model.model.";

/// An original checkpoint split into what [`crate::hybrid::Hybrid`] needs.
pub struct Imported {
    pub config: HybridConfig,
    /// GPT-2 base weights under Hugging Face names.
    pub base: HashMap<String, Tensor>,
    /// LoRA, memory, noise and PHI tensors under the hybrid's state names.
    pub state: HashMap<String, Tensor>,
}

fn weights_error(path: &Path, message: impl Into<String>) -> ModelError {
    ModelError::Weights {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// True when the tensors look like the original hybrid's state dict.
pub fn is_original(tensors: &HashMap<String, Tensor>) -> bool {
    tensors.keys().any(|k| k.starts_with(PEFT_GPT2))
}

/// Splits and renames an original state dict; `lora_alpha` is not stored in it (the original
/// used 32 for r=8 and 16 for r=4: scaling 4).
pub fn import_original(
    tensors: HashMap<String, Tensor>,
    lora_alpha: Option<f64>,
    path: &Path,
) -> Result<Imported> {
    if tensors
        .keys()
        .any(|k| k.starts_with("iit_transformer.") || k.starts_with("gpt2_full."))
    {
        return Err(weights_error(
            path,
            "is a phase-2 checkpoint (IIT-transformer blocks replacing GPT-2 layers, no causal mask), not the \
             GPT-2 + LoRA hybrid; train_base_more cannot continue it",
        ));
    }
    if !is_original(&tensors) {
        return Err(weights_error(
            path,
            format!(
                "has no `{PEFT_GPT2}*` tensors; expected the original hybrid's model_state_dict"
            ),
        ));
    }
    let mut base = HashMap::new();
    let mut state = HashMap::new();
    let mut targets = BTreeSet::new();
    let mut rank = None;
    for (name, tensor) in &tensors {
        if let Some(rest) = name.strip_prefix(PEFT_GPT2) {
            if rest.contains(".lora_") {
                let rest = rest.replace(".default.", ".");
                if rest.contains("lora_A") {
                    rank = Some(tensor.dim(0)?);
                }
                if let Some(module) = rest
                    .split(".lora_")
                    .next()
                    .and_then(|m| m.rsplit('.').next())
                {
                    targets.insert(module.to_string());
                }
                state.insert(format!("{PEFT_GPT2}{rest}"), tensor.clone());
            } else {
                base.insert(rest.replace(".base_layer.", "."), tensor.clone());
            }
        } else if name.starts_with(PHI_PREFIX) || name == NOISE_NAME {
            state.insert(name.clone(), tensor.clone());
        } else if let Some(rest) = name.strip_prefix(MEMORY_PREFIX) {
            if !rest.starts_with("key_proj.") && rest != "attention_scores" {
                state.insert(name.clone(), tensor.clone());
            }
        }
    }
    let base = normalize_names(base)?;
    let r = rank.ok_or_else(|| {
        weights_error(
            path,
            "has no LoRA tensors (lora_A); only LoRA hybrids are supported",
        )
    })?;
    let phi = LearnedPhi::infer_config(&tensors, PHI_PREFIX)
        .map_err(|e| weights_error(path, e.to_string()))?;
    let gpt2 = infer_gpt2_config(&base, phi.num_heads, path)?;
    let memory_slots = tensors
        .get("memory.memory_keys")
        .map(|t| t.dim(0))
        .transpose()?
        .ok_or_else(|| weights_error(path, "has no memory.memory_keys"))?;
    let mut lora = LoraConfig::new(r, lora_alpha.unwrap_or(4.0 * r as f64), 0.1);
    lora.target_modules = targets.into_iter().collect();
    Ok(Imported {
        config: HybridConfig {
            gpt2,
            lora,
            memory_slots,
            phi,
            train_base: false,
        },
        base,
        state,
    })
}

/// GPT-2 sizes from the shapes of its tensors; the head count comes from elsewhere (the PHI
/// kernel's head processors) since no GPT-2 tensor records it.
fn infer_gpt2_config(
    base: &HashMap<String, Tensor>,
    n_head: usize,
    path: &Path,
) -> Result<Gpt2Config> {
    let dims2 = |name: &str| -> Result<(usize, usize)> {
        base.get(name)
            .ok_or_else(|| weights_error(path, format!("lacks {name}")))?
            .dims2()
            .map_err(ModelError::from)
    };
    let (vocab_size, n_embd) = dims2("transformer.wte.weight")?;
    let (n_positions, _) = dims2("transformer.wpe.weight")?;
    let n_layer = base
        .keys()
        .filter_map(|k| {
            k.strip_prefix("transformer.h.")?
                .split('.')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .max()
        .map_or(0, |m| m + 1);
    let (_, inner) = dims2("transformer.h.0.mlp.c_fc.weight")?;
    let mut config = Gpt2Config::new(vocab_size, n_positions, n_embd, n_layer, n_head);
    config.n_inner = Some(inner);
    config.validate().map_err(|m| weights_error(path, m))?;
    Ok(config)
}
