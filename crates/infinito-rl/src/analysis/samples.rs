//! The quality of the text samples a run wrote (`samples.jsonl`) over time.

use std::fmt::Write;

use serde::Serialize;

use crate::session::files::SampleLine;

/// The quality of one sample set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SamplePoint {
    /// Step counter of the samples.
    pub timestep: u64,
    /// Distinct bigrams over all bigrams of the continuations.
    pub distinct_2: Option<f64>,
    /// Repeated 3-gram rate of the continuations.
    pub repeated_3gram_rate: Option<f64>,
    /// Perplexity of the continuations under the model.
    pub perplexity: Option<f64>,
    /// Mean PHI of the sampled texts.
    pub phi: f64,
}

impl SamplePoint {
    /// The quality of every record, in order.
    pub fn all(lines: &[SampleLine]) -> Vec<Self> {
        lines
            .iter()
            .map(|l| {
                let q = |key: &str| l.quality.get(key).and_then(|v| v.as_f64());
                let phis: Vec<f64> = l.samples.iter().map(|s| s.phi).collect();
                Self {
                    timestep: l.timestep,
                    distinct_2: q("distinct_2"),
                    repeated_3gram_rate: q("repeated_ngram_rate"),
                    perplexity: q("perplexity"),
                    phi: crate::session::files::mean(&phis),
                }
            })
            .collect()
    }
}

/// One line per sample set: its step, distinct-2, repeated 3-grams, perplexity and PHI.
pub fn render_samples(points: &[SamplePoint], out: &mut String) {
    let _ = writeln!(out, "\n== samples (samples.jsonl) ==");
    if points.is_empty() {
        let _ = writeln!(out, "none (run with --sample-every N)");
        return;
    }
    let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    let _ = writeln!(
        out,
        "{:>10}  {:>8}  {:>8}  {:>9}  {:>6}",
        "step", "dist-2", "rep-3", "ppl", "PHI"
    );
    for p in points {
        let _ = writeln!(
            out,
            "{:>10}  {:>8}  {:>8}  {:>9}  {:>6.3}",
            p.timestep,
            cell(p.distinct_2),
            cell(p.repeated_3gram_rate),
            cell(p.perplexity),
            p.phi
        );
    }
}
