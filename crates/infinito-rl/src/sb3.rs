//! Importing stable-baselines3 PPO agents from their `.zip` files.
//!
//! The archive's `policy.pth` gives the weights (and, from their shapes, the sizes and widths);
//! its `data` member (JSON) gives the hyper-parameters and counters. Schedules stored as
//! cloudpickled objects are read from the readable description SB3 writes beside them; what
//! cannot be read falls back to a documented value and is reported in [`Sb3Import::notes`].

use crate::error::{Result, RlError};
use crate::ppo::copy_tensors;
use crate::ppo::{ConfigOverrides, NetArch, Ppo, PpoConfig, Schedule};
use candle_core::{Device, Tensor};
use infinito_checkpoint::{load_tensors_from_bytes, CheckpointError};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// An imported agent and what the import could not take from the file.
#[derive(Debug)]
pub struct Sb3Import {
    /// The agent, with SB3's weights, hyper-parameters and step counters.
    pub agent: Ppo,
    /// One line per value that was not readable and was replaced (empty if none).
    pub notes: Vec<String>,
}

/// True when `path` is a stable-baselines3 agent archive (a zip holding `data` and
/// `policy.pth`), e.g. to tell it apart from a model checkpoint.
pub fn is_sb3_zip(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    zip::ZipArchive::new(std::io::BufReader::new(file)).is_ok_and(|archive| {
        let names: Vec<String> = archive
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .collect();
        ["data", "policy.pth"]
            .iter()
            .all(|want| names.iter().any(|n| n == want))
    })
}

impl Ppo {
    /// Reads an SB3 PPO agent (`model.save(...)` of a `MlpPolicy` with a Discrete action
    /// space), then applies `overrides`.
    ///
    /// Adam's moments are not imported (`policy.optimizer.pth` holds torch's optimizer pickle):
    /// the optimizer starts fresh, which the notes say. The generators are seeded from the
    /// agent's `seed` (0 if SB3 had none).
    pub fn from_sb3_zip(path: &Path, overrides: &ConfigOverrides) -> Result<Sb3Import> {
        let bad = |reason: String| RlError::BadFile {
            path: path.to_path_buf(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| {
            bad(if e.kind() == std::io::ErrorKind::NotFound {
                "file not found".to_string()
            } else {
                format!("cannot read: {e}")
            })
        })?;
        let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|_| {
            bad("not a zip archive (expected a stable-baselines3 agent .zip)".to_string())
        })?;
        let mut member = |name: &str| -> Result<Vec<u8>> {
            let mut entry = archive.by_name(name).map_err(|_| {
                bad(format!(
                    "no {name} inside the archive: not a stable-baselines3 agent"
                ))
            })?;
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| bad(format!("cannot read the member {name}: {e}")))?;
            Ok(bytes)
        };
        let policy_bytes = member("policy.pth")?;
        let data: Value = serde_json::from_slice(&member("data")?)
            .map_err(|e| bad(format!("the member data is not JSON: {e}")))?;
        let policy_path = path.join("policy.pth");
        let tensors = load_tensors_from_bytes(&policy_path, &policy_bytes, None, &Device::Cpu)?;
        let shapes = PolicyShapes::read(&policy_path, &tensors)?;
        shapes.check_against_data(&data).map_err(bad)?;

        let mut notes = Vec::new();
        let mut config = read_config(&data, shapes.net_arch.clone(), &mut notes).map_err(bad)?;
        overrides.apply(&mut config);
        notes.push(
            "Adam moments are not imported from policy.optimizer.pth: the optimizer starts fresh"
                .to_string(),
        );
        let seed = data.get("seed").and_then(Value::as_u64).unwrap_or(0);
        let mut agent = Ppo::with_zero_weights(shapes.obs_dim, shapes.n_actions, config, seed)
            .map_err(|e| bad(format!("unusable hyper-parameters: {e}")))?;
        let specs = agent.net.specs.clone();
        copy_tensors(&policy_path, &tensors, &specs, "", &mut agent.net.params)?;
        agent.num_timesteps = counter(&data, "num_timesteps").map_err(bad)?;
        agent.n_updates = counter(&data, "_n_updates").map_err(bad)?;
        Ok(Sb3Import { agent, notes })
    }
}

/// Sizes and hidden widths implied by the tensors of `policy.pth`.
struct PolicyShapes {
    obs_dim: usize,
    n_actions: usize,
    net_arch: NetArch,
}

impl PolicyShapes {
    fn read(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<Self> {
        let unsupported = |reason: &str| RlError::BadFile {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        if tensors
            .keys()
            .any(|k| k.starts_with("mlp_extractor.shared_net"))
        {
            return Err(unsupported(
                "shared actor-critic layers (mlp_extractor.shared_net) are not supported",
            ));
        }
        if tensors.contains_key("log_std") {
            return Err(unsupported(
                "a continuous-action policy (log_std); only Discrete action spaces are supported",
            ));
        }
        let shape = |name: &str| -> Result<Vec<usize>> {
            tensors.get(name).map(|t| t.dims().to_vec()).ok_or_else(|| {
                CheckpointError::MissingTensor {
                    path: path.to_path_buf(),
                    name: name.to_string(),
                }
                .into()
            })
        };
        let widths = |branch: &str| -> Vec<usize> {
            (0..)
                .map(|i| format!("mlp_extractor.{branch}.{}.weight", 2 * i))
                .map_while(|name| tensors.get(&name).map(|t| t.dims()[0]))
                .collect()
        };
        let action_net = shape("action_net.weight")?;
        let first = if tensors.contains_key("mlp_extractor.policy_net.0.weight") {
            shape("mlp_extractor.policy_net.0.weight")?
        } else {
            action_net.clone()
        };
        let (Some(&obs_dim), Some(&n_actions)) = (first.get(1), action_net.first()) else {
            return Err(unsupported("action_net.weight is not a matrix"));
        };
        Ok(Self {
            obs_dim,
            n_actions,
            net_arch: NetArch {
                pi: widths("policy_net"),
                vf: widths("value_net"),
            },
        })
    }

    /// Checks the sizes against `data`'s spaces and `policy_kwargs`, where present.
    fn check_against_data(&self, data: &Value) -> std::result::Result<(), String> {
        if let Some(shape) = data.pointer("/observation_space/_shape") {
            let dims: Option<Vec<u64>> = shape
                .as_array()
                .and_then(|dims| dims.iter().map(Value::as_u64).collect());
            let size = dims.map(|d| d.iter().product::<u64>());
            if size != Some(self.obs_dim as u64) {
                return Err(format!(
                    "policy.pth takes observations of length {} but data's observation_space has shape {shape}",
                    self.obs_dim
                ));
            }
        }
        if let Some(space) = data.get("action_space") {
            let kind = space.get(":type:").and_then(Value::as_str).unwrap_or("");
            if !kind.is_empty() && !kind.contains("Discrete") {
                return Err(format!(
                    "action space {kind}: only Discrete action spaces are supported"
                ));
            }
            let n = space.get("n").and_then(|n| match n {
                Value::String(s) => s.parse::<u64>().ok(),
                other => other.as_u64(),
            });
            if n.is_some_and(|n| n != self.n_actions as u64) {
                return Err(format!(
                    "policy.pth has {} actions but data's action_space has n = {}",
                    self.n_actions,
                    n.unwrap_or_default()
                ));
            }
        }
        if let Some(kwargs) = data.get("policy_kwargs") {
            if let Some(activation) = kwargs.get("activation_fn").and_then(Value::as_str) {
                if !activation.contains("Tanh") {
                    return Err(format!(
                        "activation {activation}: only Tanh (MlpPolicy's default) is supported"
                    ));
                }
            }
            if let Some(declared) = kwargs.get("net_arch").and_then(declared_net_arch) {
                if declared != self.net_arch {
                    return Err(format!(
                        "policy_kwargs declares net_arch pi {:?} vf {:?} but policy.pth has pi {:?} vf {:?}",
                        declared.pi, declared.vf, self.net_arch.pi, self.net_arch.vf
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `net_arch` as SB3 stores it: `{"pi": [..], "vf": [..]}`, the old `[{"pi": .., "vf": ..}]`,
/// or one list of widths shared by both.
fn declared_net_arch(value: &Value) -> Option<NetArch> {
    let widths = |v: &Value| -> Option<Vec<usize>> {
        v.as_array()?
            .iter()
            .map(|w| w.as_u64().map(|w| w as usize))
            .collect()
    };
    match value {
        Value::Object(map) => Some(NetArch {
            pi: widths(map.get("pi")?)?,
            vf: widths(map.get("vf")?)?,
        }),
        Value::Array(items) => match items.as_slice() {
            [dict @ Value::Object(_)] => declared_net_arch(dict),
            _ => widths(value).map(|w| NetArch {
                pi: w.clone(),
                vf: w,
            }),
        },
        _ => None,
    }
}

/// A schedule stored by SB3: a number, a `FloatSchedule` whose readable `value_schedule` is
/// `ConstantSchedule(val=..)` or `LinearSchedule(start=.., end=.., end_fraction=..)`, or such a
/// schedule object itself. `None` for anything else (e.g. a pickled lambda).
fn schedule(value: &Value) -> Option<Schedule> {
    if let Some(v) = value.as_f64() {
        return Some(Schedule::Constant(v));
    }
    let object = value.as_object()?;
    if let Some(text) = object.get("value_schedule").and_then(Value::as_str) {
        return schedule_repr(text);
    }
    let number = |key: &str| object.get(key).and_then(Value::as_f64);
    if let (Some(start), Some(end), Some(end_fraction)) =
        (number("start"), number("end"), number("end_fraction"))
    {
        return Some(Schedule::Linear {
            start,
            end,
            end_fraction,
        });
    }
    number("val").map(Schedule::Constant)
}

/// Parses the `repr` of SB3's `ConstantSchedule` and `LinearSchedule`.
fn schedule_repr(text: &str) -> Option<Schedule> {
    let (kind, rest) = text.split_once('(')?;
    let args: HashMap<&str, f64> = rest
        .strip_suffix(')')?
        .split(',')
        .map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((k.trim(), v.trim().parse().ok()?))
        })
        .collect::<Option<_>>()?;
    match kind {
        "ConstantSchedule" => args.get("val").map(|&v| Schedule::Constant(v)),
        "LinearSchedule" => Some(Schedule::Linear {
            start: *args.get("start")?,
            end: *args.get("end")?,
            end_fraction: *args.get("end_fraction")?,
        }),
        _ => None,
    }
}

/// The hyper-parameters in `data`, with `net_arch` from the weights' shapes.
fn read_config(
    data: &Value,
    net_arch: NetArch,
    notes: &mut Vec<String>,
) -> std::result::Result<PpoConfig, String> {
    let defaults = PpoConfig::default();
    let mut note_default = |key: &str, shown: String| {
        notes.push(format!("{key}: not readable in data, using {shown}"));
    };
    let learning_rate = match ["learning_rate", "lr_schedule"]
        .iter()
        .find_map(|k| data.get(*k).and_then(schedule))
    {
        Some(s) => s,
        None => {
            note_default("learning_rate", format!("{:?}", defaults.learning_rate));
            defaults.learning_rate
        }
    };
    let clip_range = match data.get("clip_range").and_then(schedule) {
        Some(s) => s,
        None => {
            note_default("clip_range", format!("{:?}", defaults.clip_range));
            defaults.clip_range
        }
    };
    let clip_range_vf = match data.get("clip_range_vf") {
        None | Some(Value::Null) => None,
        Some(v) => match schedule(v) {
            Some(s) => Some(s),
            None => {
                note_default("clip_range_vf", "no value clipping".to_string());
                None
            }
        },
    };
    let number = |key: &str, default: f64, notes: &mut Vec<String>| match data.get(key) {
        Some(v) => v
            .as_f64()
            .ok_or_else(|| format!("data: {key} is {v}, expected a number")),
        None => {
            notes.push(format!("{key}: absent from data, using {default}"));
            Ok(default)
        }
    };
    let count = |key: &str, default: usize, notes: &mut Vec<String>| match data.get(key) {
        Some(v) => v
            .as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| format!("data: {key} is {v}, expected a non-negative integer")),
        None => {
            notes.push(format!("{key}: absent from data, using {default}"));
            Ok(default)
        }
    };
    let target_kl = match data.get("target_kl") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_f64()
                .ok_or_else(|| format!("data: target_kl is {v}, expected a number or null"))?,
        ),
    };
    Ok(PpoConfig {
        learning_rate,
        n_steps: count("n_steps", defaults.n_steps, notes)?,
        batch_size: count("batch_size", defaults.batch_size, notes)?,
        n_epochs: count("n_epochs", defaults.n_epochs, notes)?,
        gamma: number("gamma", defaults.gamma, notes)?,
        gae_lambda: number("gae_lambda", defaults.gae_lambda, notes)?,
        clip_range,
        clip_range_vf,
        normalize_advantage: data
            .get("normalize_advantage")
            .and_then(Value::as_bool)
            .unwrap_or(defaults.normalize_advantage),
        ent_coef: number("ent_coef", defaults.ent_coef, notes)?,
        vf_coef: number("vf_coef", defaults.vf_coef, notes)?,
        max_grad_norm: number("max_grad_norm", defaults.max_grad_norm, notes)?,
        target_kl,
        net_arch,
    })
}

/// A step counter from `data` (0 if absent).
fn counter(data: &Value, key: &str) -> std::result::Result<u64, String> {
    match data.get(key) {
        None => Ok(0),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| format!("data: {key} is {v}, expected a non-negative integer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schedules_are_read_from_every_sb3_form() {
        assert_eq!(schedule(&json!(3e-4)), Some(Schedule::Constant(3e-4)));
        let float_schedule = json!({":type:": "<class 'FloatSchedule'>", ":serialized:": "gAS",
            "value_schedule": "ConstantSchedule(val=0.2)"});
        assert_eq!(schedule(&float_schedule), Some(Schedule::Constant(0.2)));
        let linear =
            json!({"value_schedule": "LinearSchedule(start=0.001, end=0, end_fraction=1)"});
        assert_eq!(schedule(&linear), Some(Schedule::linear_to_zero(1e-3)));
        let object = json!({":type:": "<class 'LinearSchedule'>", "start": 0.3, "end": 0.1, "end_fraction": 0.5});
        assert_eq!(
            schedule(&object),
            Some(Schedule::Linear {
                start: 0.3,
                end: 0.1,
                end_fraction: 0.5
            })
        );
        let lambda = json!({":type:": "<class 'function'>", ":serialized:": "gAWV"});
        assert_eq!(schedule(&lambda), None);
    }

    #[test]
    fn net_arch_forms() {
        let both = NetArch {
            pi: vec![64, 64],
            vf: vec![64, 64],
        };
        assert_eq!(
            declared_net_arch(&json!({"pi": [64, 64], "vf": [64, 64]})),
            Some(both.clone())
        );
        assert_eq!(
            declared_net_arch(&json!([{"pi": [64, 64], "vf": [64, 64]}])),
            Some(both.clone())
        );
        assert_eq!(declared_net_arch(&json!([64, 64])), Some(both));
        assert_eq!(declared_net_arch(&json!("x")), None);
    }
}
