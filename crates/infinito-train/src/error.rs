//! The error type of this crate: every variant displays as one line naming what was wrong.

use std::path::PathBuf;

/// Errors of data loading, optimisation, scheduling, configuration and the trainer loop.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A tensor operation failed.
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),

    /// Reading or writing a checkpoint-format file failed.
    #[error(transparent)]
    Checkpoint(#[from] infinito_checkpoint::CheckpointError),

    /// A path given as corpus does not exist.
    #[error("{}: no such file or directory", path.display())]
    MissingPath {
        /// The path that was asked for.
        path: PathBuf,
    },

    /// A file or directory could not be read.
    #[error("{}: cannot {op}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was attempted ("read", "list", "write").
        op: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A TensorBoard event file is damaged or not an event file.
    #[error("{}: not a TensorBoard event file: {reason}", path.display())]
    BadEventFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A corpus file is not valid UTF-8 text.
    #[error("{}: not UTF-8 text (byte {valid_up_to} is invalid), expected a plain text corpus", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Length of the valid prefix.
        valid_up_to: usize,
    },

    /// A corpus directory has no file for the requested split.
    #[error("{}: no {split} split, expected one of {expected}", dir.display())]
    MissingSplit {
        /// The directory.
        dir: PathBuf,
        /// The split that was asked for.
        split: &'static str,
        /// The accepted file names.
        expected: String,
    },

    /// The corpus holds no text, or too little for one window.
    #[error("{}: {reason}", path.display())]
    EmptyCorpus {
        /// The file or directory.
        path: PathBuf,
        /// Why it counts as empty.
        reason: String,
    },

    /// A parquet file cannot be read as a text corpus.
    #[error("{}: {message}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What is wrong (no `text` column, an unsupported compression, ...).
        message: String,
    },

    /// A model or data set could not be had from the hub or its cache.
    #[error(transparent)]
    Hub(Box<infinito_hub::HubError>),

    /// A checkpoint's base model is not the model this run resolved.
    #[error("{}: trained on {recorded}, not on {found}: {hint}", checkpoint.display())]
    BaseModelMismatch {
        /// The checkpoint.
        checkpoint: PathBuf,
        /// The base model it records.
        recorded: Box<infinito_hub::BaseModel>,
        /// What was found instead.
        found: String,
        /// What to do.
        hint: String,
    },

    /// The tokenizer failed or could not be serialised.
    #[error("tokenizer: cannot {op}: {message}")]
    Tokenizer {
        /// What was attempted.
        op: &'static str,
        /// The tokenizer's message.
        message: String,
    },

    /// An argument is out of range.
    #[error("invalid {name}: expected {expected}, got {got}")]
    InvalidArgument {
        /// The option or flag.
        name: &'static str,
        /// The accepted values.
        expected: &'static str,
        /// The value that was given.
        got: String,
    },

    /// Saved optimizer or scheduler state does not fit the object it is restored into.
    #[error("cannot restore {what}: {reason}")]
    StateMismatch {
        /// What was being restored.
        what: &'static str,
        /// Why it does not fit.
        reason: String,
    },

    /// A command-line flag or config value is out of range (`--batch-size 0: must be >= 1`).
    #[error("{flag} {value}: must be {expected}")]
    Flag {
        /// The flag, with its dashes.
        flag: &'static str,
        /// The rejected value as given.
        value: String,
        /// The accepted values.
        expected: String,
    },

    /// A config file cannot be read or parsed.
    #[error("{}: {message}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong, with the line where known.
        message: String,
    },

    /// A file is not a trainer checkpoint, or does not fit the run it should resume.
    #[error("{}: cannot resume: {reason}", path.display())]
    Resume {
        /// The checkpoint file.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },

    /// A checkpoint was not written because the model state holds NaN or infinite values.
    #[error("{}: not written: model tensor {name:?} is not finite", path.display())]
    NonFiniteWeights {
        /// The checkpoint that was not written.
        path: PathBuf,
        /// The offending tensor.
        name: String,
    },

    /// Too many training steps in a row had a non-finite loss or gradient norm.
    #[error("{count} training steps in a row had a non-finite loss or gradient (the last was step {step}); their updates were skipped and the weights are those after step {last_good_step}; lower --lr or check the data")]
    NonFiniteSteps {
        /// Consecutive skipped steps.
        count: u32,
        /// The global step of the last skipped one.
        step: u64,
        /// The last global step whose update was applied (0 if none).
        last_good_step: u64,
    },

    /// The Ctrl+C handler could not be installed.
    #[error("cannot install the Ctrl+C handler: {0}")]
    Signal(String),

    /// An error raised by a [`crate::TrainModel`] implementation.
    #[error("model: {}", first_line(.0.as_ref()))]
    Model(Box<dyn std::error::Error + Send + Sync>),

    /// The global gradient norm is NaN or infinite; the update must be skipped.
    #[error("gradient norm is {norm}, expected a finite value; skip this update")]
    NonFiniteGradNorm {
        /// The computed norm.
        norm: f64,
    },
}

impl TrainError {
    /// An [`TrainError::InvalidArgument`] for `name`, showing the rejected value.
    pub(crate) fn invalid(
        name: &'static str,
        expected: &'static str,
        got: impl std::fmt::Display,
    ) -> Self {
        Self::InvalidArgument {
            name,
            expected,
            got: got.to_string(),
        }
    }

    /// True for errors in what the user asked for (a flag value, a config file, a missing
    /// path), as opposed to failures while running.
    pub fn is_usage(&self) -> bool {
        match self {
            Self::Flag { .. }
            | Self::Config { .. }
            | Self::MissingPath { .. }
            | Self::MissingSplit { .. }
            | Self::NotUtf8 { .. }
            | Self::Parquet { .. }
            | Self::BaseModelMismatch { .. }
            | Self::EmptyCorpus { .. }
            | Self::Resume { .. }
            | Self::InvalidArgument { .. } => true,
            Self::Io { source, .. } => infinito_checkpoint::is_input_io(source),
            Self::Checkpoint(e) => e.is_input(),
            Self::Hub(e) => e.is_usage(),
            Self::Model(e) => {
                e.downcast_ref::<infinito_model::ModelError>()
                    .is_some_and(|m| m.is_input())
                    || e.downcast_ref::<infinito_phi::PhiError>()
                        .is_some_and(|p| p.is_input())
                    || e.downcast_ref::<TrainError>().is_some_and(|t| t.is_usage())
            }
            _ => false,
        }
    }

    /// Wraps an error of a model implementation as [`TrainError::Model`].
    pub fn model(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Model(err.into())
    }

    /// A [`TrainError::Flag`] for `flag`, showing the rejected value.
    pub(crate) fn flag(
        flag: &'static str,
        value: impl std::fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        Self::Flag {
            flag,
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// An [`TrainError::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            op,
            source,
        }
    }
}

impl From<infinito_hub::HubError> for TrainError {
    fn from(e: infinito_hub::HubError) -> Self {
        Self::Hub(Box::new(e))
    }
}

/// The first line of an error's text (some errors append backtraces on further lines).
fn first_line(err: &(dyn std::error::Error + Send + Sync)) -> String {
    err.to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, TrainError>;
