//! The hybrid's incremental decoder against full evaluation-mode forwards of the hybrid, on a tiny
//! random hybrid whose memory holds entries.

use candle_core::{Device, Tensor};
use infinito_model::generate::{
    generate, phi_trace, Decoder, GenerationLimits, Gpt2Decoder, HybridDecoder,
};
use infinito_model::hybrid::{Hybrid, HybridConfig};
use infinito_model::pretrained::random_weights;
use infinito_model::sampling::{Sampler, SamplingConfig};
use infinito_model::{Gpt2Config, LoraConfig, Mode};
use infinito_phi::PhiConfig;
use infinito_testutil::max_abs_diff_slices;

const VOCAB: usize = 97;

/// A tiny hybrid whose memory was filled by a few training-mode passes.
fn hybrid_with_memory() -> Hybrid {
    let gpt2 = Gpt2Config::new(VOCAB, 48, 32, 2, 4);
    let config = HybridConfig {
        phi: PhiConfig::new(gpt2.n_embd, gpt2.n_head),
        gpt2,
        lora: LoraConfig::new(4, 16.0, 0.1),
        memory_slots: 8,
        train_base: false,
    };
    let base = random_weights(&config.gpt2, 3, &Device::Cpu).unwrap();
    let mut hybrid = Hybrid::new(config, base, 5, &Device::Cpu).unwrap();
    for step in 0..4u64 {
        let ids: Vec<u32> = (0..4 * 12)
            .map(|i| ((i as u64 * 31 + step * 7) % VOCAB as u64) as u32)
            .collect();
        let ids = Tensor::from_vec(ids, (4, 12), &Device::Cpu).unwrap();
        hybrid.forward(&ids, Mode::Train { seed: step }).unwrap();
    }
    assert!(hybrid.memory().filled() > 0, "training wrote to the memory");
    hybrid
}

fn full_forward_last_logits(hybrid: &mut Hybrid, ids: &[u32]) -> Vec<f32> {
    let input = Tensor::new(ids, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let logits = hybrid
        .forward(&input, Mode::Eval)
        .unwrap()
        .logits()
        .unwrap();
    let t = logits.dim(1).unwrap();
    logits
        .narrow(1, t - 1, 1)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

#[test]
fn incremental_logits_equal_full_hybrid_forwards_and_differ_from_gpt2() {
    let mut hybrid = hybrid_with_memory();
    let ids: Vec<u32> = (0..20).map(|i| (i * 13 % VOCAB) as u32).collect();
    let mut steps = Vec::new();
    let mut plain = Vec::new();
    {
        let mut decoder = HybridDecoder::new(&hybrid).unwrap();
        let mut gpt2 = Gpt2Decoder::new(hybrid.gpt2(), true);
        // a 5-token prompt, then one token at a time
        steps.push(decoder.feed(&ids[..5]).unwrap().to_vec1::<f32>().unwrap());
        plain.push(gpt2.feed(&ids[..5]).unwrap().to_vec1::<f32>().unwrap());
        for i in 5..ids.len() {
            steps.push(decoder.feed(&ids[i..=i]).unwrap().to_vec1().unwrap());
            plain.push(gpt2.feed(&ids[i..=i]).unwrap().to_vec1().unwrap());
        }
    }
    let mut memory_effect = 0.0f32;
    for (k, (step, gpt2)) in steps.iter().zip(&plain).enumerate() {
        let full = full_forward_last_logits(&mut hybrid, &ids[..5 + k]);
        let d = max_abs_diff_slices(step, &full);
        assert!(
            d < 1e-4,
            "step {k}: incremental vs full hybrid differ by {d}"
        );
        memory_effect = memory_effect.max(max_abs_diff_slices(step, gpt2));
    }
    assert!(
        memory_effect > 1e-3,
        "the memory read-out must change the logits (max {memory_effect})"
    );
}

#[test]
fn reset_starts_a_new_sequence_and_the_model_memory_is_untouched() {
    let hybrid = hybrid_with_memory();
    let before = hybrid.memory().buffers(&Device::Cpu).unwrap()["access_count"]
        .to_vec1::<i64>()
        .unwrap();
    let mut decoder = HybridDecoder::new(&hybrid).unwrap();
    let first = decoder.feed(&[1, 2, 3]).unwrap().to_vec1::<f32>().unwrap();
    decoder.feed(&[4, 5]).unwrap();
    decoder.reset();
    let again = decoder.feed(&[1, 2, 3]).unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(first, again);
    let after = hybrid.memory().buffers(&Device::Cpu).unwrap()["access_count"]
        .to_vec1::<i64>()
        .unwrap();
    assert_eq!(before, after);
}

#[test]
fn phi_trace_is_the_phi_of_each_prefix() {
    let mut hybrid = hybrid_with_memory();
    let prompt = [3u32, 1, 4, 1, 5];
    let generation = {
        let mut decoder = HybridDecoder::new(&hybrid).unwrap();
        let mut sampler = Sampler::new(SamplingConfig::default(), 9).unwrap();
        let limits = GenerationLimits {
            max_new_tokens: 6,
            stop_token: None,
        };
        generate(&mut decoder, &prompt, limits, &mut sampler).unwrap()
    };
    let ids = [&prompt[..], &generation.tokens].concat();
    let trace = phi_trace(&mut hybrid, &ids, prompt.len() + 1).unwrap();
    assert_eq!(trace.len(), generation.tokens.len());
    for (k, phi) in trace.iter().enumerate() {
        let input = Tensor::new(&ids[..prompt.len() + 1 + k], &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let want: Vec<f32> = hybrid
            .forward(&input, Mode::Eval)
            .unwrap()
            .phi
            .phi_estimate
            .to_vec1()
            .unwrap();
        assert!(
            (phi - want[0]).abs() < 1e-5,
            "step {k}: {phi} vs {}",
            want[0]
        );
    }
}
