//! Helpers for the tests of the infinito crates (a dev-dependency only).
//!
//! * [`max_abs_diff`] / [`max_abs_diff_slices`]: the largest element-wise difference.
//! * [`fixture!`]: a path under the calling crate's `tests/fixtures/`; [`dir_listing`]: what a
//!   directory holds.
//! * [`shared_data`]: a file of `../shared/data`, or a printed skip — a failure when `CI` is set,
//!   so a missing data set can never pass silently there.
//! * [`devices`] and [`device_test!`]: run one test body on the CPU and, in a `cuda` build with a
//!   GPU present, on CUDA as well.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

/// The largest `|a - b|` over all elements, computed in f64 (NaN anywhere gives NaN). Panics if
/// the shapes differ.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    let flat = |t: &Tensor| {
        t.to_dtype(DType::F64)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f64>())
            .expect("tensor readable as f64")
    };
    max_abs(flat(a).iter().zip(&flat(b)).map(|(x, y)| x - y)) as f32
}

/// The largest absolute value, NaN if any value is NaN.
fn max_abs(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, |m, d| {
        if d.is_nan() || m.is_nan() {
            f64::NAN
        } else {
            m.max(d.abs())
        }
    })
}

/// The largest `|a[i] - b[i]|` (NaN anywhere gives NaN). Panics if the lengths differ.
pub fn max_abs_diff_slices(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    max_abs(a.iter().zip(b).map(|(x, y)| f64::from(*x) - f64::from(*y))) as f32
}

/// The names of the entries of `dir`, sorted. Panics if it cannot be read.
pub fn dir_listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// `<calling crate>/tests/fixtures/<name>`.
#[macro_export]
macro_rules! fixture {
    ($name:expr) => {
        ::std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join($name)
    };
}

/// The workspace's `../shared/data` directory (beside the repository).
pub fn shared_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// `../shared/data/<relative>` when it exists. Otherwise prints why the test is skipped and
/// returns `None` — or panics when the environment variable `CI` is set, so that CI never
/// passes a data test it did not run.
pub fn shared_data(relative: &str) -> Option<PathBuf> {
    let path = shared_data_dir().join(relative);
    if path.exists() {
        return Some(path);
    }
    let message = format!("{} is absent", path.display());
    if std::env::var_os("CI").is_some() {
        panic!("{message} (CI is set: tests that need ../shared must run)");
    }
    println!("skipped: {message}");
    None
}

/// The devices a device-parametric test runs on: the CPU, plus CUDA device 0 in a build with
/// the `cuda` feature when a GPU is present.
pub fn devices() -> Vec<Device> {
    let mut devices = vec![Device::Cpu];
    if candle_core::utils::cuda_is_available() {
        if let Ok(device) = Device::new_cuda(0) {
            devices.push(device);
        }
    }
    devices
}

/// Defines a `#[test]` that calls `$body(&device)` for every device of [`devices`], naming the
/// device in a failure.
#[macro_export]
macro_rules! device_test {
    ($name:ident, $body:path) => {
        #[test]
        fn $name() {
            for device in $crate::devices() {
                eprintln!("{}: on {:?}", stringify!($name), device.location());
                $body(&device);
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_abs_diff_finds_the_largest_difference_and_nan() {
        assert_eq!(max_abs_diff_slices(&[1.0, 2.0, 3.0], &[1.5, 2.0, 1.0]), 2.0);
        assert!(max_abs_diff_slices(&[1.0, f32::NAN], &[1.0, 0.0]).is_nan());
        let a = Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &Device::Cpu).unwrap();
        let b = Tensor::new(&[[1f32, 2.5], [3.0, 3.0]], &Device::Cpu).unwrap();
        assert_eq!(max_abs_diff(&a, &b), 1.0);
    }

    #[test]
    #[should_panic(expected = "shapes differ")]
    fn max_abs_diff_refuses_different_shapes() {
        let a = Tensor::zeros((2, 3), DType::F32, &Device::Cpu).unwrap();
        let b = Tensor::zeros((3, 2), DType::F32, &Device::Cpu).unwrap();
        max_abs_diff(&a, &b);
    }

    #[test]
    fn fixture_paths_are_under_the_calling_crate() {
        assert!(fixture!("x.bin").ends_with("infinito-testutil/tests/fixtures/x.bin"));
    }

    #[test]
    fn shared_data_is_found_beside_the_repository() {
        // Either present (then it is a directory) or absent (then a skip, or a panic under CI).
        let found = std::panic::catch_unwind(|| shared_data("wikitext-2"));
        match (found, std::env::var_os("CI")) {
            (Ok(Some(p)), _) => assert!(p.is_dir()),
            (Ok(None), None) => {}
            (Ok(None), Some(_)) => panic!("absent data returned None under CI"),
            (Err(_), ci) => assert!(ci.is_some(), "panicked without CI"),
        }
    }
}
