//! The KV cache against re-running the whole sequence, across the cache's capacity doublings.

use std::path::Path;

use candle_core::Device;
use infinito_model::generate::{Decoder, Gpt2Decoder};
use infinito_model::pretrained::random_weights;
use infinito_model::{Gpt2Config, Pretrained};

#[test]
fn cached_logits_equal_full_recomputation_past_several_capacity_doublings() {
    let config = Gpt2Config::new(97, 300, 32, 2, 4);
    let weights = random_weights(&config, 7, &Device::Cpu).unwrap();
    let model = Pretrained::from_tensors(&config, weights, None, &Device::Cpu, Path::new("random"))
        .unwrap()
        .model;
    let ids: Vec<u32> = (0..280).map(|i| (i * 37 % 97) as u32).collect();
    let (mut cached, mut full) = (
        Gpt2Decoder::new(&model, true),
        Gpt2Decoder::new(&model, false),
    );
    // A 70-token prompt (more than the smallest capacity), then one token at a time up to 280
    // positions (capacities 70 -> 140 -> 280), with a 3-token chunk in between.
    let mut chunks: Vec<std::ops::Range<usize>> = (70..100).map(|i| i..i + 1).collect();
    chunks.insert(0, 0..70);
    chunks.push(100..103);
    chunks.extend((103..280).map(|i| i..i + 1));
    for chunk in chunks {
        let a: Vec<f32> = cached.feed(&ids[chunk.clone()]).unwrap().to_vec1().unwrap();
        let b: Vec<f32> = full.feed(&ids[chunk.clone()]).unwrap().to_vec1().unwrap();
        let d = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(d < 1e-4, "after {} tokens: {d}", chunk.end);
    }
}
