//! Trainer checkpoints: one safetensors file with the model state, the optimizer moments and
//! JSON metadata holding the run config, counters, schedules and history.

use super::state::RunState;
use crate::error::{Result, TrainError};
use crate::optim::AdamWState;
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// Format tag of the metadata; bump it when the layout changes.
pub const CHECKPOINT_FORMAT: &str = "infinito.trainer.v1";

/// Prefix of the model's tensors in a checkpoint.
const MODEL_PREFIX: &str = "model.";
/// Prefix of the optimizer's tensors in a checkpoint.
const OPTIM_PREFIX: &str = "optim.";

/// The JSON metadata of a trainer checkpoint.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Meta {
    /// [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// `"last"`, `"best"` or `"step"`.
    pub kind: String,
    /// The caller's run configuration.
    pub config: serde_json::Value,
    /// Counters, schedules and history.
    pub trainer: RunState,
    /// The optimizer's step counts and hyper-parameters (current lr included).
    pub optimizer: serde_json::Value,
}

/// The content of a checkpoint file.
pub(crate) struct Loaded {
    pub model: HashMap<String, Tensor>,
    pub optimizer: AdamWState,
    pub meta: Meta,
}

/// Writes a checkpoint atomically. Refuses (writing nothing) if a model tensor is not finite.
pub(crate) fn save(
    path: &Path,
    model: HashMap<String, Tensor>,
    optimizer: AdamWState,
    meta: &Meta,
) -> Result<()> {
    let mut tensors = HashMap::with_capacity(model.len() + optimizer.tensors.len());
    for (name, tensor) in model {
        if !all_finite(&tensor)? {
            return Err(TrainError::NonFiniteWeights {
                path: path.to_path_buf(),
                name,
            });
        }
        tensors.insert(format!("{MODEL_PREFIX}{name}"), tensor);
    }
    for (name, tensor) in optimizer.tensors {
        tensors.insert(format!("{OPTIM_PREFIX}{name}"), tensor);
    }
    let meta = serde_json::to_value(meta).map_err(|e| TrainError::Resume {
        path: path.to_path_buf(),
        reason: format!("cannot encode the metadata: {e}"),
    })?;
    infinito_checkpoint::save_tensors(path, &tensors, Some(&meta))?;
    Ok(())
}

/// Reads a checkpoint written by [`save`], with tensors on `device`.
pub(crate) fn load(path: &Path, device: &Device) -> Result<Loaded> {
    let bad = |reason: String| TrainError::Resume {
        path: path.to_path_buf(),
        reason,
    };
    // The header first: it tells a foreign or truncated file apart cheaply.
    let meta = infinito_checkpoint::read_metadata(path)?.ok_or_else(|| {
        bad("it has no trainer metadata (a model-only file? use the trainer's checkpoints/last.safetensors)".into())
    })?;
    let format = meta.get("format").and_then(serde_json::Value::as_str);
    if format != Some(CHECKPOINT_FORMAT) {
        return Err(bad(format!(
            "metadata format {format:?}, expected {CHECKPOINT_FORMAT:?}"
        )));
    }
    let meta: Meta =
        serde_json::from_value(meta).map_err(|e| bad(format!("invalid trainer metadata: {e}")))?;
    let mut model = HashMap::new();
    let mut optim = HashMap::new();
    for (name, tensor) in infinito_checkpoint::load_tensors(path, None, device)? {
        if let Some(rest) = name.strip_prefix(MODEL_PREFIX) {
            model.insert(rest.to_string(), tensor);
        } else if let Some(rest) = name.strip_prefix(OPTIM_PREFIX) {
            optim.insert(rest.to_string(), tensor);
        } else {
            return Err(bad(format!(
                "unexpected tensor {name:?} (expected names starting with {MODEL_PREFIX:?} or {OPTIM_PREFIX:?})"
            )));
        }
    }
    let optimizer = AdamWState {
        tensors: optim,
        meta: meta.optimizer.clone(),
    };
    Ok(Loaded {
        model,
        optimizer,
        meta,
    })
}

/// The run configuration and the model tensors of a trainer checkpoint, for evaluation.
pub fn read_model(
    path: &Path,
    device: &Device,
) -> Result<(serde_json::Value, HashMap<String, Tensor>)> {
    let loaded = load(path, device)?;
    Ok((loaded.meta.config, loaded.model))
}

/// True when every element of a float tensor is finite (integer tensors always are).
fn all_finite(tensor: &Tensor) -> Result<bool> {
    if !tensor.dtype().is_float() {
        return Ok(true);
    }
    // x * 0 is 0 for finite x and NaN for NaN or +-inf; one NaN makes the sum NaN.
    let sum = tensor
        .affine(0.0, 0.0)?
        .to_dtype(DType::F32)?
        .sum_all()?
        .to_scalar::<f32>()?;
    Ok(sum == 0.0)
}
