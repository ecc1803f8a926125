//! The training loop with a toy model: learning, exact resume, Ctrl+C, non-finite steps,
//! early stopping, logs and checkpoint errors.

use candle_core::{DType, Device, Tensor, Var};
use infinito_train::data::{Batch, BatchPosition, Batches, LmWindows, Order};
use infinito_train::{
    fit, resume, FitOptions, PhiMetrics, StepOutput, StopReason, TrainError, TrainModel, Trainer,
    METRICS_FILE,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const VOCAB: usize = 16;
const DIM: usize = 8;
const SEQ_LEN: usize = 8;
const BATCH: usize = 8;
/// 64 training windows of 8 tokens = 8 steps per epoch.
const TRAIN_WINDOWS: usize = 64;

/// Embedding + dropout + linear LM over a 16-token vocabulary, with a running-mean buffer and
/// switches that make chosen training calls (1-based) misbehave.
struct Toy {
    emb: Var,
    out: Var,
    buffer: Tensor,
    train_calls: u64,
    nan_loss: HashSet<u64>,
    nan_from: Option<u64>,
    inf_grad: HashSet<u64>,
    interrupt: Option<(u64, Arc<AtomicBool>)>,
}

impl Toy {
    fn new() -> candle_core::Result<Self> {
        let mut rng = StdRng::seed_from_u64(7);
        let mut init =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-0.5..0.5)).collect() };
        Ok(Self {
            emb: Var::from_vec(init(VOCAB * DIM), (VOCAB, DIM), &Device::Cpu)?,
            out: Var::from_vec(init(DIM * VOCAB), (DIM, VOCAB), &Device::Cpu)?,
            buffer: Tensor::zeros(DIM, DType::F32, &Device::Cpu)?,
            train_calls: 0,
            nan_loss: HashSet::new(),
            nan_from: None,
            inf_grad: HashSet::new(),
            interrupt: None,
        })
    }

    fn forward(
        &mut self,
        batch: &Batch,
        train: bool,
        seed: u64,
    ) -> candle_core::Result<StepOutput> {
        let ids = batch.input_ids.flatten_all()?;
        let labels = batch.labels.flatten_all()?;
        let mut h = self.emb.as_tensor().index_select(&ids, 0)?;
        if train {
            let mut rng = StdRng::seed_from_u64(seed);
            let mask: Vec<f32> = (0..h.elem_count())
                .map(|_| if rng.random_bool(0.9) { 1.0 / 0.9 } else { 0.0 })
                .collect();
            let mask = Tensor::from_vec(mask, h.dims(), h.device())?;
            h = (h * mask)?;
            let mean = h.detach().mean(0)?;
            self.buffer = ((&self.buffer * 0.9)? + (mean * 0.1)?)?;
        }
        let logits = h.matmul(self.out.as_tensor())?;
        let lm = candle_nn::loss::cross_entropy(&logits, &labels)?;
        let lm_loss = lm.to_scalar::<f32>()? as f64;
        let phi = candle_nn::ops::sigmoid(&h)?
            .mean_all()?
            .to_scalar::<f32>()? as f64
            * 10.0;
        let mut loss = lm;
        if train {
            let call = self.train_calls;
            if self.nan_loss.contains(&call) || self.nan_from.is_some_and(|n| call >= n) {
                loss = loss.affine(f64::NAN, 0.0)?;
            }
            if self.inf_grad.contains(&call) {
                // sqrt at exactly 0: a finite loss with an infinite gradient.
                let s = self.out.as_tensor().sum_all()?;
                loss = (loss + (&s - s.detach())?.sqrt()?)?;
            }
        }
        Ok(StepOutput {
            loss,
            lm_loss,
            phi: Some(PhiMetrics {
                phi,
                phi_loss: 0.6 * (6.0 - phi),
                memory_utilization: 0.0,
            }),
            metrics: BTreeMap::new(),
            forward_parts: Vec::new(),
        })
    }
}

impl TrainModel for Toy {
    fn step(
        &mut self,
        batch: &Batch,
        train: bool,
        seed: u64,
    ) -> infinito_train::Result<StepOutput> {
        if train {
            self.train_calls += 1;
            if let Some((at, flag)) = &self.interrupt {
                if self.train_calls == *at {
                    flag.store(true, Ordering::SeqCst);
                }
            }
        }
        Ok(self.forward(batch, train, seed)?)
    }

    fn trainable_vars(&self) -> Vec<(String, Var)> {
        vec![
            ("emb".into(), self.emb.clone()),
            ("out".into(), self.out.clone()),
        ]
    }

    fn state(&self) -> infinito_train::Result<HashMap<String, Tensor>> {
        Ok(HashMap::from([
            ("emb".to_string(), self.emb.as_tensor().copy()?),
            ("out".to_string(), self.out.as_tensor().copy()?),
            ("buffer".to_string(), self.buffer.copy()?),
        ]))
    }

    fn load_state(&mut self, tensors: &HashMap<String, Tensor>) -> infinito_train::Result<()> {
        let get = |name: &str| {
            tensors
                .get(name)
                .ok_or_else(|| TrainError::model(format!("missing tensor {name:?}")))
        };
        self.emb.set(get("emb")?)?;
        self.out.set(get("out")?)?;
        self.buffer = get("buffer")?.clone();
        Ok(())
    }
}

/// Mostly `next = 5 t + 3 mod 16`, with 10% random tokens.
fn tokens(n: usize, seed: u64) -> Vec<u32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut t = 0u32;
    (0..n)
        .map(|_| {
            t = if rng.random_bool(0.1) {
                rng.random_range(0..VOCAB as u32)
            } else {
                (5 * t + 3) % VOCAB as u32
            };
            t
        })
        .collect()
}

fn data() -> (LmWindows, LmWindows) {
    let train =
        LmWindows::new(tokens(TRAIN_WINDOWS * SEQ_LEN, 1), SEQ_LEN, 0).expect("train windows");
    let valid = LmWindows::new(tokens(16 * SEQ_LEN, 2), SEQ_LEN, 0).expect("valid windows");
    (train, valid)
}

fn options(output: &Path) -> FitOptions {
    FitOptions {
        epochs: 3,
        batch_size: BATCH,
        lr: 0.02,
        patience: 5,
        seed: 3,
        output: output.to_path_buf(),
        phi_target: 6.0,
        progress: false,
        run_config: serde_json::json!({"toy": true}),
        ..FitOptions::default()
    }
}

/// The exact bits of every tensor of the model's state.
fn bits(model: &Toy) -> Result<BTreeMap<String, Vec<u32>>, Box<dyn std::error::Error>> {
    let mut out = BTreeMap::new();
    for (name, t) in model.state()? {
        let values = t.flatten_all()?.to_vec1::<f32>()?;
        out.insert(name, values.iter().map(|v| v.to_bits()).collect());
    }
    Ok(out)
}

fn all_finite(model: &Toy) -> Result<bool, Box<dyn std::error::Error>> {
    for t in model.state()?.values() {
        if t.flatten_all()?
            .to_vec1::<f32>()?
            .iter()
            .any(|v| !v.is_finite())
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A log file's text; in `metrics.jsonl`, without the wall-clock phase times (`t_*`), the only
/// values that differ between identical runs.
fn read(path: PathBuf) -> Result<String, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(&path)?;
    if path.extension().is_none_or(|e| e != "jsonl") {
        return Ok(text);
    }
    let mut out = String::new();
    for line in text.lines() {
        let mut record: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line)?;
        record.retain(|key, _| !key.starts_with("t_"));
        out.push_str(&serde_json::to_string(&record)?);
        out.push('\n');
    }
    Ok(out)
}

fn one_line(err: &TrainError) -> String {
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "multi-line message: {msg}");
    msg
}

#[test]
fn loss_falls_and_logs_are_written() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (train, valid) = data();
    let mut model = Toy::new()?;
    let outcome = fit(
        &mut model,
        &train,
        &valid,
        FitOptions {
            epochs: 4,
            ..options(dir.path())
        },
    )?;
    assert_eq!(outcome.reason, StopReason::Completed);
    assert_eq!((outcome.global_step, outcome.epochs_completed), (32, 4));

    let history: serde_json::Value = serde_json::from_str(&read(dir.path().join("history.json"))?)?;
    let keys: Vec<&str> = history
        .as_object()
        .ok_or("not an object")?
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "train_loss",
        "train_ppl",
        "val_loss",
        "val_ppl",
        "train_phi",
        "val_phi",
        "delta_phi_loss",
        "target_phi",
    ];
    expected.sort();
    assert_eq!(keys, expected);
    for key in expected {
        assert_eq!(history[key].as_array().map(Vec::len), Some(4), "{key}");
    }
    let val: Vec<f64> = serde_json::from_value(history["val_loss"].clone())?;
    assert!(
        val[3] < val[0] - 0.1,
        "validation loss did not fall: {val:?}"
    );
    let train_loss: Vec<f64> = serde_json::from_value(history["train_loss"].clone())?;
    assert!(train_loss[3] < train_loss[0], "{train_loss:?}");
    assert_eq!(history["target_phi"][0], 6.0);
    let phi = history["train_phi"][0].as_f64().ok_or("train_phi")?;
    assert!(
        (history["delta_phi_loss"][0].as_f64().ok_or("delta")? - 0.6 * (6.0 - phi)).abs() < 0.05
    );
    assert_eq!(
        outcome.best_val_loss,
        Some(val.iter().cloned().fold(f64::INFINITY, f64::min))
    );

    let lines: Vec<serde_json::Value> = read(dir.path().join("metrics.jsonl"))?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let (steps, valids): (Vec<_>, Vec<_>) = lines.iter().partition(|l| l["split"] == "train");
    assert_eq!((steps.len(), valids.len()), (32, 4));
    for field in [
        "step",
        "epoch",
        "loss",
        "lm_loss",
        "ppl",
        "lr",
        "grad_norm",
        "phi",
        "phi_loss",
    ] {
        assert!(
            steps[0].get(field).is_some_and(|v| !v.is_null()),
            "missing {field}"
        );
    }
    assert_eq!(steps[31]["step"], 32);
    assert_eq!(steps[31]["epoch"], 4);
    assert_eq!(valids[0]["step"], 8);
    assert!(valids[0]["ppl"].as_f64().is_some());

    let log = read(dir.path().join("training_log.txt"))?;
    assert!(log.contains("epoch 4/4: train loss"), "{log}");
    let config: serde_json::Value = serde_json::from_str(&read(dir.path().join("config.json"))?)?;
    assert_eq!(config, serde_json::json!({"toy": true}));
    for name in ["last", "best"] {
        assert!(dir
            .path()
            .join(format!("checkpoints/{name}.safetensors"))
            .exists());
    }
    Ok(())
}

/// Trains to the end with `interrupt_at` / `max_steps` stops and resumes from `last`; returns the
/// final model and the run directory.
fn run_in_pieces(
    dir: &Path,
    stops: &[u64],
    configure: impl Fn(FitOptions) -> FitOptions,
) -> Result<Toy, Box<dyn std::error::Error>> {
    let (train, valid) = data();
    let last = dir.join("checkpoints/last.safetensors");
    let mut model = Toy::new()?;
    for (i, &stop) in stops.iter().enumerate() {
        let opts = configure(FitOptions {
            max_steps: Some(stop),
            ..options(dir)
        });
        let outcome = if i == 0 {
            fit(&mut model, &train, &valid, opts)?
        } else {
            model = Toy::new()?; // a fresh process: nothing survives but the checkpoint
            resume(&mut model, &last, &train, &valid, opts)?
        };
        assert_eq!(
            (outcome.reason, outcome.global_step),
            (StopReason::MaxSteps, stop)
        );
    }
    let fresh = !stops.is_empty();
    if fresh {
        model = Toy::new()?;
    }
    let opts = configure(options(dir));
    let outcome = if fresh {
        resume(&mut model, &last, &train, &valid, opts)?
    } else {
        fit(&mut model, &train, &valid, opts)?
    };
    assert_eq!(
        (outcome.reason, outcome.global_step),
        (StopReason::Completed, 24)
    );
    Ok(model)
}

#[test]
fn resume_is_bitwise_exact() -> TestResult {
    let every = |o: FitOptions| FitOptions {
        eval_every: Some(5),
        save_every: Some(7),
        keep_checkpoints: 2,
        ..o
    };
    let straight_dir = tempfile::tempdir()?;
    let straight = run_in_pieces(straight_dir.path(), &[], every)?;
    // Mid-epoch, at an epoch boundary, twice in one run.
    for stops in [vec![11], vec![8], vec![3, 17]] {
        let dir = tempfile::tempdir()?;
        let resumed = run_in_pieces(dir.path(), &stops, every)?;
        assert_eq!(
            bits(&straight)?,
            bits(&resumed)?,
            "weights differ for stops {stops:?}"
        );
        for file in ["metrics.jsonl", "history.json"] {
            assert_eq!(
                read(straight_dir.path().join(file))?,
                read(dir.path().join(file))?,
                "{file} differs for stops {stops:?}"
            );
        }
    }
    let mut kept: Vec<String> = std::fs::read_dir(straight_dir.path().join("checkpoints"))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    kept.sort();
    assert_eq!(
        kept,
        [
            "best.safetensors",
            "last.safetensors",
            "step-14.safetensors",
            "step-21.safetensors"
        ]
    );
    Ok(())
}

#[test]
fn ctrl_c_saves_last_and_resumes_exactly() -> TestResult {
    let (train, valid) = data();
    let straight_dir = tempfile::tempdir()?;
    let mut straight = Toy::new()?;
    fit(&mut straight, &train, &valid, options(straight_dir.path()))?;

    let dir = tempfile::tempdir()?;
    let flag = Arc::new(AtomicBool::new(false));
    let mut model = Toy::new()?;
    model.interrupt = Some((13, Arc::clone(&flag)));
    let outcome = fit(
        &mut model,
        &train,
        &valid,
        FitOptions {
            stop: flag,
            ..options(dir.path())
        },
    )?;
    assert_eq!(
        (outcome.reason, outcome.global_step),
        (StopReason::Interrupted, 13)
    );
    assert!(
        outcome.resume_hint().contains("--checkpoint"),
        "{}",
        outcome.resume_hint()
    );
    assert!(outcome.last_checkpoint.exists());

    let mut resumed = Toy::new()?;
    let outcome = resume(
        &mut resumed,
        &outcome.last_checkpoint,
        &train,
        &valid,
        options(dir.path()),
    )?;
    assert_eq!(
        (outcome.reason, outcome.global_step),
        (StopReason::Completed, 24)
    );
    assert_eq!(bits(&straight)?, bits(&resumed)?);
    assert_eq!(
        read(straight_dir.path().join("metrics.jsonl"))?,
        read(dir.path().join("metrics.jsonl"))?
    );
    Ok(())
}

#[test]
fn nonfinite_steps_are_skipped_without_touching_the_weights() -> TestResult {
    let (train, valid) = data();
    // Steps 3 and 4 have a NaN loss, step 6 an infinite gradient.
    let poisoned = || -> Result<Toy, Box<dyn std::error::Error>> {
        let mut m = Toy::new()?;
        m.nan_loss = HashSet::from([3, 4]);
        m.inf_grad = HashSet::from([6]);
        Ok(m)
    };
    let dir = tempfile::tempdir()?;
    let mut model = poisoned()?;
    let mut trainer = Trainer::new(&mut model, options(dir.path()))?;
    let outcome = trainer.fit(&train, &valid)?;
    assert_eq!(outcome.reason, StopReason::Completed);
    assert_eq!(trainer.nonfinite_steps(), 3);
    drop(trainer);
    assert!(all_finite(&model)?);
    let lines: Vec<serde_json::Value> = read(dir.path().join("metrics.jsonl"))?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let skipped: Vec<u64> = lines
        .iter()
        .filter(|l| l["skipped"] == true)
        .filter_map(|l| l["step"].as_u64())
        .collect();
    assert_eq!(skipped, [3, 4, 6]);
    assert!(lines[2]["loss"].is_null());
    assert!(lines[5]["loss"].as_f64().is_some() && lines[5]["grad_norm"].is_null());
    assert!(read(dir.path().join("training_log.txt"))?.contains("skip: step 3: non-finite loss"));

    // A skipped step leaves the weights exactly as they were (no decay, no moments).
    let clean_dir = tempfile::tempdir()?;
    let mut clean = Toy::new()?;
    fit(
        &mut clean,
        &train,
        &valid,
        FitOptions {
            max_steps: Some(2),
            ..options(clean_dir.path())
        },
    )?;
    let skip_dir = tempfile::tempdir()?;
    let mut skipping = poisoned()?;
    fit(
        &mut skipping,
        &train,
        &valid,
        FitOptions {
            max_steps: Some(4),
            ..options(skip_dir.path())
        },
    )?;
    let (mut a, mut b) = (bits(&clean)?, bits(&skipping)?);
    // The running-mean buffer saw the skipped batches; the weights did not.
    a.remove("buffer");
    b.remove("buffer");
    assert_eq!(a, b);
    Ok(())
}

#[test]
fn too_many_nonfinite_steps_in_a_row_is_an_error() -> TestResult {
    let (train, valid) = data();
    let dir = tempfile::tempdir()?;
    let mut model = Toy::new()?;
    model.nan_from = Some(5);
    let err = fit(
        &mut model,
        &train,
        &valid,
        FitOptions {
            max_nonfinite: 4,
            ..options(dir.path())
        },
    )
    .err()
    .ok_or("expected an error")?;
    let msg = one_line(&err);
    assert!(
        matches!(
            err,
            TrainError::NonFiniteSteps {
                count: 4,
                step: 8,
                last_good_step: 4
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("4 training steps in a row") && msg.contains("step 4"),
        "{msg}"
    );
    assert!(all_finite(&model)?);
    let log = read(dir.path().join("training_log.txt"))?;
    assert!(log.contains("error: 4 training steps in a row"), "{log}");
    Ok(())
}

#[test]
fn early_stopping_stops_and_keeps_the_best_epoch() -> TestResult {
    let (train, valid) = data();
    let dir = tempfile::tempdir()?;
    let mut model = Toy::new()?;
    // With a tiny lr the validation loss cannot improve by min_delta after the first epoch.
    let opts = FitOptions {
        epochs: 10,
        lr: 1e-7,
        patience: 2,
        ..options(dir.path())
    };
    let outcome = fit(&mut model, &train, &valid, opts)?;
    assert_eq!(outcome.reason, StopReason::EarlyStopped);
    assert_eq!((outcome.epochs_completed, outcome.global_step), (3, 24));
    let best = outcome.best_checkpoint.ok_or("no best checkpoint")?;
    let meta = infinito_checkpoint::read_metadata(&best)?.ok_or("no metadata")?;
    assert_eq!(meta["kind"], "best");
    assert_eq!(meta["trainer"]["global_step"], 8);
    assert_eq!(meta["config"], serde_json::json!({"toy": true}));
    assert!(read(dir.path().join("training_log.txt"))?.contains("early stop"));
    Ok(())
}

#[test]
fn bad_checkpoints_give_clear_errors() -> TestResult {
    let (train, valid) = data();
    let dir = tempfile::tempdir()?;
    let mut model = Toy::new()?;
    fit(
        &mut model,
        &train,
        &valid,
        FitOptions {
            epochs: 1,
            ..options(dir.path())
        },
    )?;
    let last = dir.path().join("checkpoints/last.safetensors");
    let bytes = std::fs::read(&last)?;

    let truncated = dir.path().join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2])?;
    let err = Trainer::resume(Toy::new()?, &truncated, options(dir.path()))
        .err()
        .ok_or("expected an error")?;
    let msg = one_line(&err);
    assert!(
        msg.contains("truncated.safetensors") && msg.contains("truncated"),
        "{msg}"
    );

    let plain = dir.path().join("plain.safetensors");
    infinito_checkpoint::save_tensors(&plain, &model.state()?, None)?;
    let msg = one_line(
        &Trainer::resume(Toy::new()?, &plain, options(dir.path()))
            .err()
            .ok_or("expected an error")?,
    );
    assert!(
        msg.contains("plain.safetensors") && msg.contains("no trainer metadata"),
        "{msg}"
    );

    let missing = dir.path().join("missing.safetensors");
    let msg = one_line(
        &Trainer::resume(Toy::new()?, &missing, options(dir.path()))
            .err()
            .ok_or("expected an error")?,
    );
    assert!(
        msg.contains("missing.safetensors") && msg.contains("not found"),
        "{msg}"
    );

    let other_batch = FitOptions {
        batch_size: 4,
        ..options(dir.path())
    };
    let msg = one_line(
        &Trainer::resume(Toy::new()?, &last, other_batch)
            .err()
            .ok_or("expected an error")?,
    );
    assert!(
        msg.contains("--batch-size 4 differs from the checkpoint's 8"),
        "{msg}"
    );

    let (_, valid2) = data();
    let fewer = LmWindows::new(tokens(32 * SEQ_LEN, 1), SEQ_LEN, 0)?;
    let err = resume(Toy::new()?, &last, &fewer, &valid2, options(dir.path()))
        .err()
        .ok_or("expected an error")?;
    assert!(one_line(&err).contains("32 windows"), "{err}");
    Ok(())
}

#[test]
fn a_new_run_does_not_mix_with_an_old_one() -> TestResult {
    let (train, valid) = data();
    let dir = tempfile::tempdir()?;
    fit(
        Toy::new()?,
        &train,
        &valid,
        FitOptions {
            epochs: 1,
            save_every: Some(3),
            ..options(dir.path())
        },
    )?;
    let msg = one_line(
        &Trainer::new(Toy::new()?, options(dir.path()))
            .err()
            .ok_or("expected an error")?,
    );
    assert!(
        msg.starts_with("--output") && msg.contains("--checkpoint") && msg.contains("--overwrite"),
        "{msg}"
    );

    let outcome = fit(
        Toy::new()?,
        &train,
        &valid,
        FitOptions {
            epochs: 1,
            overwrite: true,
            ..options(dir.path())
        },
    )?;
    assert_eq!(outcome.global_step, 8);
    assert!(!dir.path().join("checkpoints/step-6.safetensors").exists());
    let records = read(dir.path().join("metrics.jsonl"))?.lines().count();
    assert_eq!(records, 9, "old records were not dropped");
    Ok(())
}

#[test]
fn options_are_validated_with_the_flag_name() {
    let check = |opts: FitOptions, expected: &str| {
        let err = opts.validate().err().map(|e| one_line(&e));
        assert_eq!(err.as_deref(), Some(expected));
    };
    let base = FitOptions::default();
    check(
        FitOptions {
            batch_size: 0,
            ..base.clone()
        },
        "--batch-size 0: must be >= 1",
    );
    check(
        FitOptions {
            lr: -1.0,
            ..base.clone()
        },
        "--lr -1: must be a finite number > 0",
    );
    check(
        FitOptions {
            lr: f64::NAN,
            ..base.clone()
        },
        "--lr NaN: must be a finite number > 0",
    );
    check(
        FitOptions {
            epochs: 0,
            ..base.clone()
        },
        "--epochs 0: must be >= 1",
    );
    check(
        FitOptions {
            eval_every: Some(0),
            ..base.clone()
        },
        "--eval-every 0: must be >= 1",
    );
    check(
        FitOptions {
            max_nonfinite: 0,
            ..base.clone()
        },
        "--max-nonfinite 0: must be >= 1",
    );
    assert!(base.validate().is_ok());
}

/// Rewinding to a snapshot and training on the same batches reproduces the same weights, and
/// the optimizer's moments are rewound too (otherwise the second pass would differ).
#[test]
fn restore_rewinds_weights_optimizer_and_counters() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (train, _) = data();
    let mut trainer = Trainer::new(Toy::new()?, options(dir.path()))?;
    let batches: Vec<_> = Batches::new(
        &train,
        BATCH,
        Order::Sequential,
        BatchPosition::default(),
        &Device::Cpu,
    )?
    .take(6)
    .collect::<Result<_, _>>()?;
    for batch in &batches[..3] {
        trainer.train_step(batch)?;
    }
    let snapshot = trainer.snapshot()?;
    let at_snapshot = bits(trainer.model())?;
    for batch in &batches[3..] {
        trainer.train_step(batch)?;
    }
    let first = bits(trainer.model())?;
    assert_ne!(first, at_snapshot, "training must move the weights");
    trainer.restore(&snapshot)?;
    assert_eq!(bits(trainer.model())?, at_snapshot);
    assert_eq!(trainer.global_step(), 3);
    for batch in &batches[3..] {
        trainer.train_step(batch)?;
    }
    assert_eq!(bits(trainer.model())?, first);
    assert_eq!(trainer.global_step(), 6);
    Ok(())
}

/// `log_steps: false` keeps training steps out of `metrics.jsonl`.
#[test]
fn steps_are_not_logged_when_turned_off() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (train, _) = data();
    let opts = FitOptions {
        log_steps: false,
        ..options(dir.path())
    };
    let mut trainer = Trainer::new(Toy::new()?, opts)?;
    let batch = Batches::new(
        &train,
        BATCH,
        Order::Sequential,
        BatchPosition::default(),
        &Device::Cpu,
    )?
    .next()
    .expect("one batch")?;
    trainer.train_step(&batch)?;
    let metrics = std::fs::read_to_string(dir.path().join(METRICS_FILE)).unwrap_or_default();
    assert!(metrics.is_empty(), "unexpected records: {metrics}");
    Ok(())
}

/// With `tensorboard`, every `metrics.jsonl` number is also a TensorBoard scalar (`train/*` per
/// step, `val/*` per validation), and each epoch of `history.json` is `train/epoch_*` /
/// `val/epoch_*` at the epoch number.
#[test]
fn tensorboard_scalars_match_the_logs() -> TestResult {
    use infinito_train::tensorboard::{read_events, TENSORBOARD_DIR};
    let dir = tempfile::tempdir()?;
    let (train, valid) = data();
    let mut model = Toy::new()?;
    fit(
        &mut model,
        &train,
        &valid,
        FitOptions {
            epochs: 2,
            tensorboard: true,
            ..options(dir.path())
        },
    )?;
    let files: Vec<PathBuf> = std::fs::read_dir(dir.path().join(TENSORBOARD_DIR))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    assert_eq!(files.len(), 1);
    let mut series: BTreeMap<String, Vec<(i64, f32)>> = BTreeMap::new();
    for event in read_events(&files[0])? {
        for v in event.summary.map(|s| s.value).unwrap_or_default() {
            series
                .entry(v.tag)
                .or_default()
                .push((event.step, v.simple_value.ok_or("not a scalar")?));
        }
    }
    let lines: Vec<serde_json::Value> = read(dir.path().join(METRICS_FILE))?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    for (split, prefix) in [("train", "train"), ("valid", "val")] {
        let want: Vec<(i64, f32)> = lines
            .iter()
            .filter(|l| l["split"] == split)
            .map(|l| {
                (
                    l["step"].as_i64().unwrap(),
                    l["loss"].as_f64().unwrap() as f32,
                )
            })
            .collect();
        assert_eq!(series[&format!("{prefix}/loss")], want, "{prefix}/loss");
    }
    assert_eq!(series["train/loss"].len(), 16);
    assert!(series.contains_key("train/grad_norm") && series.contains_key("train/phi"));
    let history: serde_json::Value = serde_json::from_str(&read(dir.path().join("history.json"))?)?;
    for (tag, key) in [
        ("val/epoch_loss", "val_loss"),
        ("train/epoch_ppl", "train_ppl"),
    ] {
        let want: Vec<(i64, f32)> = history[key]
            .as_array()
            .ok_or("not an array")?
            .iter()
            .enumerate()
            .map(|(i, v)| (i as i64 + 1, v.as_f64().unwrap() as f32))
            .collect();
        assert_eq!(series[tag], want, "{tag}");
    }
    Ok(())
}
