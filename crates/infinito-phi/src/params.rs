//! Parameter registration: every parameter is created through the caller's `VarBuilder` under
//! its original name, and recorded with its PyTorch initialisation rule.

use candle_core::{Result, Shape, Tensor};
use candle_nn::{Init, VarBuilder};
use infinito_kernels::rng::SplitMix64;
use std::cell::RefCell;
use std::rc::Rc;

/// How PyTorch initialises a parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ParamInit {
    /// Uniform in [-bound, bound] (Linear/Conv1d defaults, Xavier for the packed in-projection).
    Uniform(f64),
    /// A constant (norm scales and shifts, zero biases, mixing logits).
    Const(f64),
}

impl ParamInit {
    /// PyTorch's default for a Linear/Conv1d weight or bias: U(±1/sqrt(fan_in)).
    pub(crate) fn fan_in(fan_in: usize) -> Self {
        Self::Uniform(1.0 / (fan_in as f64).sqrt())
    }

    fn to_candle(self) -> Init {
        match self {
            Self::Uniform(b) => Init::Uniform { lo: -b, up: b },
            Self::Const(v) => Init::Const(v),
        }
    }

    /// Draws `n` values from this rule with a seeded generator.
    pub(crate) fn sample(self, n: usize, rng: &mut SplitMix64) -> Vec<f32> {
        match self {
            Self::Uniform(b) => (0..n)
                .map(|_| ((2.0 * rng.next_f32() as f64 - 1.0) * b) as f32)
                .collect(),
            Self::Const(v) => vec![v as f32; n],
        }
    }
}

/// A registered parameter.
#[derive(Debug, Clone)]
pub(crate) struct Param {
    pub(crate) name: String,
    pub(crate) tensor: Tensor,
    pub(crate) init: ParamInit,
}

/// A `VarBuilder` at some path that records what it creates.
#[derive(Clone)]
pub(crate) struct Params<'a> {
    vb: VarBuilder<'a>,
    path: String,
    made: Rc<RefCell<Vec<Param>>>,
}

impl<'a> Params<'a> {
    pub(crate) fn new(vb: VarBuilder<'a>) -> Self {
        Self {
            vb,
            path: String::new(),
            made: Rc::default(),
        }
    }

    /// The builder one level down, at `path.name`.
    pub(crate) fn pp(&self, name: impl ToString) -> Self {
        let name = name.to_string();
        Self {
            vb: self.vb.pp(&name),
            path: self.full_name(&name),
            made: self.made.clone(),
        }
    }

    fn full_name(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// Creates (or fetches) the f32 parameter `name` of the given shape.
    pub(crate) fn get(
        &self,
        shape: impl Into<Shape>,
        name: &str,
        init: ParamInit,
    ) -> Result<Tensor> {
        let tensor = self.vb.get_with_hints(shape, name, init.to_candle())?;
        self.made.borrow_mut().push(Param {
            name: self.full_name(name),
            tensor: tensor.clone(),
            init,
        });
        Ok(tensor)
    }

    pub(crate) fn device(&self) -> &candle_core::Device {
        self.vb.device()
    }

    /// Everything registered through this builder and its children, in creation order.
    pub(crate) fn into_params(self) -> Vec<Param> {
        self.made.take()
    }
}
