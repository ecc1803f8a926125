//! The minimum information bipartition (MIB): the bipartition across which a measure is
//! smallest, by exhaustive enumeration or by Queyranne's algorithm.

use rayon::prelude::*;

use super::covariance::{range, LaggedCovariance, Scratch, LN_2PI_E};
use super::measures::Measure;
use super::partition::Partition;
use super::queyranne::queyranne;
use crate::error::{PhiError, Result};

/// Largest system [`Search::Auto`] searches exhaustively.
pub const AUTO_EXHAUSTIVE_MAX: usize = 16;
/// Largest system the exhaustive search accepts (`2^19 - 1` bipartitions).
pub const EXHAUSTIVE_MAX: usize = 20;
/// Bipartitions per parallel work item.
const CHUNK: u64 = 256;

/// How the MIB is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Search {
    /// Every one of the `2^(n-1) - 1` bipartitions (`n <= 20`), in parallel.
    Exhaustive,
    /// Queyranne's algorithm, `O(n^3)` evaluations: exact for symmetric submodular measures
    /// ([`Measure::PartsMutualInformation`]), a heuristic otherwise.
    Queyranne,
    /// Exhaustive up to [`AUTO_EXHAUSTIVE_MAX`] channels, Queyranne beyond.
    #[default]
    Auto,
}

impl Search {
    /// The method `Auto` resolves to for `n` channels (the others resolve to themselves).
    pub fn resolve(self, channels: usize) -> Search {
        match self {
            Search::Auto if channels <= AUTO_EXHAUSTIVE_MAX => Search::Exhaustive,
            Search::Auto => Search::Queyranne,
            other => other,
        }
    }

    /// The name used in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Search::Exhaustive => "exhaustive",
            Search::Queyranne => "queyranne",
            Search::Auto => "auto",
        }
    }
}

/// Options of [`minimum_information_bipartition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchOptions {
    /// The measure minimised.
    pub measure: Measure,
    /// The search method.
    pub search: Search,
    /// Minimise `value / min(H(M_1,t), H(M_2,t))` (Balduzzi & Tononi 2008; Barrett & Seth 2011)
    /// instead of the value. Exhaustive search only; every part entropy must be positive.
    pub normalise: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            measure: Measure::PhiSi,
            search: Search::Auto,
            normalise: false,
        }
    }
}

/// A minimum information bipartition.
#[derive(Debug, Clone, PartialEq)]
pub struct Mib {
    /// The two parts.
    pub partition: Partition,
    /// The measure across it, in nats.
    pub value: f64,
    /// `value / min part entropy`, when the search was normalised.
    pub normalised: Option<f64>,
    /// The method that found it (never `Auto`).
    pub search: Search,
}

/// The bipartition of the channels of `covariance` that minimises `options.measure` (or its
/// normalised form). Ties go to the bipartition found first.
pub fn minimum_information_bipartition(
    covariance: &LaggedCovariance,
    options: &SearchOptions,
) -> Result<Mib> {
    let n = covariance.channels();
    if n < 2 {
        return Err(PhiError::Config(format!(
            "{n} channel(s): a bipartition needs at least 2"
        )));
    }
    match options.search.resolve(n) {
        Search::Queyranne if options.normalise => Err(PhiError::Config(
            "the normalised MIB needs the exhaustive search (normalisation breaks submodularity)"
                .to_string(),
        )),
        Search::Queyranne => queyranne(covariance, options.measure),
        _ => exhaustive(covariance, options.measure, options.normalise),
    }
}

/// The best bipartition found so far: (criterion, value, mask).
type Best = Option<(f64, f64, u64)>;

fn better(a: Best, b: Best) -> Best {
    match (a, b) {
        (Some(x), Some(y)) => Some(if (y.0, y.2) < (x.0, x.2) { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Every bipartition `{S, rest}` with `S` a non-empty subset of the first `n - 1` channels (the
/// last channel is always in `rest`, so each bipartition is counted once).
fn exhaustive(covariance: &LaggedCovariance, measure: Measure, normalise: bool) -> Result<Mib> {
    let n = covariance.channels();
    if n > EXHAUSTIVE_MAX {
        return Err(PhiError::Config(format!(
            "{n} channels: the exhaustive search takes at most {EXHAUSTIVE_MAX} (use Queyranne's)"
        )));
    }
    let whole = covariance.log_dets(&range(0, n), &mut Scratch::default())?;
    let count = 1u64 << (n - 1);
    let chunks = count.div_ceil(CHUNK);
    let best = (0..chunks)
        .into_par_iter()
        .map(|chunk| {
            let mut scratch = Scratch::default();
            let (mut part, mut rest) = (Vec::with_capacity(n), Vec::with_capacity(n));
            let mut best: Best = None;
            for mask in (chunk * CHUNK).max(1)..((chunk + 1) * CHUNK).min(count) {
                part.clear();
                rest.clear();
                for c in 0..n {
                    if mask >> c & 1 == 1 {
                        part.push(c);
                    } else {
                        rest.push(c);
                    }
                }
                let dets = [
                    covariance.log_dets(&part, &mut scratch)?,
                    covariance.log_dets(&rest, &mut scratch)?,
                ];
                let value = measure.combine(&dets, &whole);
                let criterion = if normalise {
                    let entropy = |p: &[usize], present: f64| {
                        0.5 * (p.len() as f64 * LN_2PI_E + present)
                    };
                    let h = entropy(&part, dets[0].present).min(entropy(&rest, dets[1].present));
                    if h <= 0.0 {
                        return Err(PhiError::Input(format!(
                            "normalised MIB: a part of bipartition {part:?} | {rest:?} has entropy {h:.4} nats <= 0 (the normalisation needs positive entropies: standardise the channels or search unnormalised)"
                        )));
                    }
                    value / h
                } else {
                    value
                };
                best = better(best, Some((criterion, value, mask)));
            }
            Ok(best)
        })
        .try_reduce(|| None, |a, b| Ok(better(a, b)))?;
    let (criterion, value, mask) = best.expect("n >= 2 gives at least one bipartition");
    Ok(Mib {
        partition: Partition::from_mask(n, mask),
        value,
        normalised: normalise.then_some(criterion),
        search: Search::Exhaustive,
    })
}
