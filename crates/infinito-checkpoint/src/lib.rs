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
