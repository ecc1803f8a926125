//! AdamW, clipping and the LR/stopping schedules against PyTorch reference numbers.
//!
//! The fixture comes from `tools/refgen/optim_ref.py`.

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use infinito_testutil::max_abs_diff;
use infinito_train::{
    clip_grad_norm, AdamW, AdamWConfig, AdamWState, EarlyStopping, PlateauConfig,
    ReduceLrOnPlateau, TrainError,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/optim_ref.safetensors"
);

#[derive(Deserialize)]
struct AdamWRef {
    lr: f64,
    betas: [f64; 2],
    weight_decay: f64,
    eps: f64,
    max_norm: f64,
    names: Vec<String>,
    lrs: Vec<f64>,
    norms: Vec<f64>,
    steps: HashMap<String, u64>,
}

#[derive(Deserialize)]
struct PlateauRef {
    config: PlateauConfig,
    initial_lr: f64,
    metrics: Vec<f64>,
    lrs: Vec<f64>,
}

#[derive(Deserialize)]
struct Reference {
    adamw: AdamWRef,
    plateau: Vec<PlateauRef>,
}

struct Fixture {
    tensors: HashMap<String, Tensor>,
    reference: Reference,
}

fn fixture() -> Result<Fixture, Box<dyn std::error::Error>> {
    let path = Path::new(FIXTURE);
    let tensors = infinito_checkpoint::load_tensors(path, None, &Device::Cpu)?;
    let meta = infinito_checkpoint::read_metadata(path)?.ok_or("fixture has no metadata")?;
    Ok(Fixture {
        tensors,
        reference: serde_json::from_value(meta)?,
    })
}

impl Fixture {
    fn tensor(&self, key: &str) -> Result<&Tensor, Box<dyn std::error::Error>> {
        self.tensors
            .get(key)
            .ok_or_else(|| format!("fixture lacks {key}").into())
    }

    fn config(&self) -> AdamWConfig {
        let r = &self.reference.adamw;
        AdamWConfig {
            lr: r.lr,
            beta1: r.betas[0],
            beta2: r.betas[1],
            eps: r.eps,
            weight_decay: r.weight_decay,
        }
    }

    fn initial_params(&self) -> Result<Vec<(String, Var)>, Box<dyn std::error::Error>> {
        self.reference
            .adamw
            .names
            .iter()
            .map(|n| {
                Ok((
                    n.clone(),
                    Var::from_tensor(self.tensor(&format!("init.{n}"))?)?,
                ))
            })
            .collect()
    }

    /// The reference gradients of `step`, for the parameters that have one.
    fn grads(
        &self,
        step: usize,
        params: &[(String, Var)],
    ) -> Result<GradStore, Box<dyn std::error::Error>> {
        let pairs: Vec<(&Var, &Tensor)> = params
            .iter()
            .filter_map(|(n, v)| {
                self.tensors
                    .get(&format!("grad.{step}.{n}"))
                    .map(|g| (v, g))
            })
            .collect();
        grads_of(&pairs)
    }

    /// Runs reference steps `range` with clipping; returns the pre-clip norms.
    fn run_steps(
        &self,
        opt: &mut AdamW,
        range: std::ops::Range<usize>,
    ) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
        let mut norms = Vec::new();
        for step in range {
            opt.set_learning_rate(self.reference.adamw.lrs[step])?;
            let mut grads = self.grads(step, opt.params())?;
            norms.push(clip_grad_norm(
                &mut grads,
                opt.params(),
                self.reference.adamw.max_norm,
            )?);
            opt.step(&grads)?;
        }
        Ok(norms)
    }
}

/// A gradient store holding exactly `grad` for each `var`: the gradient of sum(var * grad).
fn grads_of(pairs: &[(&Var, &Tensor)]) -> Result<GradStore, Box<dyn std::error::Error>> {
    let mut loss: Option<Tensor> = None;
    for (var, grad) in pairs {
        let term = var.as_tensor().mul(grad)?.sum_all()?;
        loss = Some(match loss {
            Some(l) => (l + term)?,
            None => term,
        });
    }
    Ok(loss.ok_or("no gradients")?.backward()?)
}

fn bits(t: &Tensor) -> Result<Vec<u32>, Box<dyn std::error::Error>> {
    Ok(t.flatten_all()?
        .to_vec1::<f32>()?
        .iter()
        .map(|x| x.to_bits())
        .collect())
}

#[test]
fn adamw_with_clipping_matches_torch() -> TestResult {
    let fx = fixture()?;
    let mut opt = AdamW::new(fx.initial_params()?, fx.config())?;
    let norms = fx.run_steps(&mut opt, 0..fx.reference.adamw.lrs.len())?;
    for (step, (ours, torch)) in norms.iter().zip(&fx.reference.adamw.norms).enumerate() {
        assert!(
            (ours - torch).abs() <= 1e-6 * torch.max(1.0),
            "step {step}: norm {ours} vs torch {torch}"
        );
    }
    assert!(norms.iter().any(|n| *n > 1.0) && norms.iter().any(|n| *n < 1.0));
    let state = opt.export_state()?;
    let mut worst: f64 = 0.0;
    for (name, var) in opt.params() {
        let diffs = [
            max_abs_diff(var.as_tensor(), fx.tensor(&format!("final.{name}"))?),
            max_abs_diff(
                &state.tensors[&format!("exp_avg.{name}")],
                fx.tensor(&format!("exp_avg.{name}"))?,
            ),
            max_abs_diff(
                &state.tensors[&format!("exp_avg_sq.{name}")],
                fx.tensor(&format!("exp_avg_sq.{name}"))?,
            ),
        ];
        println!("{name}: max |diff| param/exp_avg/exp_avg_sq = {diffs:?}");
        worst = diffs.iter().fold(worst, |w, d| w.max(f64::from(*d)));
        assert_eq!(
            opt.step_count(name),
            fx.reference.adamw.steps[name],
            "{name}"
        );
    }
    assert!(worst <= 1e-6, "max diff vs torch {worst}");
    Ok(())
}

#[test]
fn export_and_restore_resumes_bitwise() -> TestResult {
    let fx = fixture()?;
    let total = fx.reference.adamw.lrs.len();
    let mut straight = AdamW::new(fx.initial_params()?, fx.config())?;
    fx.run_steps(&mut straight, 0..total)?;

    // The first half, then the state goes through a file into fresh variables and optimizer.
    let split = 3;
    let mut first = AdamW::new(fx.initial_params()?, fx.config())?;
    fx.run_steps(&mut first, 0..split)?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("optim.safetensors");
    let state = first.export_state()?;
    infinito_checkpoint::save_tensors(&file, &state.tensors, Some(&state.meta))?;
    let loaded = AdamWState {
        tensors: infinito_checkpoint::load_tensors(&file, None, &Device::Cpu)?,
        meta: infinito_checkpoint::read_metadata(&file)?.ok_or("no metadata")?,
    };
    let params = first
        .params()
        .iter()
        .map(|(n, v)| Ok((n.clone(), Var::from_tensor(&v.as_tensor().copy()?)?)))
        .collect::<Result<Vec<_>, candle_core::Error>>()?;
    let mut resumed = AdamW::new(params, AdamWConfig::default())?;
    resumed.restore_state(&loaded)?;
    assert_eq!(resumed.config(), first.config());
    fx.run_steps(&mut resumed, split..total)?;

    for ((name, a), (_, b)) in straight.params().iter().zip(resumed.params()) {
        assert_eq!(bits(a.as_tensor())?, bits(b.as_tensor())?, "{name}");
        assert_eq!(straight.step_count(name), resumed.step_count(name));
    }
    Ok(())
}

#[test]
fn restore_rejects_state_of_another_model() -> TestResult {
    let fx = fixture()?;
    let mut opt = AdamW::new(fx.initial_params()?, fx.config())?;
    fx.run_steps(&mut opt, 0..1)?;
    let state = opt.export_state()?;

    let renamed = vec![(
        "other".to_string(),
        Var::zeros(4, DType::F32, &Device::Cpu)?,
    )];
    let err = AdamW::new(renamed, fx.config())?.restore_state(&state);
    assert!(
        matches!(err, Err(TrainError::StateMismatch { .. })),
        "{err:?}"
    );

    let reshaped = fx
        .reference
        .adamw
        .names
        .iter()
        .map(|n| Ok((n.clone(), Var::zeros(7, DType::F32, &Device::Cpu)?)))
        .collect::<Result<Vec<_>, candle_core::Error>>()?;
    let err = AdamW::new(reshaped, fx.config())?
        .restore_state(&state)
        .err()
        .ok_or("shape mismatch accepted")?;
    let msg = err.to_string();
    assert!(msg.contains("shape") && !msg.contains('\n'), "{msg}");

    let dup = vec![
        ("a".to_string(), Var::zeros(1, DType::F32, &Device::Cpu)?),
        ("a".to_string(), Var::zeros(1, DType::F32, &Device::Cpu)?),
    ];
    assert!(AdamW::new(dup, fx.config()).is_err());
    // A gradient of the wrong shape is refused before any parameter changes.
    let before: Vec<Vec<u32>> = opt
        .params()
        .iter()
        .map(|(_, v)| bits(v.as_tensor()))
        .collect::<Result<_, _>>()?;
    let mut grads = fx.grads(0, opt.params())?;
    let last = &opt.params()[2].1;
    grads.insert(
        last.as_tensor(),
        Tensor::zeros(5, DType::F32, &Device::Cpu)?,
    );
    let err = opt.step(&grads).err().ok_or("bad gradient accepted")?;
    assert!(err.to_string().contains("head.w"), "{err}");
    for ((_, v), b) in opt.params().iter().zip(&before) {
        assert_eq!(&bits(v.as_tensor())?, b);
    }

    assert!(opt.set_learning_rate(-1.0).is_err());
    assert!(opt.set_learning_rate(f64::NAN).is_err());
    Ok(())
}

#[test]
fn clip_leaves_small_gradients_and_reports_non_finite_norms() -> TestResult {
    let var = Var::from_slice(&[1f32, 2.0, 3.0], 3, &Device::Cpu)?;
    let params = vec![("w".to_string(), var.clone())];

    let small = Tensor::new(&[0.3f32, 0.0, -0.4], &Device::Cpu)?;
    let mut grads = grads_of(&[(&var, &small)])?;
    let norm = clip_grad_norm(&mut grads, &params, 1.0)?;
    assert!((norm - 0.5).abs() < 1e-7);
    let after = grads.get(var.as_tensor()).ok_or("grad gone")?;
    assert_eq!(bits(after)?, bits(&small)?);

    let large = Tensor::new(&[3f32, 0.0, -4.0], &Device::Cpu)?;
    let mut grads = grads_of(&[(&var, &large)])?;
    assert!((clip_grad_norm(&mut grads, &params, 1.0)? - 5.0).abs() < 1e-6);
    let clipped = grads
        .get(var.as_tensor())
        .ok_or("grad gone")?
        .to_vec1::<f32>()?;
    assert!((clipped[0] - 0.6).abs() < 1e-6 && (clipped[2] + 0.8).abs() < 1e-6);

    let bad = Tensor::new(&[f32::NAN, 1.0, 1.0], &Device::Cpu)?;
    let mut grads = grads_of(&[(&var, &bad)])?;
    let err = clip_grad_norm(&mut grads, &params, 1.0);
    assert!(
        matches!(err, Err(TrainError::NonFiniteGradNorm { .. })),
        "{err:?}"
    );
    let kept = grads.get(var.as_tensor()).ok_or("grad gone")?;
    assert_eq!(bits(kept)?, bits(&bad)?);

    let inf = Tensor::new(&[f32::INFINITY, 1.0, 1.0], &Device::Cpu)?;
    let mut grads = grads_of(&[(&var, &inf)])?;
    assert!(clip_grad_norm(&mut grads, &params, 1.0).is_err());
    assert!(clip_grad_norm(&mut grads, &params, 0.0).is_err());
    Ok(())
}

#[test]
fn plateau_matches_torch() -> TestResult {
    let fx = fixture()?;
    for case in &fx.reference.plateau {
        let mut sched = ReduceLrOnPlateau::new(case.config)?;
        let mut lr = case.initial_lr;
        for (epoch, (metric, want)) in case.metrics.iter().zip(&case.lrs).enumerate() {
            lr = sched.step(*metric, lr);
            assert!(
                (lr - want).abs() <= 1e-15,
                "{:?} epoch {epoch}: lr {lr} vs torch {want}",
                case.config
            );
        }
    }
    Ok(())
}

#[test]
fn plateau_state_round_trips_mid_run() -> TestResult {
    let fx = fixture()?;
    let case = &fx.reference.plateau[0];
    let mut sched = ReduceLrOnPlateau::new(case.config)?;
    let mut lr = case.initial_lr;
    for metric in &case.metrics[..5] {
        lr = sched.step(*metric, lr);
    }
    let json = serde_json::to_string(&sched)?;
    let mut restored: ReduceLrOnPlateau = serde_json::from_str(&json)?;
    assert_eq!(restored, sched);
    let mut lr2 = lr;
    for metric in &case.metrics[5..] {
        lr = sched.step(*metric, lr);
        lr2 = restored.step(*metric, lr2);
        assert_eq!(lr.to_bits(), lr2.to_bits());
    }
    let bad = PlateauConfig {
        factor: 1.0,
        ..PlateauConfig::default()
    };
    assert!(ReduceLrOnPlateau::new(bad).is_err());
    Ok(())
}

#[test]
fn early_stopping_shares_its_criterion_with_best() -> TestResult {
    let mut stop = EarlyStopping::new(2, 0.01)?;
    // (value, improved, stop)
    let table = [
        (5.0, true, false),
        (4.995, false, false), // better, but not by min_delta: neither best nor reset
        (4.98, true, false),
        (f64::NAN, false, false),
        (4.975, false, true),
    ];
    for (value, improved, should_stop) in table {
        let check = stop.update(value);
        assert_eq!(
            (check.improved, check.stop),
            (improved, should_stop),
            "{value}"
        );
    }
    assert_eq!(stop.best(), Some(4.98));

    let mut a = EarlyStopping::new(3, 0.0)?;
    a.update(2.0);
    a.update(2.5);
    let mut b: EarlyStopping = serde_json::from_str(&serde_json::to_string(&a)?)?;
    assert_eq!(a, b);
    for v in [1.9, 1.95, 1.96, 1.97] {
        assert_eq!(a.update(v), b.update(v));
    }
    assert_eq!(b.counter(), 3);
    assert!(EarlyStopping::new(1, -0.1).is_err());
    Ok(())
}
