//! Criterion benches of the minimum information bipartition search on a coupled linear AR(1)
//! series (lag 1): the exhaustive search of Phi_SI at n = 8, 12, 16 channels (one sequence of
//! T = 128 steps) and Queyranne's search at n = 32, 64 (8 sequences of T = 128 steps, so the
//! 2n x 2n covariance has more pairs than variables). Each iteration estimates the covariance
//! and searches.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use infinito_phi::gaussian::{
    minimum_information_bipartition, CovarianceOptions, LaggedCovariance, Search, SearchOptions,
    TimeSeries,
};
use std::hint::black_box;

/// Uniform in [-0.5, 0.5) from a SplitMix64 stream.
fn uniform(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 - 0.5
}

/// `X_t = A X_t-1 + e` with a random `A` of Frobenius norm 0.9 and uniform noise.
fn series(n: usize, sequences: usize, steps: usize) -> TimeSeries {
    let mut state = n as u64;
    let a: Vec<f64> = (0..n * n).map(|_| uniform(&mut state)).collect();
    let norm = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let a: Vec<f64> = a.iter().map(|x| x * 0.9 / norm).collect();
    let mut data = Vec::with_capacity(sequences * steps * n);
    for _ in 0..sequences {
        let mut x = vec![0.0; n];
        for t in 0..steps + 50 {
            x = (0..n)
                .map(|i| (0..n).map(|j| a[i * n + j] * x[j]).sum::<f64>() + uniform(&mut state))
                .collect();
            if t >= 50 {
                data.extend_from_slice(&x);
            }
        }
    }
    TimeSeries::new(data, sequences, steps, n).unwrap()
}

fn bench_search(c: &mut Criterion, group: &str, search: Search, cases: &[(usize, usize)]) {
    let mut group = c.benchmark_group(group);
    group.sample_size(10);
    let options = SearchOptions {
        search,
        ..Default::default()
    };
    for &(n, sequences) in cases {
        let data = series(n, sequences, 128);
        group.bench_with_input(BenchmarkId::from_parameter(format!("n{n}")), &(), |b, _| {
            b.iter(|| {
                let cov = LaggedCovariance::estimate(&data, &CovarianceOptions::default())
                    .unwrap()
                    .covariance;
                black_box(
                    minimum_information_bipartition(&cov, &options)
                        .unwrap()
                        .value,
                )
            })
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_search(
        c,
        "mib_exhaustive",
        Search::Exhaustive,
        &[(8, 1), (12, 1), (16, 1)],
    );
    bench_search(c, "mib_queyranne", Search::Queyranne, &[(32, 8), (64, 8)]);
}

criterion_group!(gaussian, benches);
criterion_main!(gaussian);
