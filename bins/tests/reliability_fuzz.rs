//! A seeded fuzz pass over every importer: safetensors, PyTorch `.pt`, stable-baselines3 zips,
//! peft adapters, tokenizers and GPT-2 `config.json`. Each mutated file must be read or refused
//! with an error: no panic, no abort, no hang.

mod reliability;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use candle_core::Device;
use infinito_model::{Gpt2Config, Pretrained};
use infinito_rl::{ConfigOverrides, Ppo};
use reliability::Rng;

/// Longest one import may take before it counts as hung.
const IMPORT_LIMIT: Duration = Duration::from_secs(60);

fn fixture(krate: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates")
        .join(krate)
        .join("tests/fixtures")
        .join(name)
}

/// One mutation of `seed`: bit flips, a random overwrite, a truncation, a duplicated chunk, or
/// (for text) a number replaced by a huge, negative or non-finite one.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    let len = bytes.len() as u64;
    match rng.below(5) {
        0 => {
            for _ in 0..=rng.below(8) {
                let i = rng.below(len) as usize;
                bytes[i] ^= 1 << rng.below(8);
            }
        }
        1 => {
            let at = rng.below(len) as usize;
            let n = (rng.below(64) as usize).min(bytes.len() - at);
            for b in &mut bytes[at..at + n] {
                *b = rng.next_u64() as u8;
            }
        }
        2 => bytes.truncate(rng.below(len) as usize),
        3 => {
            let at = rng.below(len) as usize;
            let n = (rng.below(256) as usize).min(bytes.len() - at);
            let chunk = bytes[at..at + n].to_vec();
            bytes.splice(at..at, chunk);
        }
        _ => {
            let digits: Vec<usize> = (0..bytes.len())
                .filter(|&i| bytes[i].is_ascii_digit())
                .collect();
            if !digits.is_empty() {
                let i = digits[rng.below(digits.len() as u64) as usize];
                let value: &[u8] = match rng.below(4) {
                    0 => b"99999999999999999999",
                    1 => b"-1",
                    2 => b"1e308",
                    _ => b"4294967296",
                };
                bytes.splice(i..=i, value.iter().copied());
            } else {
                bytes[0] ^= 0xff;
            }
        }
    }
    bytes
}

/// Imports `count` mutations of `seed` with `import`; returns (accepted, refused) and fails the
/// test on a panic or a hang.
fn fuzz(
    what: &str,
    seed: &[u8],
    count: usize,
    rng: &mut Rng,
    import: &dyn Fn(&[u8]) -> Result<(), String>,
) -> (usize, usize) {
    let (mut accepted, mut refused) = (0, 0);
    for i in 0..count {
        let bytes = mutate(seed, rng);
        let begin = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| import(&bytes)));
        assert!(
            begin.elapsed() < IMPORT_LIMIT,
            "{what} mutation {i}: took {:?}",
            begin.elapsed()
        );
        match result {
            Ok(Ok(())) => accepted += 1,
            Ok(Err(message)) => {
                assert!(
                    !message.trim().is_empty() && !message.contains('\n'),
                    "{what} mutation {i}: error is not one line: {message:?}"
                );
                refused += 1;
            }
            Err(_) => panic!("{what} mutation {i}: the importer panicked"),
        }
    }
    (accepted, refused)
}

fn one_line(e: impl std::fmt::Display) -> String {
    e.to_string()
}

#[test]
fn mutated_files_are_read_or_refused_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path();
    let mut rng = Rng::new(42);
    let mut total = 0;
    let mut report = Vec::new();
    let mut record = |name: &str, (a, r): (usize, usize)| {
        total += a + r;
        report.push(format!("{name}: {a} read, {r} refused"));
    };

    let tensors = |bytes: &[u8]| {
        infinito_checkpoint::load_tensors_from_bytes(Path::new("fuzz"), bytes, None, &Device::Cpu)
            .map(|_| ())
            .map_err(one_line)
    };
    for (krate, name, n) in [
        ("infinito-phi", "phi_small_weights.safetensors", 40),
        ("infinito-checkpoint", "nested.pt", 20),
        ("infinito-phi", "phi_small_weights.pt", 20),
        ("infinito-model", "original_hybrid.pt", 10),
    ] {
        let seed = std::fs::read(fixture(krate, name)).unwrap();
        record(name, fuzz(name, &seed, n, &mut rng, &tensors));
    }

    let zip = scratch.join("agent.zip");
    let sb3 = |bytes: &[u8]| {
        std::fs::write(&zip, bytes).unwrap();
        Ppo::from_sb3_zip(&zip, &ConfigOverrides::default())
            .map(|_| ())
            .map_err(one_line)
    };
    let seed = std::fs::read(fixture("infinito-rl", "sb3_small.zip")).unwrap();
    record("sb3_small.zip", fuzz("sb3 zip", &seed, 40, &mut rng, &sb3));

    let gpt2 = fixture("infinito-model", "tiny-gpt2");
    let adapter = scratch.join("adapter");
    std::fs::create_dir(&adapter).unwrap();
    let lora = fixture("infinito-model", "tiny-lora");
    let (config_seed, weights_seed) = (
        std::fs::read(lora.join("adapter_config.json")).unwrap(),
        std::fs::read(lora.join("adapter_model.safetensors")).unwrap(),
    );
    let load_adapter = || {
        Pretrained::from_dir(&gpt2, Some(&adapter), &Device::Cpu)
            .map(|_| ())
            .map_err(one_line)
    };
    std::fs::write(adapter.join("adapter_model.safetensors"), &weights_seed).unwrap();
    let adapter_config = |bytes: &[u8]| {
        std::fs::write(adapter.join("adapter_config.json"), bytes).unwrap();
        load_adapter()
    };
    record(
        "adapter_config.json",
        fuzz(
            "adapter config",
            &config_seed,
            20,
            &mut rng,
            &adapter_config,
        ),
    );
    std::fs::write(adapter.join("adapter_config.json"), &config_seed).unwrap();
    let adapter_weights = |bytes: &[u8]| {
        std::fs::write(adapter.join("adapter_model.safetensors"), bytes).unwrap();
        load_adapter()
    };
    record(
        "adapter_model.safetensors",
        fuzz(
            "adapter weights",
            &weights_seed,
            15,
            &mut rng,
            &adapter_weights,
        ),
    );

    let tokenizer_dir = scratch.join("tokenizer");
    std::fs::create_dir(&tokenizer_dir).unwrap();
    let builtin = infinito_train::builtin::tokenizer(512).unwrap();
    let seed = builtin.to_string(false).unwrap().into_bytes();
    let tokenizer = |bytes: &[u8]| {
        std::fs::write(tokenizer_dir.join("tokenizer.json"), bytes).unwrap();
        let t = infinito_model::tokenizer::for_model_dir(&tokenizer_dir, 512).map_err(one_line)?;
        infinito_model::tokenizer::encode(&t, "The nature of consciousness")
            .map(|_| ())
            .map_err(one_line)
    };
    record(
        "tokenizer.json",
        fuzz("tokenizer", &seed, 20, &mut rng, &tokenizer),
    );

    let config_path = scratch.join("config.json");
    let config = |bytes: &[u8]| {
        std::fs::write(&config_path, bytes).unwrap();
        Gpt2Config::from_file(&config_path)
            .map(|_| ())
            .map_err(one_line)
    };
    let seed = std::fs::read(gpt2.join("config.json")).unwrap();
    record(
        "config.json",
        fuzz("config.json", &seed, 40, &mut rng, &config),
    );

    eprintln!("fuzz: {total} mutated files; {}", report.join("; "));
    assert!(total >= 200, "only {total} mutated files");
}
