//! Greedy decoding against transformers' `generate(do_sample=False)` with and without a
//! repetition penalty (fixture from tools/refgen/generate_ref.py), and the decode loop's limits.

use candle_core::Device;
use infinito_model::generate::{generate, GenerationLimits, Gpt2Decoder, StopReason};
use infinito_model::sampling::{Sampler, SamplingConfig};
use infinito_model::{score, Gpt2, Pretrained};
use infinito_testutil::{device_test, fixture};

#[derive(serde::Deserialize)]
struct Case {
    model: String,
    prompt_ids: Vec<u32>,
    repetition_penalty: f32,
    max_new_tokens: usize,
    eos_token_id: u32,
    new_ids: Vec<u32>,
    logprobs: Vec<f32>,
}

#[derive(serde::Deserialize)]
struct Reference {
    cases: Vec<Case>,
}

fn reference() -> Reference {
    let text = std::fs::read_to_string(fixture!("generate_reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn model(name: &str, device: &Device) -> Gpt2 {
    let adapter = (name == "lora").then(|| fixture!("tiny-lora"));
    Pretrained::from_dir(&fixture!("tiny-gpt2"), adapter.as_deref(), device)
        .unwrap()
        .model
}

device_test!(
    greedy_matches_transformers_with_and_without_repetition_penalty,
    greedy_matches_transformers_on
);
fn greedy_matches_transformers_on(device: &Device) {
    let reference = reference();
    assert!(reference.cases.len() >= 12);
    let models = [
        ("base", model("base", device)),
        ("lora", model("lora", device)),
    ];
    for case in &reference.cases {
        let model = &models.iter().find(|(n, _)| *n == case.model).unwrap().1;
        let mut sampler = Sampler::new(SamplingConfig::greedy(case.repetition_penalty), 0).unwrap();
        let limits = GenerationLimits {
            max_new_tokens: case.max_new_tokens,
            stop_token: Some(case.eos_token_id),
        };
        let out = generate(
            &mut Gpt2Decoder::new(model, true),
            &case.prompt_ids,
            limits,
            &mut sampler,
        )
        .unwrap();
        let what = format!(
            "{} prompt {:?} penalty {}",
            case.model, case.prompt_ids, case.repetition_penalty
        );
        assert_eq!(out.tokens, case.new_ids, "{what}");
        // The adapter fixture is ill-conditioned (large LoRA weights): transformers' own float32
        // and float64 logits of these sequences differ by up to 3.4e-3.
        for (got, want) in out.logprobs.iter().zip(&case.logprobs) {
            assert!((got - want).abs() < 5e-3, "{what}: logprob {got} vs {want}");
        }
    }
}

#[test]
fn the_penalty_changes_what_greedy_decoding_produces() {
    // Guards the fixture: without the penalty the tiny model repeats itself.
    let reference = reference();
    let plain = reference
        .cases
        .iter()
        .find(|c| c.model == "base" && c.repetition_penalty == 1.0)
        .unwrap();
    let penalized = reference
        .cases
        .iter()
        .find(|c| {
            c.model == "base" && c.repetition_penalty > 1.0 && c.prompt_ids == plain.prompt_ids
        })
        .unwrap();
    assert_ne!(plain.new_ids, penalized.new_ids);
}

#[test]
fn logprobs_are_the_unprocessed_model_distribution() {
    // The log-probabilities reported for a generation equal a scoring pass over its tokens.
    let model = model("lora", &Device::Cpu);
    let prompt = [464u32, 3450, 286, 10510];
    let mut sampler = Sampler::new(SamplingConfig::greedy(1.3), 0).unwrap();
    let limits = GenerationLimits {
        max_new_tokens: 10,
        stop_token: None,
    };
    let out = generate(
        &mut Gpt2Decoder::new(&model, true),
        &prompt,
        limits,
        &mut sampler,
    )
    .unwrap();
    let ids = [&prompt[..], &out.tokens].concat();
    let scored = score::token_logprobs(&model, &ids).unwrap();
    for (got, want) in out.logprobs.iter().zip(&scored[prompt.len() - 1..]) {
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }
}

#[test]
fn decoding_stops_at_the_stop_token_and_at_the_context() {
    let model = model("base", &Device::Cpu);
    let mut sampler = Sampler::new(SamplingConfig::greedy(1.0), 0).unwrap();
    // Greedy on the base fixture repeats 18942 (see generate_reference.json).
    let limits = GenerationLimits {
        max_new_tokens: 10,
        stop_token: Some(18942),
    };
    let mut decoder = Gpt2Decoder::new(&model, true);
    let out = generate(&mut decoder, &[40, 40], limits, &mut sampler).unwrap();
    assert_eq!(out.tokens, [18942]);
    assert_eq!(out.stop, StopReason::StopToken);

    let context = model.config().n_positions;
    let limits = GenerationLimits {
        max_new_tokens: 1000,
        stop_token: None,
    };
    let out = generate(&mut decoder, &[40; 60], limits, &mut sampler).unwrap();
    assert_eq!(out.tokens.len(), context - 60);
    assert_eq!(out.stop, StopReason::Context);

    let too_long = vec![40; context + 1];
    assert!(generate(&mut decoder, &too_long, limits, &mut sampler).is_err());
    assert!(generate(&mut decoder, &[], limits, &mut sampler).is_err());
}

#[test]
fn cached_and_uncached_sampling_draw_the_same_tokens() {
    let model = model("lora", &Device::Cpu);
    let config = SamplingConfig::default();
    let limits = GenerationLimits {
        max_new_tokens: 20,
        stop_token: None,
    };
    let run = |use_cache| {
        let mut sampler = Sampler::new(config.clone(), 11).unwrap();
        generate(
            &mut Gpt2Decoder::new(&model, use_cache),
            &[818, 262, 3726],
            limits,
            &mut sampler,
        )
        .unwrap()
        .tokens
    };
    assert_eq!(run(true), run(false));
}
