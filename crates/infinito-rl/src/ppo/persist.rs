//! Saving and loading agents: one safetensors file with the policy under SB3's `policy.pth`
//! names, Adam's moments, and JSON metadata (config, counters, generator states).

use super::agent::Ppo;
use super::config::PpoConfig;
use super::network::ParamSpec;
use crate::error::{Result, RlError};
use candle_core::{DType, Device, Tensor};
use infinito_checkpoint::{load_tensors, read_metadata, save_tensors, CheckpointError};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// The `format` tag of agent files.
pub const AGENT_FORMAT: &str = "infinito-ppo";
/// The version of the agent file layout.
const AGENT_VERSION: u32 = 1;
/// Name prefixes of Adam's first and second moments.
const EXP_AVG: &str = "adam.exp_avg.";
const EXP_AVG_SQ: &str = "adam.exp_avg_sq.";

/// Everything in an agent file besides tensors.
#[derive(Serialize, Deserialize)]
struct Metadata {
    format: String,
    version: u32,
    config: PpoConfig,
    seed: u64,
    obs_dim: usize,
    n_actions: usize,
    num_timesteps: u64,
    n_updates: u64,
    progress_remaining: f64,
    adam_step: u64,
    rng: ChaCha8Rng,
    predict_rng: ChaCha8Rng,
}

impl Ppo {
    /// Saves the agent atomically to one safetensors file: the policy tensors named as in SB3's
    /// `policy.pth`, Adam's moments (`adam.exp_avg.<name>`, `adam.exp_avg_sq.<name>`), and
    /// metadata (format tag, config, sizes, counters, generator states).
    ///
    /// The episode in progress is not saved: a loaded agent resets its environment first.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut tensors = HashMap::new();
        for spec in &self.net.specs {
            let range = spec.range();
            for (prefix, values) in [
                ("", &self.net.params),
                (EXP_AVG, &self.adam.exp_avg),
                (EXP_AVG_SQ, &self.adam.exp_avg_sq),
            ] {
                let tensor = Tensor::from_slice(
                    &values[range.clone()],
                    spec.shape.as_slice(),
                    &Device::Cpu,
                )?;
                tensors.insert(format!("{prefix}{}", spec.name), tensor);
            }
        }
        let metadata = Metadata {
            format: AGENT_FORMAT.to_string(),
            version: AGENT_VERSION,
            config: self.config.clone(),
            seed: self.seed,
            obs_dim: self.obs_dim(),
            n_actions: self.n_actions(),
            num_timesteps: self.num_timesteps,
            n_updates: self.n_updates,
            progress_remaining: self.progress_remaining,
            adam_step: self.adam.step,
            rng: self.rng.clone(),
            predict_rng: self
                .predict_rng
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
        };
        let value = serde_json::to_value(&metadata).map_err(|e| RlError::BadFile {
            path: path.to_path_buf(),
            reason: format!("cannot encode the agent's metadata: {e}"),
        })?;
        save_tensors(path, &tensors, Some(&value))?;
        Ok(())
    }

    /// Loads an agent written by [`Ppo::save`], ready to continue exactly where it was saved
    /// (same weights, optimizer moments, generators and counters).
    pub fn load(path: &Path) -> Result<Self> {
        let bad = |reason: String| RlError::BadFile {
            path: path.to_path_buf(),
            reason,
        };
        let value = read_metadata(path)?.ok_or_else(|| {
            bad("no agent metadata; not an agent file saved by infinito-rl".to_string())
        })?;
        let format = value.get("format").and_then(|f| f.as_str()).unwrap_or("");
        if format != AGENT_FORMAT {
            return Err(bad(format!(
                "metadata format {format:?}, expected {AGENT_FORMAT:?} (a PPO agent file)"
            )));
        }
        let meta: Metadata = serde_json::from_value(value)
            .map_err(|e| bad(format!("invalid agent metadata: {e}")))?;
        if meta.version != AGENT_VERSION {
            return Err(bad(format!(
                "agent file version {}, this program reads version {AGENT_VERSION}",
                meta.version
            )));
        }
        let mut agent =
            Ppo::with_zero_weights(meta.obs_dim, meta.n_actions, meta.config, meta.seed)
                .map_err(|e| bad(format!("invalid agent metadata: {e}")))?;
        let tensors = load_tensors(path, None, &Device::Cpu)?;
        let specs = agent.net.specs.clone();
        copy_tensors(path, &tensors, &specs, "", &mut agent.net.params)?;
        copy_tensors(path, &tensors, &specs, EXP_AVG, &mut agent.adam.exp_avg)?;
        copy_tensors(
            path,
            &tensors,
            &specs,
            EXP_AVG_SQ,
            &mut agent.adam.exp_avg_sq,
        )?;
        agent.adam.step = meta.adam_step;
        agent.num_timesteps = meta.num_timesteps;
        agent.n_updates = meta.n_updates;
        agent.progress_remaining = meta.progress_remaining;
        agent.rng = meta.rng;
        agent.predict_rng = meta.predict_rng.into();
        Ok(agent)
    }
}

/// Copies the tensors `<prefix><spec name>` into their places in `dest`, checking shapes.
pub(crate) fn copy_tensors(
    path: &Path,
    tensors: &HashMap<String, Tensor>,
    specs: &[ParamSpec],
    prefix: &str,
    dest: &mut [f32],
) -> Result<()> {
    for spec in specs {
        let name = format!("{prefix}{}", spec.name);
        let tensor = tensors
            .get(&name)
            .ok_or_else(|| CheckpointError::MissingTensor {
                path: path.to_path_buf(),
                name: name.clone(),
            })?;
        if tensor.dims() != spec.shape.as_slice() {
            return Err(CheckpointError::Shape {
                path: path.to_path_buf(),
                name,
                expected: spec.shape.clone(),
                got: tensor.dims().to_vec(),
            }
            .into());
        }
        let values = tensor
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        dest[spec.range()].copy_from_slice(&values);
    }
    Ok(())
}
