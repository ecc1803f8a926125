//! Copying loaded tensors into the trainable variables of a `VarMap`.

use crate::error::{CheckpointError, Result};
use candle_core::Tensor;
use candle_nn::VarMap;
use std::collections::HashMap;
use std::path::Path;

/// Copies tensors into the matching variables of `varmap`.
///
/// A tensor named `strip_prefix + name` (or plainly `name`) fills the variable `name`; when both
/// forms exist the prefixed one wins. Each tensor is converted to the variable's dtype and device.
/// A shape mismatch is an error naming the tensor and both shapes, and no variable is modified
/// in that case. Returns the sorted names of the variables that had no tensor; tensors without a
/// variable are ignored.
pub fn assign_varmap(
    varmap: &VarMap,
    tensors: &HashMap<String, Tensor>,
    strip_prefix: &str,
    source: &Path,
) -> Result<Vec<String>> {
    let mut by_var: HashMap<&str, (&str, &Tensor)> = HashMap::with_capacity(tensors.len());
    for (name, tensor) in tensors {
        if strip_prefix.is_empty() || !name.starts_with(strip_prefix) {
            by_var.insert(name.as_str(), (name.as_str(), tensor));
        }
    }
    if !strip_prefix.is_empty() {
        for (name, tensor) in tensors {
            if let Some(stripped) = name.strip_prefix(strip_prefix) {
                by_var.insert(stripped, (name.as_str(), tensor));
            }
        }
    }
    // A poisoned lock only means another thread panicked while holding it; the map is intact.
    let vars = varmap
        .data()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Check and convert everything first so that an error leaves every variable unchanged.
    let mut updates = Vec::new();
    let mut missing = Vec::new();
    for (var_name, var) in vars.iter() {
        let Some(&(file_name, tensor)) = by_var.get(var_name.as_str()) else {
            missing.push(var_name.clone());
            continue;
        };
        if tensor.dims() != var.dims() {
            return Err(CheckpointError::Shape {
                path: source.to_path_buf(),
                name: file_name.to_string(),
                expected: var.dims().to_vec(),
                got: tensor.dims().to_vec(),
            });
        }
        let value = tensor
            .to_dtype(var.dtype())
            .and_then(|t| t.to_device(var.device()))
            .map_err(|e| CheckpointError::candle(source, e))?;
        updates.push((var, value));
    }
    for (var, value) in updates {
        var.set(&value)
            .map_err(|e| CheckpointError::candle(source, e))?;
    }
    missing.sort();
    Ok(missing)
}
