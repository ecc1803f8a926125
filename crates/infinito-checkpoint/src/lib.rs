//! Checkpoint IO for infinito.
//!
//! * [`save_tensors`] / [`load_tensors`]: safetensors files with JSON metadata
//!   ([`read_metadata`]); [`load_tensors`] also imports PyTorch `.pt`/`.pth` state dicts, and
//!   [`load_tensors_from_bytes`] does the same for content already in memory.
//! * [`write_atomic`], [`save_json`], [`load_json`]: files that are replaced atomically, so a
//!   crash never leaves a half-written checkpoint.
//! * [`assign_varmap`]: copies loaded tensors into the trainable variables of a `VarMap`.
//! * [`retain_latest`]: deletes all but the newest periodic checkpoints.
//!
//! Every error is a [`CheckpointError`] that names the file and displays as one line.
//!
//! # Example
//!
//! ```
//! use std::collections::HashMap;
//!
//! use candle_core::{Device, Tensor};
//! use infinito_checkpoint::{load_tensors, save_tensors};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("weights.safetensors");
//! let weight = Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &Device::Cpu)?;
//! let tensors = HashMap::from([("layer.weight".to_string(), weight)]);
//! save_tensors(&path, &tensors, Some(&serde_json::json!({"step": 7})))?;
//!
//! let loaded = load_tensors(&path, None, &Device::Cpu)?;
//! assert_eq!(loaded["layer.weight"].to_vec2::<f32>()?, [[1.0, 2.0], [3.0, 4.0]]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod atomic;
mod error;
mod json;
mod leftovers;
mod pytorch;
mod retention;
mod tensors;
mod varmap;

pub use atomic::write_atomic;
pub use error::{is_input_io, CheckpointError, Result};
pub use json::{load_json, save_json};
pub use leftovers::remove_leftovers;
pub use retention::retain_latest;
pub use tensors::{
    load_tensors, load_tensors_from_bytes, read_metadata, save_tensors, METADATA_KEY,
};
pub use varmap::assign_varmap;
