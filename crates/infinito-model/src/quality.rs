//! Quality measures of generated continuations, over token ids: distinct-n, the repeated-n-gram
//! rate, mean PHI and perplexity. Each takes one or several continuations; n-grams never span two
//! continuations, and a value over several pools their n-grams (or tokens).

use std::collections::HashSet;

use serde::Serialize;

use crate::generate::Generation;
use crate::score;

/// The prompts of the generation-quality report: the user guide's three first.
pub const REPORT_PROMPTS: [&str; 6] = [
    "The nature of consciousness",
    "Artificial intelligence can",
    "In the beginning there was",
    "The history of artificial intelligence",
    "Scientists have discovered that",
    "Once upon a time",
];

/// The n-grams of one continuation, in order.
fn ngrams(tokens: &[u32], n: usize) -> impl Iterator<Item = &[u32]> {
    tokens.windows(n.max(1))
}

/// Distinct n-grams over all n-grams (`distinct-n`), or `None` when no continuation has `n`
/// tokens. Distinct n-grams are counted over the pooled continuations.
pub fn distinct_n(continuations: &[&[u32]], n: usize) -> Option<f64> {
    let mut seen = HashSet::new();
    let mut total = 0usize;
    for gram in continuations.iter().flat_map(|c| ngrams(c, n)) {
        seen.insert(gram);
        total += 1;
    }
    (total > 0).then(|| seen.len() as f64 / total as f64)
}

/// Fraction of n-grams that repeat an earlier n-gram of the same continuation, or `None` when no
/// continuation has `n` tokens.
pub fn repeated_ngram_rate(continuations: &[&[u32]], n: usize) -> Option<f64> {
    let (mut repeats, mut total) = (0usize, 0usize);
    for tokens in continuations {
        let mut seen = HashSet::new();
        for gram in ngrams(tokens, n) {
            if !seen.insert(gram) {
                repeats += 1;
            }
            total += 1;
        }
    }
    (total > 0).then(|| repeats as f64 / total as f64)
}

/// Mean of the values, or `None` when there are none.
pub fn mean(values: &[f32]) -> Option<f64> {
    (!values.is_empty())
        .then(|| values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64)
}

/// Perplexity `exp(-mean log p)` of the generated tokens' log-probabilities, or `None` when
/// there are none.
pub fn perplexity(logprobs: &[f32]) -> Option<f64> {
    (!logprobs.is_empty()).then(|| score::summarize(logprobs).1)
}

/// The quality measures of a set of continuations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quality {
    /// Number of continuations measured.
    pub continuations: usize,
    /// Generated tokens in all.
    pub tokens: usize,
    pub distinct_1: Option<f64>,
    pub distinct_2: Option<f64>,
    pub distinct_3: Option<f64>,
    /// The `n` of `repeated_ngram_rate`.
    pub repeat_n: usize,
    pub repeated_ngram_rate: Option<f64>,
    /// Mean per-step PHI over the continuations (hybrids only).
    pub mean_phi: Option<f64>,
    /// Perplexity of the generated tokens under the model.
    pub perplexity: Option<f64>,
}

impl Quality {
    /// Measures `continuations` together, with repeated `repeat_n`-grams; PHI is averaged over
    /// the traced steps (none: `None`).
    pub fn of(continuations: &[&Generation], repeat_n: usize) -> Self {
        let tokens: Vec<&[u32]> = continuations.iter().map(|c| c.tokens.as_slice()).collect();
        let logprobs: Vec<f32> = continuations
            .iter()
            .flat_map(|c| c.logprobs.iter().copied())
            .collect();
        let phi: Vec<f32> = continuations
            .iter()
            .flat_map(|c| c.phi.iter().copied())
            .collect();
        Self {
            continuations: continuations.len(),
            tokens: tokens.iter().map(|t| t.len()).sum(),
            distinct_1: distinct_n(&tokens, 1),
            distinct_2: distinct_n(&tokens, 2),
            distinct_3: distinct_n(&tokens, 3),
            repeat_n,
            repeated_ngram_rate: repeated_ngram_rate(&tokens, repeat_n),
            mean_phi: mean(&phi),
            perplexity: perplexity(&logprobs),
        }
    }
}

/// Width of the row-label column of [`table`].
const LABEL_WIDTH: usize = 40;

fn cell(v: Option<f64>, width: usize, precision: usize) -> String {
    match v {
        Some(v) => format!("{v:>width$.precision$}"),
        None => format!("{:>width$}", "-"),
    }
}

impl Quality {
    /// The measures as fixed-width table cells (`-` where undefined).
    fn cells(&self) -> String {
        format!(
            "{} {} {} {} {} {}",
            cell(self.distinct_1, 6, 3),
            cell(self.distinct_2, 6, 3),
            cell(self.distinct_3, 6, 3),
            cell(self.repeated_ngram_rate, 6, 3),
            cell(self.mean_phi, 6, 3),
            cell(self.perplexity, 9, 2)
        )
    }
}

/// A text table with one row per label and one group of columns per model (`columns` names
/// them), e.g. two checkpoints side by side: `rows[i].1[j]` is model `j`'s measures of row `i`.
pub fn table(columns: &[&str], rows: &[(&str, Vec<&Quality>)], repeat_n: usize) -> String {
    let header = format!(
        "{:>6} {:>6} {:>6} {:>6} {:>6} {:>9}",
        "dist-1",
        "dist-2",
        "dist-3",
        format!("rep-{repeat_n}"),
        "PHI",
        "PPL"
    );
    let names: Vec<String> = columns
        .iter()
        .map(|c| format!("{c:^width$}", width = header.len()))
        .collect();
    let mut out = format!("{:LABEL_WIDTH$} {}\n", "", names.join(" | "));
    let headers = vec![header.as_str(); columns.len()].join(" | ");
    out += &format!("{:LABEL_WIDTH$} {headers}\n", "prompt");
    for (label, measures) in rows {
        let cells: Vec<String> = measures.iter().map(|q| q.cells()).collect();
        out += &format!("{label:LABEL_WIDTH$} {}\n", cells.join(" | "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::StopReason;

    #[test]
    fn distinct_n_counts_unique_ngrams_over_all_ngrams() {
        // 1 2 1 2 3: unigrams {1,2,3} of 5; bigrams 12 21 12 23 -> 3 of 4; trigrams 121 212 123 -> 3 of 3.
        let t: &[u32] = &[1, 2, 1, 2, 3];
        assert_eq!(distinct_n(&[t], 1), Some(3.0 / 5.0));
        assert_eq!(distinct_n(&[t], 2), Some(3.0 / 4.0));
        assert_eq!(distinct_n(&[t], 3), Some(1.0));
        assert_eq!(distinct_n(&[&[7, 7, 7, 7]], 1), Some(0.25));
        assert_eq!(distinct_n(&[&[1, 2]], 3), None);
    }

    #[test]
    fn distinct_n_pools_continuations_without_crossing_them() {
        // bigrams: [1 2], [2 1] | [1 2] -> 2 distinct of 3; "2 | 1" across the boundary is not one.
        assert_eq!(distinct_n(&[&[1, 2, 1], &[1, 2]], 2), Some(2.0 / 3.0));
    }

    #[test]
    fn repeated_rate_counts_ngrams_seen_earlier_in_the_same_continuation() {
        // trigrams of 5 6 7 5 6 7 5: 567 675 756 567* 675* -> 2 repeats of 5.
        assert_eq!(
            repeated_ngram_rate(&[&[5, 6, 7, 5, 6, 7, 5]], 3),
            Some(2.0 / 5.0)
        );
        // 9 9 9 9: bigrams 99 99* 99* -> 2 of 3.
        assert_eq!(repeated_ngram_rate(&[&[9, 9, 9, 9]], 2), Some(2.0 / 3.0));
        // The same trigram in two continuations is not a repeat: 0 of 2.
        assert_eq!(repeated_ngram_rate(&[&[1, 2, 3], &[1, 2, 3]], 3), Some(0.0));
        assert_eq!(repeated_ngram_rate(&[&[1, 2]], 3), None);
    }

    #[test]
    fn perplexity_is_exp_of_mean_negative_logprob() {
        let lp = [(0.5f32).ln(), (0.125f32).ln()];
        // mean NLL = (ln 2 + ln 8) / 2 = ln 4
        assert!((perplexity(&lp).unwrap() - 4.0).abs() < 1e-6);
        assert_eq!(perplexity(&[]), None);
    }

    fn generation(tokens: &[u32], logprobs: &[f32], phi: &[f32]) -> Generation {
        Generation {
            tokens: tokens.to_vec(),
            logprobs: logprobs.to_vec(),
            phi: phi.to_vec(),
            stop: StopReason::Length,
            prefill_seconds: 0.0,
            decode_seconds: 0.0,
        }
    }

    #[test]
    fn quality_pools_tokens_logprobs_and_phi() {
        let a = generation(&[1, 2, 1, 2], &[0.5f32.ln(), 0.5f32.ln()], &[3.0, 5.0]);
        let b = generation(&[3, 3], &[0.125f32.ln(), 0.125f32.ln()], &[7.0]);
        let q = Quality::of(&[&a, &b], 2);
        assert_eq!(q.continuations, 2);
        assert_eq!(q.tokens, 6);
        assert_eq!(q.distinct_1, Some(3.0 / 6.0));
        // bigrams 12 21 12 | 33 -> distinct 3 of 4; repeats: 12 once -> 1 of 4
        assert_eq!(q.distinct_2, Some(3.0 / 4.0));
        assert_eq!(q.repeated_ngram_rate, Some(1.0 / 4.0));
        assert_eq!(q.mean_phi, Some(5.0));
        assert!((q.perplexity.unwrap() - 4.0).abs() < 1e-5);
        assert_eq!(Quality::of(&[&a], 2).mean_phi, Some(4.0));
    }

    #[test]
    fn table_has_a_row_per_label_with_dashes_for_missing_values() {
        let a = generation(&[1, 2, 1, 2], &[0.25f32.ln()], &[]);
        let q = Quality::of(&[&a], 2);
        let text = table(&["A", "B"], &[("first", vec![&q, &q])], 2);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].contains("rep-2"));
        let cells: Vec<&str> = lines[2]["first".len()..].split_whitespace().collect();
        // distinct-1 2/4, distinct-2 2/3, distinct-3 2/2, repeats 1/3, no PHI, perplexity 4
        let one = ["0.500", "0.667", "1.000", "0.333", "-", "4.00"];
        assert_eq!(cells, [&one[..], &["|"], &one[..]].concat());
    }
}
