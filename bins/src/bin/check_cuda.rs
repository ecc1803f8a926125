//! `check_cuda`: says whether this build has CUDA, lists the CUDA devices candle can open (name
//! and memory from the CUDA driver that candle wraps) and checks a small matmul on each against
//! the CPU.
//!
//! Exit status: 0 when at least one CUDA device computes correctly; 1 when the build has CUDA but
//! no device works; 2 for bad flags; 3 for a CPU-only build (rebuild with
//! `cargo build --release --features cuda`).

use std::process::ExitCode;

use clap::Parser;
use infinito::parse_args;

/// Exit status of a build without CUDA.
#[cfg(not(feature = "cuda"))]
const CPU_ONLY: u8 = 3;

/// Checks CUDA: build support, devices, and a matmul on each device.
///
/// Exit status 0: CUDA works; 1: built with CUDA but no device works; 2: bad flags; 3: this
/// build is CPU-only.
#[derive(Parser, Debug)]
#[command(args_override_self = true)]
struct Args {}

fn main() -> ExitCode {
    parse_args::<Args>(env!("CARGO_BIN_NAME"));
    check()
}

#[cfg(feature = "cuda")]
fn check() -> ExitCode {
    println!("CUDA support in this build: yes");
    cuda::check_devices()
}

#[cfg(not(feature = "cuda"))]
fn check() -> ExitCode {
    println!("CUDA support in this build: no (CPU-only build)");
    println!("To use a GPU, rebuild with CUDA (needs the CUDA toolkit):");
    println!("    cargo build --release --features cuda");
    println!("then run `check_cuda` again and pass `--device cuda` to the tools.");
    ExitCode::from(CPU_ONLY)
}

#[cfg(feature = "cuda")]
mod cuda {
    use std::process::ExitCode;

    use candle_core::cuda_backend::cudarc::driver::CudaContext;
    use candle_core::{Device, Tensor};

    /// Side of the square matrices multiplied on each device.
    const N: usize = 64;

    /// Opens every device the driver reports, prints its name and memory, runs the matmul check.
    pub fn check_devices() -> ExitCode {
        let count = match CudaContext::device_count() {
            Ok(n) => n.max(0) as usize,
            Err(e) => {
                println!("the CUDA driver cannot be used: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!("CUDA devices: {count}");
        let mut working = 0;
        for ordinal in 0..count {
            match check_one(ordinal) {
                Ok(line) => {
                    working += 1;
                    println!("cuda:{ordinal}: {line}");
                }
                Err(e) => println!("cuda:{ordinal}: FAILED: {e}"),
            }
        }
        println!("{working} of {count} CUDA device(s) work");
        if working > 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }

    fn check_one(ordinal: usize) -> candle_core::Result<String> {
        let device = Device::new_cuda(ordinal)?;
        let context = device.as_cuda_device()?.cuda_stream().context().clone();
        let name = context.name().map_err(candle_core::Error::wrap)?;
        let total = context.total_mem().map_err(candle_core::Error::wrap)?;
        let values: Vec<f32> = (0..N * N)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
            .collect();
        let a = Tensor::from_vec(values, (N, N), &Device::Cpu)?;
        let b = a.t()?.contiguous()?;
        let expected = a.matmul(&b)?;
        let got = a.to_device(&device)?.matmul(&b.to_device(&device)?)?;
        let err = (got.to_device(&Device::Cpu)? - &expected)?
            .abs()?
            .flatten_all()?
            .max(0)?
            .to_scalar::<f32>()?;
        if err > 1e-3 {
            candle_core::bail!("{N}x{N} matmul differs from the CPU by {err:.2e}");
        }
        Ok(format!(
            "{name}, {:.1} GiB, {N}x{N} matmul OK (max difference from the CPU {err:.1e})",
            total as f64 / (1u64 << 30) as f64
        ))
    }
}
