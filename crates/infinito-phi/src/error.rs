//! Errors of the PHI library: configuration, weights and input problems.

/// Configuration, weight and input errors, each a one-line message naming the key or file.
#[derive(Debug, thiserror::Error)]
pub enum PhiError {
    /// A configuration that the architecture cannot be built with.
    #[error("invalid PHI config: {0}")]
    Config(String),
    /// A tensor the module needs is absent from the weights.
    #[error("missing tensor `{key}` in the PHI weights")]
    MissingKey { key: String },
    /// A tensor of the weights has the wrong shape.
    #[error("tensor `{key}` has shape {found:?}, expected {expected:?}")]
    Shape {
        key: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// No PHI weights at all (no key ending in `temporal_net.input_proj.weight`).
    #[error("no PHI weights found (no key ending in `{0}`)")]
    NoWeights(&'static str),
    /// More than one set of PHI weights and no way to choose.
    #[error("several PHI weight sets found (prefixes {0:?}); say which one")]
    AmbiguousPrefix(Vec<String>),
    /// A parameter built from a non-`VarMap` `VarBuilder` cannot be overwritten in place.
    #[error(
        "parameter `{0}` is a constant; build the module from a VarMap to load weights into it"
    )]
    Constant(String),
    /// Input tensors with the wrong rank, size or dtype.
    #[error("bad PHI input: {0}")]
    Input(String),
    /// A covariance that is not positive definite: a constant channel, or one that is a linear
    /// combination of the other variables.
    #[error(
        "singular covariance: channel {channel} at time {when} is constant or a linear combination of the other variables; add a ridge or shrinkage, or use fewer channels"
    )]
    SingularCovariance {
        /// The channel whose conditional variance vanished.
        channel: usize,
        /// `t` (present) or `t - lag` (past).
        when: &'static str,
    },
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl PhiError {
    /// True when the weights, config or input given are at fault rather than the machine.
    pub fn is_input(&self) -> bool {
        !matches!(self, Self::Candle(_) | Self::Constant(_))
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, PhiError>;
