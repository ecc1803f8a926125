//! Greedy generation of 100 tokens from a 10-token prompt with GPT-2 small (12 layers, 768 wide,
//! 12 heads, vocabulary 50257, random init), batch 1, KV cache, 2 threads unless
//! `RAYON_NUM_THREADS` says otherwise. The Hugging Face side is tools/refgen/bench_generate_hf.py.
//! Besides criterion's timing, prints tokens per second of whole generations (prompt included).
//! The bench id names the device; sampling reads each token back, so every call ends synchronised.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use infinito_benches::{bench_device, BenchDevice};
use infinito_model::generate::{generate, GenerationLimits, Gpt2Decoder};
use infinito_model::pretrained::random_weights;
use infinito_model::sampling::{Sampler, SamplingConfig};
use infinito_model::{Gpt2Config, Pretrained};

const PROMPT: usize = 10;
const NEW_TOKENS: usize = 100;

fn bench(c: &mut Criterion) {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "2");
    }
    let device = bench_device();
    let config = Gpt2Config::gpt2_small();
    let weights = random_weights(&config, 0, &device).unwrap();
    let model = Pretrained::from_tensors(&config, weights, None, &device, Path::new("random"))
        .unwrap()
        .model;
    let prompt: Vec<u32> = (0..PROMPT as u32).map(|i| i * 7919 % 50257).collect();
    let limits = GenerationLimits {
        max_new_tokens: NEW_TOKENS,
        stop_token: None,
    };
    let run = || {
        let mut decoder = Gpt2Decoder::new(&model, true);
        let mut sampler = Sampler::new(SamplingConfig::greedy(1.0), 0).unwrap();
        let out = generate(&mut decoder, &prompt, limits, &mut sampler).unwrap();
        assert_eq!(out.tokens.len(), NEW_TOKENS);
        out
    };
    run();
    let start = Instant::now();
    let out = run();
    let total = start.elapsed().as_secs_f64();
    println!(
        "greedy {NEW_TOKENS} tokens: {:.1} tok/s overall ({:.3} s prefill, {:.1} tok/s after it)",
        NEW_TOKENS as f64 / total,
        out.prefill_seconds,
        (NEW_TOKENS - 1) as f64 / out.decode_seconds
    );
    let mut group = c.benchmark_group(format!("generate_gpt2_small_{}", device.bench_name()));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    group.bench_function("greedy_100_from_10_kv_cache", |b| b.iter(run));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
