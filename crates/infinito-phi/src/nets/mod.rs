//! The four nets of the learned PHI.

pub(crate) mod complexity;
pub(crate) mod diversity;
mod encoder;
pub(crate) mod integration;
pub(crate) mod temporal;
