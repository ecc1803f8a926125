//! The shared shape of every fused op: a CPU kernel over contiguous f32 inputs ([`CpuKernel`]),
//! made a candle `CustomOp1`/`CustomOp2`/`CustomOp3` (by its number of inputs) by [`Kernel`].

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use super::contiguous_f32;

/// A fused CPU kernel with `N` inputs.
pub(crate) trait CpuKernel<const N: usize>: Send + Sync {
    /// The op's name in candle's graph.
    const NAME: &'static str;

    /// The output elements and shape, from the inputs' contiguous elements and layouts.
    fn forward(&self, x: [&[f32]; N], l: [&Layout; N]) -> Result<(Vec<f32>, Shape)>;

    /// The inputs' gradients from the inputs, the output and the output's gradient; kernels that
    /// are only applied without backward (gradients of other ops) keep this default.
    fn backward(&self, _x: [&Tensor; N], _y: &Tensor, _g: &Tensor) -> Result<[Option<Tensor>; N]> {
        Err(candle_core::Error::BackwardNotSupported { op: Self::NAME })
    }
}

/// A [`CpuKernel`] as a candle custom op.
pub(crate) struct Kernel<K>(pub K);

/// Runs `k` on the contiguous f32 views of its inputs.
fn run<K: CpuKernel<N>, const N: usize>(
    k: &K,
    args: [(&CpuStorage, &Layout); N],
) -> Result<(CpuStorage, Shape)> {
    let mut data: [&[f32]; N] = [&[]; N];
    for (d, (s, l)) in data.iter_mut().zip(args) {
        *d = contiguous_f32(s, l)?;
    }
    let (y, shape) = k.forward(data, args.map(|(_, l)| l))?;
    Ok((CpuStorage::F32(y), shape))
}

impl<K: CpuKernel<1>> CustomOp1 for Kernel<K> {
    fn name(&self) -> &'static str {
        K::NAME
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        run(&self.0, [(s, l)])
    }

    fn bwd(&self, x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let [dx] = self.0.backward([x], y, g)?;
        Ok(dx)
    }
}

impl<K: CpuKernel<2>> CustomOp2 for Kernel<K> {
    fn name(&self) -> &'static str {
        K::NAME
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        run(&self.0, [(s1, l1), (s2, l2)])
    }

    fn bwd(
        &self,
        x1: &Tensor,
        x2: &Tensor,
        y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let [d1, d2] = self.0.backward([x1, x2], y, g)?;
        Ok((d1, d2))
    }
}

impl<K: CpuKernel<3>> CustomOp3 for Kernel<K> {
    fn name(&self) -> &'static str {
        K::NAME
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        run(&self.0, [(s1, l1), (s2, l2), (s3, l3)])
    }

    fn bwd(
        &self,
        x1: &Tensor,
        x2: &Tensor,
        x3: &Tensor,
        y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let [d1, d2, d3] = self.0.backward([x1, x2, x3], y, g)?;
        Ok((d1, d2, d3))
    }
}
