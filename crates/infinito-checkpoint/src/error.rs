//! The error type of every checkpoint operation.

use std::path::{Path, PathBuf};

/// What a checkpoint file is expected to be when it is read as tensors.
pub(crate) const TENSOR_FORMATS: &str = "safetensors or PyTorch .pt";

/// An error from reading or writing a checkpoint file.
///
/// Every variant names the file and displays as one line.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file (or the directory it should be in) does not exist.
    #[error("{}: file not found", path.display())]
    NotFound {
        /// The missing file.
        path: PathBuf,
    },
    /// An operating-system error while doing `op` ("read", "write", "rename", ...).
    #[error("{}: cannot {op}: {source}", path.display())]
    Io {
        /// The file being accessed.
        path: PathBuf,
        /// The operation that failed.
        op: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file has no content at all.
    #[error("{}: file is empty, expected {expected}", path.display())]
    Empty {
        /// The empty file.
        path: PathBuf,
        /// The format that was expected.
        expected: &'static str,
    },
    /// The file ends before the sizes it declares.
    #[error("{}: truncated {format} file: {detail}", path.display())]
    Truncated {
        /// The truncated file.
        path: PathBuf,
        /// The format the file was recognised as.
        format: &'static str,
        /// What is missing.
        detail: String,
    },
    /// The file is not in a format this crate reads.
    #[error("{}: not a {expected} file ({detail})", path.display())]
    Foreign {
        /// The file.
        path: PathBuf,
        /// The format(s) that were expected.
        expected: &'static str,
        /// What the file looks like instead.
        detail: String,
    },
    /// The file is in the expected format but its content is invalid or unsupported.
    #[error("{}: invalid {format} file: {detail}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The format the file was recognised as.
        format: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A PyTorch checkpoint has no entry under the requested key.
    #[error("{}: no state dict under key {key:?}, expected one of the top-level keys {available:?}", path.display())]
    MissingKey {
        /// The checkpoint file.
        path: PathBuf,
        /// The requested key.
        key: String,
        /// The top-level keys the file does have.
        available: Vec<String>,
    },
    /// A tensor required by the caller is absent from the file.
    #[error("{}: missing tensor {name:?}", path.display())]
    MissingTensor {
        /// The checkpoint file.
        path: PathBuf,
        /// The name of the missing tensor.
        name: String,
    },
    /// A tensor has a different shape than its destination.
    #[error("{}: tensor {name:?} has shape {got:?}, expected {expected:?}", path.display())]
    Shape {
        /// The checkpoint file.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// The shape of the destination.
        expected: Vec<usize>,
        /// The shape found in the file.
        got: Vec<usize>,
    },
    /// A floating-point tensor holds NaN or infinite values.
    #[error("{}: tensor {name:?} holds NaN or infinite values, expected finite numbers", path.display())]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// The first such tensor.
        name: String,
    },
    /// A JSON file or JSON metadata could not be (de)serialized.
    #[error("{}: invalid JSON: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// A tensor operation failed while converting data for this file.
    #[error("{}: tensor error: {}", path.display(), first_line(source))]
    Candle {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: candle_core::Error,
    },
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, CheckpointError>;

impl CheckpointError {
    /// Maps an I/O error on `path`, turning "not found" into [`CheckpointError::NotFound`].
    pub(crate) fn io(path: &Path, op: &'static str, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            CheckpointError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            CheckpointError::Io {
                path: path.to_path_buf(),
                op,
                source,
            }
        }
    }

    /// True when the file given is at fault (missing, empty, truncated, foreign, corrupt, wrong
    /// shapes), as opposed to a failure of the machine (disk full, I/O error mid-write).
    pub fn is_input(&self) -> bool {
        match self {
            CheckpointError::Io { source, .. } => is_input_io(source),
            _ => true,
        }
    }

    /// Wraps a candle error raised while handling `path`.
    pub(crate) fn candle(path: &Path, source: candle_core::Error) -> Self {
        CheckpointError::Candle {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// True for I/O errors caused by the path given (absent, a directory, not a directory, not
/// permitted, invalid data) rather than by the machine.
pub fn is_input_io(err: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        err.kind(),
        K::NotFound
            | K::IsADirectory
            | K::NotADirectory
            | K::PermissionDenied
            | K::InvalidData
            | K::InvalidInput
            | K::UnexpectedEof
            | K::AlreadyExists
    )
}

/// The first line of an error's text (candle appends backtraces on further lines).
fn first_line(err: &candle_core::Error) -> String {
    let text = err.to_string();
    text.lines().next().unwrap_or_default().to_string()
}
