//! GPT-2 + LoRA against Hugging Face transformers/peft (fixtures from tools/refgen/gpt2_ref.py).

use candle_core::{DType, Device, Tensor, D};
use infinito_model::gpt2::{AttentionCapture, Gpt2};
use infinito_model::{generate, lora, LoraConfig, Mode, Pretrained};
use infinito_testutil::{device_test, fixture, max_abs_diff};
use std::collections::HashMap;

const TOL: f32 = 1e-4;

fn reference() -> HashMap<String, Tensor> {
    infinito_checkpoint::load_tensors(&fixture!("gpt2_reference.safetensors"), None, &Device::Cpu)
        .unwrap()
}

fn input_ids(r: &HashMap<String, Tensor>, device: &Device) -> Tensor {
    r["input_ids"]
        .to_dtype(DType::U32)
        .unwrap()
        .to_device(device)
        .unwrap()
}

/// Compares logits (selected columns), log-sum-exp, next-token log-probs and attention maps.
fn check_against(model: &Gpt2, r: &HashMap<String, Tensor>, prefix: &str) {
    let ids = input_ids(r, model.device());
    let out = model
        .forward(&ids, Mode::Eval, AttentionCapture::All, None)
        .unwrap();
    let logits = model.lm_head(&out.hidden).unwrap();
    let cols = r["cols"]
        .to_dtype(DType::U32)
        .unwrap()
        .to_device(model.device())
        .unwrap();
    let sel = logits.index_select(&cols, 2).unwrap();
    let d = max_abs_diff(&sel, &r[&format!("{prefix}.logits_cols")]);
    eprintln!("{prefix}: max |logit diff| {d:.2e}");
    assert!(d < TOL, "{prefix} logits differ by {d}");
    let lse = logits.log_sum_exp(D::Minus1).unwrap();
    let d = max_abs_diff(&lse, &r[&format!("{prefix}.logsumexp")]);
    assert!(d < TOL, "{prefix} logsumexp differs by {d}");
    let logp = candle_nn::ops::log_softmax(&logits, D::Minus1).unwrap();
    let t = ids.dim(1).unwrap();
    let targets = ids
        .narrow(1, 1, t - 1)
        .unwrap()
        .unsqueeze(2)
        .unwrap()
        .contiguous()
        .unwrap();
    let token_lp = logp
        .narrow(1, 0, t - 1)
        .unwrap()
        .contiguous()
        .unwrap()
        .gather(&targets, 2)
        .unwrap()
        .squeeze(2)
        .unwrap();
    let d = max_abs_diff(&token_lp, &r[&format!("{prefix}.token_logprobs")]);
    eprintln!("{prefix}: max |log-prob diff| {d:.2e}");
    assert!(d < TOL, "{prefix} token log-probs differ by {d}");
    let d = max_abs_diff(&out.attentions[0], &r[&format!("{prefix}.attn_first")]);
    assert!(d < TOL, "{prefix} first-layer attention differs by {d}");
    let d = max_abs_diff(
        out.attentions.last().unwrap(),
        &r[&format!("{prefix}.attn_last")],
    );
    assert!(d < TOL, "{prefix} last-layer attention differs by {d}");
}

fn base(device: &Device) -> Pretrained {
    Pretrained::from_dir(&fixture!("tiny-gpt2"), None, device).unwrap()
}

fn with_adapter(device: &Device) -> Pretrained {
    Pretrained::from_dir(&fixture!("tiny-gpt2"), Some(&fixture!("tiny-lora")), device).unwrap()
}

device_test!(
    base_model_matches_transformers,
    base_model_matches_transformers_on
);
fn base_model_matches_transformers_on(device: &Device) {
    check_against(&base(device).model, &reference(), "base");
}

device_test!(
    adapter_matches_peft_and_differs_from_base,
    adapter_matches_peft_and_differs_from_base_on
);
fn adapter_matches_peft_and_differs_from_base_on(device: &Device) {
    let r = reference();
    let adapted = with_adapter(device);
    check_against(&adapted.model, &r, "lora");
    let d = max_abs_diff(&r["base.logits_cols"], &r["lora.logits_cols"]);
    assert!(
        d > 1e-2,
        "the fixture adapter must change the logits (diff {d})"
    );
}

device_test!(
    merged_adapter_matches_peft_merge,
    merged_adapter_matches_peft_merge_on
);
fn merged_adapter_matches_peft_merge_on(device: &Device) {
    let r = reference();
    let merged = with_adapter(device).model.merged().unwrap();
    check_against(&merged, &r, "merged");
}

device_test!(
    greedy_generation_matches_transformers_with_and_without_cache,
    greedy_generation_matches_transformers_with_and_without_cache_on
);
fn greedy_generation_matches_transformers_with_and_without_cache_on(device: &Device) {
    let r = reference();
    let model = with_adapter(device).model;
    let expected: Vec<u32> = r["lora.greedy"]
        .to_dtype(DType::U32)
        .unwrap()
        .to_vec1()
        .unwrap();
    let prompt = &expected[..5];
    let new = expected.len() - prompt.len();
    let cached = generate::greedy(&model, prompt, new, true).unwrap();
    let uncached = generate::greedy(&model, prompt, new, false).unwrap();
    assert_eq!(cached, expected);
    assert_eq!(uncached, expected);
}

device_test!(
    generation_stops_at_n_positions,
    generation_stops_at_n_positions_on
);
fn generation_stops_at_n_positions_on(device: &Device) {
    let model = base(device).model;
    let limit = model.config().n_positions;
    let out = generate::greedy(&model, &[1, 2, 3], limit * 2, true).unwrap();
    assert_eq!(out.len(), limit);
}

device_test!(lora_gradients_match_peft, lora_gradients_match_peft_on);
fn lora_gradients_match_peft_on(device: &Device) {
    let r = reference();
    let mut config = LoraConfig::from_file(&fixture!("tiny-lora/adapter_config.json")).unwrap();
    config.lora_dropout = 0.0;
    let weights = fixture!("tiny-gpt2/model.safetensors");
    let tensors = infinito_model::pretrained::normalize_names(
        infinito_checkpoint::load_tensors(&weights, None, device).unwrap(),
    )
    .unwrap();
    let gpt2_config =
        infinito_model::Gpt2Config::from_file(&fixture!("tiny-gpt2/config.json")).unwrap();
    let p =
        Pretrained::from_tensors(&gpt2_config, tensors, Some(config), device, &weights).unwrap();
    let adapter = p.adapter.as_ref().unwrap();
    lora::load_adapter_weights(&adapter.varmap, &fixture!("tiny-lora"), device).unwrap();

    let ids = input_ids(&r, device);
    let t = ids.dim(1).unwrap();
    let out = p
        .model
        .forward(&ids, Mode::Train { seed: 7 }, AttentionCapture::None, None)
        .unwrap();
    let logits = p
        .model
        .lm_head(&out.hidden)
        .unwrap()
        .narrow(1, 0, t - 1)
        .unwrap();
    let v = logits.dim(2).unwrap();
    let targets = ids.narrow(1, 1, t - 1).unwrap().flatten_all().unwrap();
    let loss = candle_nn::loss::cross_entropy(&logits.reshape(((), v)).unwrap(), &targets).unwrap();
    let d = max_abs_diff(&loss.reshape(1).unwrap(), &r["lora.loss"]);
    assert!(d < TOL, "loss differs by {d}");
    let grads = loss.backward().unwrap();
    let vars = adapter.trainable_vars();
    assert_eq!(
        vars.len(),
        2 * 3 * 2,
        "A and B for c_attn, attn.c_proj, mlp.c_proj in 2 layers"
    );
    for (name, var) in vars {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        let expected = &r[&format!("grad.{name}")];
        let scale = expected
            .abs()
            .unwrap()
            .max_keepdim(0)
            .unwrap()
            .max_keepdim(1)
            .unwrap();
        let scale = scale.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0].max(1e-6);
        let d = max_abs_diff(g, expected) / scale;
        eprintln!("{name}: relative gradient diff {d:.2e}");
        assert!(d < TOL, "gradient of {name} differs by {d} (relative)");
    }
}

device_test!(
    adapter_round_trips_through_a_peft_directory,
    adapter_round_trips_through_a_peft_directory_on
);
fn adapter_round_trips_through_a_peft_directory_on(device: &Device) {
    let adapted = with_adapter(device);
    let dir = tempfile::tempdir().unwrap();
    adapted.adapter.as_ref().unwrap().save(dir.path()).unwrap();
    let reloaded = Pretrained::from_dir(&fixture!("tiny-gpt2"), Some(dir.path()), device).unwrap();
    let ids = input_ids(&reference(), device);
    let a = adapted.model.logits(&ids).unwrap();
    let b = reloaded.model.logits(&ids).unwrap();
    assert_eq!(max_abs_diff(&a, &b), 0.0);
}

device_test!(
    fresh_adapter_is_an_exact_no_op,
    fresh_adapter_is_an_exact_no_op_on
);
fn fresh_adapter_is_an_exact_no_op_on(device: &Device) {
    let weights = fixture!("tiny-gpt2/model.safetensors");
    let tensors = infinito_model::pretrained::normalize_names(
        infinito_checkpoint::load_tensors(&weights, None, device).unwrap(),
    )
    .unwrap();
    let config = infinito_model::Gpt2Config::from_file(&fixture!("tiny-gpt2/config.json")).unwrap();
    let p = Pretrained::from_tensors(
        &config,
        tensors,
        Some(LoraConfig::new(8, 32.0, 0.1)),
        device,
        &weights,
    )
    .unwrap();
    assert_eq!(p.adapter.as_ref().unwrap().trainable_vars().len(), 12);
    let ids = input_ids(&reference(), device);
    let d = max_abs_diff(
        &p.model.logits(&ids).unwrap(),
        &base(device).model.logits(&ids).unwrap(),
    );
    assert_eq!(d, 0.0);
}
