//! Criterion benches of the learned PHI kernel at GPT-2 small size (D = 768, H = 12, default
//! widths): `phi_forward_eval` (eval mode) and `phi_forward_backward_train` (train mode with
//! dropout 0.1, backward of phi_estimate.mean() into every parameter), at (B=4, T=128) and
//! (B=16, T=256). tools/refgen/bench_phi_torch.py times PyTorch on the same cases. The bench ids
//! name the device (`cpu`, or `cuda` with `--features cuda`), and each call waits for it.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use infinito_benches::{bench_device, synced, BenchDevice};
use infinito_phi::{LearnedPhi, PhiConfig};
use std::hint::black_box;

const SHAPES: [(usize, usize); 2] = [(4, 128), (16, 256)];

fn setup(dev: &Device, b: usize, t: usize) -> (LearnedPhi, VarMap, Tensor, Tensor) {
    let cfg = PhiConfig::new(768, 12);
    let varmap = VarMap::new();
    let phi = LearnedPhi::new(cfg, VarBuilder::from_varmap(&varmap, DType::F32, dev)).unwrap();
    phi.init_seeded(0).unwrap();
    let x = Tensor::randn(0f32, 1.0, (b, t, 768), dev).unwrap();
    let causal = Tensor::tril2(t, DType::F32, dev).unwrap();
    let scores = Tensor::randn(0f32, 2.0, (b, 12, t, t), dev).unwrap();
    let masked = scores
        .broadcast_add(&((causal - 1.0).unwrap() * 1e9).unwrap())
        .unwrap();
    let a = candle_nn::ops::softmax_last_dim(&masked).unwrap();
    (phi, varmap, x, a)
}

fn benches(c: &mut Criterion) {
    let dev = bench_device();
    let name = dev.bench_name();
    let mut group = c.benchmark_group("phi_forward_eval");
    group.sample_size(20);
    for (b, t) in SHAPES {
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{name}_B{b}_T{t}")),
            &(),
            |bench, _| {
                let (phi, _, x, a) = setup(&dev, b, t);
                bench.iter(|| {
                    black_box(synced(
                        phi.forward(&x, Some(&a), false).unwrap().phi_estimate,
                    ))
                })
            },
        );
    }
    group.finish();

    let mut group = c.benchmark_group("phi_forward_backward_train");
    group.sample_size(10);
    for (b, t) in SHAPES {
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{name}_B{b}_T{t}")),
            &(),
            |bench, _| {
                let (phi, varmap, x, a) = setup(&dev, b, t);
                let vars = varmap.all_vars();
                bench.iter(|| {
                    let out = phi.forward(&x, Some(&a), true).unwrap();
                    let grads = out.phi_estimate.mean_all().unwrap().backward().unwrap();
                    black_box(synced(grads.get(&vars[0]).unwrap().clone()))
                })
            },
        );
    }
    group.finish();
}

criterion_group!(phi_kernel, benches);
criterion_main!(phi_kernel);
