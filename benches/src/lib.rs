//! Shared pieces of the criterion benches: the device a bench runs on, named in the bench id and
//! synchronised after each iteration (candle's `BenchDevice` pattern), so that a GPU bench times
//! the work and not only its launch.

use candle_core::{Device, Result, Tensor};

/// The device the benches run on: CUDA device 0 when built with `--features cuda` and one is
/// present, else the CPU.
pub fn bench_device() -> Device {
    Device::cuda_if_available(0).unwrap_or(Device::Cpu)
}

/// What a bench needs from its device: a name for the bench id and a way to wait for queued work.
pub trait BenchDevice {
    /// `cpu`, `cuda` or `metal`.
    fn bench_name(&self) -> &'static str;
    /// Blocks until all queued work on the device is done.
    fn sync(&self) -> Result<()>;
}

impl BenchDevice for Device {
    fn bench_name(&self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda(_) => "cuda",
            Device::Metal(_) => "metal",
        }
    }

    fn sync(&self) -> Result<()> {
        self.synchronize()
    }
}

/// Waits for the device of `t` to finish the work behind it, and returns it.
pub fn synced(t: Tensor) -> Tensor {
    t.device().sync().expect("device synchronisation");
    t
}
