//! State dicts in the original names: saving, loading (with any prefix, e.g. `iit_metrics.`),
//! inferring the configuration from shapes, and seeded PyTorch-style initialisation.

use crate::batch_norm::RunningStats;
use crate::config::PhiConfig;
use crate::error::{PhiError, Result};
use crate::learned::LearnedPhi;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use infinito_kernels::rng::{seed_for, SplitMix64};
use std::collections::HashMap;

/// The key whose presence marks a set of PHI weights.
const MARKER: &str = "temporal_net.input_proj.weight";

/// The prefix in front of the PHI weights of a state dict: `""` for a bare PHI state dict,
/// `"iit_metrics."` for the hybrid model's.
pub fn find_prefix(tensors: &HashMap<String, Tensor>) -> Result<String> {
    let mut found: Vec<String> = tensors
        .keys()
        .filter_map(|k| k.strip_suffix(MARKER).map(str::to_string))
        .collect();
    found.sort();
    match found.len() {
        0 => Err(PhiError::NoWeights(MARKER)),
        1 => Ok(found.remove(0)),
        _ => Err(PhiError::AmbiguousPrefix(found)),
    }
}

fn lookup<'a>(tensors: &'a HashMap<String, Tensor>, key: &str) -> Result<&'a Tensor> {
    tensors.get(key).ok_or_else(|| PhiError::MissingKey {
        key: key.to_string(),
    })
}

/// (rows, cols) of a matrix in the state dict.
fn matrix(tensors: &HashMap<String, Tensor>, key: &str) -> Result<(usize, usize)> {
    match *lookup(tensors, key)?.dims() {
        [r, c] => Ok((r, c)),
        ref dims => Err(PhiError::Config(format!(
            "`{key}` must be a matrix, has shape {dims:?}"
        ))),
    }
}

/// One BatchNorm buffer of the state dict.
fn buffer_keys(bn: &str) -> [String; 3] {
    ["running_mean", "running_var", "num_batches_tracked"]
        .map(|b| format!("complexity_net.{bn}.{b}"))
}

impl LearnedPhi {
    /// Infers D, H and the four internal widths from the shapes of a state dict (H is the number of
    /// `diversity_net.head_processors.N`). The options keep their original defaults.
    pub fn infer_config(tensors: &HashMap<String, Tensor>, prefix: &str) -> Result<PhiConfig> {
        let key = |k: &str| format!("{prefix}{k}");
        let (temporal_dim, two_d) = matrix(tensors, &key("temporal_net.input_proj.weight"))?;
        let (integration_dim, _) = matrix(tensors, &key("integration_net.input_proj.weight"))?;
        let (complexity_dim, _) = matrix(tensors, &key("complexity_net.input_proj.weight"))?;
        let heads_prefix = key("diversity_net.head_processors.");
        let num_heads = tensors
            .keys()
            .filter_map(|k| {
                k.strip_prefix(&heads_prefix)?
                    .strip_suffix(".2.weight")?
                    .parse::<usize>()
                    .ok()
            })
            .map(|h| h + 1)
            .max()
            .unwrap_or(0);
        let (diversity_dim, _) = matrix(tensors, &key("diversity_net.head_processors.0.2.weight"))?;
        let mut cfg = PhiConfig::new(two_d / 2, num_heads);
        cfg.temporal_dim = temporal_dim;
        cfg.integration_dim = integration_dim;
        cfg.complexity_dim = complexity_dim;
        cfg.diversity_dim = diversity_dim;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Builds a module with the original options from a state dict (prefix found with
    /// [`find_prefix`] when `None`), its parameters held by the returned `VarMap`.
    pub fn from_state_dict(
        tensors: &HashMap<String, Tensor>,
        prefix: Option<&str>,
        device: &Device,
    ) -> Result<(Self, VarMap)> {
        let prefix = match prefix {
            Some(p) => p.to_string(),
            None => find_prefix(tensors)?,
        };
        let cfg = Self::infer_config(tensors, &prefix)?;
        Self::from_config_and_state_dict(cfg, tensors, &prefix, device)
    }

    /// Builds a module with `cfg` and loads the state dict into it.
    pub fn from_config_and_state_dict(
        cfg: PhiConfig,
        tensors: &HashMap<String, Tensor>,
        prefix: &str,
        device: &Device,
    ) -> Result<(Self, VarMap)> {
        let varmap = VarMap::new();
        let phi = Self::new(cfg, VarBuilder::from_varmap(&varmap, DType::F32, device))?;
        phi.load_state_dict(tensors, prefix)?;
        Ok((phi, varmap))
    }

    /// Every parameter and buffer under its original name, preceded by `prefix` (`""` or
    /// `"iit_metrics."`): f32 tensors, and each `num_batches_tracked` as an i64 scalar.
    pub fn state_dict(&self, prefix: &str) -> Result<HashMap<String, Tensor>> {
        let mut out: HashMap<String, Tensor> = self
            .params
            .iter()
            .map(|p| (format!("{prefix}{}", p.name), p.tensor.detach()))
            .collect();
        for bn in &self.complexity.norms {
            let s = bn.running();
            let [mean, var, count] = buffer_keys(&bn.name);
            let n = Tensor::new(s.num_batches_tracked, s.mean.device())?;
            out.insert(format!("{prefix}{mean}"), s.mean);
            out.insert(format!("{prefix}{var}"), s.var);
            out.insert(format!("{prefix}{count}"), n);
        }
        Ok(out)
    }

    /// Loads parameters (in place, into their `Var`s) and buffers from a state dict whose keys are
    /// the original names preceded by `prefix`. Extra keys are ignored; a missing key or a wrong
    /// shape is an error and leaves the module unchanged.
    pub fn load_state_dict(&self, tensors: &HashMap<String, Tensor>, prefix: &str) -> Result<()> {
        let fetch = |name: &str, want: &Tensor| -> Result<Tensor> {
            let key = format!("{prefix}{name}");
            let src = lookup(tensors, &key)?;
            if src.dims() != want.dims() {
                return Err(PhiError::Shape {
                    key,
                    expected: want.dims().to_vec(),
                    found: src.dims().to_vec(),
                });
            }
            Ok(src.to_dtype(DType::F32)?.to_device(want.device())?)
        };
        let mut staged = Vec::with_capacity(self.params.len());
        for p in &self.params {
            if !p.tensor.is_variable() {
                return Err(PhiError::Constant(p.name.clone()));
            }
            staged.push((Var::from_tensor(&p.tensor)?, fetch(&p.name, &p.tensor)?));
        }
        let mut stats = Vec::new();
        for bn in &self.complexity.norms {
            let cur = bn.running();
            let [mean, var, count] = buffer_keys(&bn.name);
            let n = lookup(tensors, &format!("{prefix}{count}"))?;
            let num_batches_tracked = n.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
            let num_batches_tracked = match num_batches_tracked[..] {
                [v] => v as i64,
                _ => {
                    return Err(PhiError::Shape {
                        key: format!("{prefix}{count}"),
                        expected: vec![],
                        found: n.dims().to_vec(),
                    })
                }
            };
            stats.push(RunningStats {
                mean: fetch(&mean, &cur.mean)?,
                var: fetch(&var, &cur.var)?,
                num_batches_tracked,
            });
        }
        for (var, src) in staged {
            var.set(&src)?;
        }
        for (bn, s) in self.complexity.norms.iter().zip(stats) {
            bn.set_running(s);
        }
        Ok(())
    }

    /// Re-initialises every parameter as PyTorch would (Linear/Conv1d U(±1/sqrt(fan_in)),
    /// Xavier-uniform packed attention projection, ones/zeros for norms and zero attention biases,
    /// mixing logits 1.0), each from a generator seeded by `seed` and its name, and resets the
    /// running statistics.
    pub fn init_seeded(&self, seed: u64) -> Result<()> {
        for p in &self.params {
            let mut rng = SplitMix64::new(seed_for(seed, &p.name));
            if !p.tensor.is_variable() {
                return Err(PhiError::Constant(p.name.clone()));
            }
            let values = p.init.sample(p.tensor.elem_count(), &mut rng);
            let t = Tensor::from_vec(values, p.tensor.shape(), p.tensor.device())?;
            Var::from_tensor(&p.tensor)?.set(&t)?;
        }
        for bn in &self.complexity.norms {
            let cur = bn.running();
            bn.set_running(RunningStats {
                mean: cur.mean.zeros_like()?,
                var: cur.var.ones_like()?,
                num_batches_tracked: 0,
            });
        }
        Ok(())
    }
}
