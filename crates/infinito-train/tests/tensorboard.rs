//! TensorBoard event files against TensorBoard's own reader.
//!
//! `tools/refgen/tensorboard_ref.py` runs `written_events_read_by_tensorboard` with
//! `INFINITO_TB_OUT` set, reads the file it writes there with tensorboard's
//! `EventAccumulator`, and saves what that reader saw as `tests/fixtures/tensorboard_ref.json`.

use std::collections::BTreeMap;
use std::path::Path;

use infinito_train::tensorboard::{read_events, EventWriter};

/// The scalars of the reference file: (step, [(tag, value)]).
fn reference_scalars() -> Vec<(u64, Vec<(&'static str, f64)>)> {
    vec![
        (0, vec![("train/loss", 2.5), ("train/learning_rate", 3e-4)]),
        (
            1,
            vec![("train/loss", 2.25), ("rollout/ep_rew_mean", -1.0e-3)],
        ),
        (7, vec![("train/loss", f64::NAN), ("val/ppl", 123456.75)]),
        (
            4_294_967_296,
            vec![("infinito/action_share/TEXT", 0.3333333333333333)],
        ),
        (2048, vec![("time/fps", 17.0), ("val/ppl", -0.0)]),
    ]
}

/// (tag → [(step, value)]) of what the Rust reader finds in `path`.
fn read_back(path: &Path) -> BTreeMap<String, Vec<(i64, f32)>> {
    let events = read_events(path).expect("readable events");
    assert_eq!(events[0].file_version.as_deref(), Some("brain.Event:2"));
    let mut series: BTreeMap<String, Vec<(i64, f32)>> = BTreeMap::new();
    for event in &events[1..] {
        assert!(event.wall_time > 1.0e9, "wall time {}", event.wall_time);
        for value in &event.summary.as_ref().expect("a summary").value {
            let v = value.simple_value.expect("a scalar");
            series
                .entry(value.tag.clone())
                .or_default()
                .push((event.step, v));
        }
    }
    series
}

#[test]
fn written_events_read_by_tensorboard() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::env::var_os("INFINITO_TB_OUT");
    let target = out.as_deref().map_or(dir.path(), Path::new);
    let mut writer = EventWriter::create(target).unwrap();
    for (step, values) in reference_scalars() {
        writer.scalars(step, values).unwrap();
    }
    writer.flush().unwrap();
    let ours = read_back(writer.path());

    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tensorboard_ref.json");
    let text = std::fs::read_to_string(&fixture).expect("the committed fixture");
    let reference: BTreeMap<String, Vec<(i64, f64)>> = serde_json::from_str(&text).unwrap();
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        reference.keys().collect::<Vec<_>>()
    );
    for (tag, points) in &reference {
        let got = &ours[tag];
        assert_eq!(got.len(), points.len(), "{tag}");
        for ((s, v), (rs, rv)) in got.iter().zip(points) {
            assert_eq!(s, rs, "{tag}");
            assert_eq!(*v, *rv as f32, "{tag} at step {s}");
        }
    }
    // The NaN was left out rather than written.
    assert_eq!(ours["train/loss"].len(), 2);
}
