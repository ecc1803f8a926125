//! Queyranne's algorithm (1998) for the bipartition minimising a symmetric set function `f`:
//! `n - 1` rounds, each ordering the current elements greedily (next is the `u` minimising
//! `f(W + u) - f(u)`), taking the last element `u` as a candidate `{u}` and merging it with the
//! element before it. Exact when `f` is submodular; `O(n^3)` evaluations of `f`.
//!
//! The evaluations are incremental: while `W` grows, each remaining element keeps the Schur
//! complement of its covariance block given `W`, updated with one block solve per step, so
//! `ln det Cov(W + u)` costs one small factorisation. The complement's determinant comes from
//! the inverse matrix (`det M_{V-A} = det M * det (M^-1)_{AA}`), tracked the same way.

use super::covariance::{singular, LaggedCovariance, LogDets};
use super::linalg::{cholesky_in_place, Cholesky, Matrix};
use super::measures::Measure;
use super::partition::Partition;
use super::search::{Mib, Search};
use crate::error::Result;

/// `ln det` of the blocks `M_{W+u}` of one matrix, for a growing set `W` of blocks.
struct GrowingSchur {
    matrix: Matrix,
    /// The matrix indices of each element.
    blocks: Vec<Vec<usize>>,
    /// Joint index of matrix index 0 (to name a failing variable): 0 or `n`.
    offset: usize,
    channels: usize,
    in_w: Vec<bool>,
    log_det_w: f64,
    /// Per element: `L_W^-1 M_{W,u}` (rows: the dimensions of `W`, in order of addition).
    solved: Vec<Vec<f64>>,
    /// Per element: `M_uu - solved^T solved`, its Cholesky factor and log-determinant.
    schur: Vec<Matrix>,
    factor: Vec<Vec<f64>>,
    schur_log_det: Vec<f64>,
}

impl GrowingSchur {
    fn new(
        matrix: Matrix,
        blocks: Vec<Vec<usize>>,
        offset: usize,
        channels: usize,
    ) -> Result<Self> {
        let k = blocks.len();
        let mut s = Self {
            schur: blocks.iter().map(|b| matrix.select(b, b)).collect(),
            solved: vec![Vec::new(); k],
            factor: vec![Vec::new(); k],
            schur_log_det: vec![0.0; k],
            in_w: vec![false; k],
            log_det_w: 0.0,
            matrix,
            blocks,
            offset,
            channels,
        };
        for u in 0..k {
            s.refactor(u)?;
        }
        Ok(s)
    }

    fn refactor(&mut self, u: usize) -> Result<()> {
        let d = self.blocks[u].len();
        self.factor[u].clear();
        self.factor[u].extend_from_slice(self.schur[u].as_slice());
        self.schur_log_det[u] = cholesky_in_place(&mut self.factor[u], d)
            .map_err(|e| singular(self.channels, self.offset + self.blocks[u][e.index]))?;
        Ok(())
    }

    /// `ln det M_{W+u}`.
    fn log_det_with(&self, u: usize) -> f64 {
        self.log_det_w + self.schur_log_det[u]
    }

    /// Adds element `b` to `W` and updates every element outside it.
    fn add(&mut self, b: usize) -> Result<()> {
        self.log_det_w += self.schur_log_det[b];
        self.in_w[b] = true;
        let db = self.blocks[b].len();
        let rows_w = self.solved[b].len() / db;
        let factor_b = self.factor[b].clone();
        let solved_b = self.solved[b].clone();
        for u in 0..self.blocks.len() {
            if self.in_w[u] {
                continue;
            }
            let du = self.blocks[u].len();
            // g = M_bu - solved_b^T solved_u, then L_bb^-1 g by forward substitution.
            let mut g = self.matrix.select(&self.blocks[b], &self.blocks[u]);
            for r in 0..rows_w {
                let yb = &solved_b[r * db..(r + 1) * db];
                let yu = &self.solved[u][r * du..(r + 1) * du];
                for (i, &x) in yb.iter().enumerate() {
                    for (j, &y) in yu.iter().enumerate() {
                        g[(i, j)] -= x * y;
                    }
                }
            }
            for i in 0..db {
                for j in 0..du {
                    let mut s = g[(i, j)];
                    for k in 0..i {
                        s -= factor_b[i * db + k] * g[(k, j)];
                    }
                    g[(i, j)] = s / factor_b[i * db + i];
                }
            }
            let schur = &mut self.schur[u];
            for i in 0..du {
                for j in 0..du {
                    schur[(i, j)] -= (0..db).map(|r| g[(r, i)] * g[(r, j)]).sum::<f64>();
                }
            }
            self.solved[u].extend_from_slice(g.as_slice());
            self.refactor(u)?;
        }
        Ok(())
    }
}

/// The three covariances (joint, present, past) and their inverses, tracked over `W`.
struct Trackers {
    direct: [GrowingSchur; 3],
    inverse: [GrowingSchur; 3],
    whole: LogDets,
}

impl Trackers {
    fn new(covariance: &LaggedCovariance, nodes: &[Vec<usize>]) -> Result<Self> {
        let n = covariance.channels();
        let joint_blocks: Vec<Vec<usize>> = nodes
            .iter()
            .map(|node| {
                node.iter()
                    .copied()
                    .chain(node.iter().map(|&c| n + c))
                    .collect()
            })
            .collect();
        let matrices = [
            (covariance.joint().clone(), joint_blocks, 0),
            (covariance.present(), nodes.to_vec(), 0),
            (covariance.past(), nodes.to_vec(), n),
        ];
        let mut log_dets = [0.0; 3];
        let mut direct = Vec::with_capacity(3);
        let mut inverse = Vec::with_capacity(3);
        for (i, (matrix, blocks, offset)) in matrices.into_iter().enumerate() {
            let chol = Cholesky::new(&matrix).map_err(|e| singular(n, offset + e.index))?;
            log_dets[i] = chol.log_det();
            inverse.push(GrowingSchur::new(
                chol.inverse(),
                blocks.clone(),
                offset,
                n,
            )?);
            direct.push(GrowingSchur::new(matrix, blocks, offset, n)?);
        }
        let three = |v: Vec<GrowingSchur>| -> [GrowingSchur; 3] {
            v.try_into()
                .unwrap_or_else(|_| unreachable!("three matrices"))
        };
        Ok(Self {
            direct: three(direct),
            inverse: three(inverse),
            whole: LogDets {
                joint: log_dets[0],
                present: log_dets[1],
                past: log_dets[2],
            },
        })
    }

    /// `f(W + u)` for the measure.
    fn value_with(&self, measure: Measure, u: usize) -> f64 {
        let d = |t: &[GrowingSchur; 3]| [0, 1, 2].map(|i| t[i].log_det_with(u));
        let (inside, inv) = (d(&self.direct), d(&self.inverse));
        let w = &self.whole;
        let set = LogDets {
            joint: inside[0],
            present: inside[1],
            past: inside[2],
        };
        let complement = LogDets {
            joint: w.joint + inv[0],
            present: w.present + inv[1],
            past: w.past + inv[2],
        };
        measure.combine(&[set, complement], w)
    }

    fn add(&mut self, u: usize) -> Result<()> {
        for t in self.direct.iter_mut().chain(self.inverse.iter_mut()) {
            t.add(u)?;
        }
        Ok(())
    }
}

/// One greedy ordering of `nodes`; returns the last two elements `(t, u)` (a pendent pair) and
/// `f({u})`.
fn pendent_pair(
    covariance: &LaggedCovariance,
    nodes: &[Vec<usize>],
    measure: Measure,
) -> Result<(usize, usize, f64)> {
    let mut trackers = Trackers::new(covariance, nodes)?;
    let singles: Vec<f64> = (0..nodes.len())
        .map(|u| trackers.value_with(measure, u))
        .collect();
    trackers.add(0)?;
    let mut remaining: Vec<usize> = (1..nodes.len()).collect();
    let mut last = (0, 0);
    while !remaining.is_empty() {
        let (pos, _) = remaining
            .iter()
            .enumerate()
            .map(|(pos, &u)| (pos, trackers.value_with(measure, u) - singles[u]))
            .fold(
                (0, f64::INFINITY),
                |best, x| if x.1 < best.1 { x } else { best },
            );
        let u = remaining.remove(pos);
        last = (last.1, u);
        if !remaining.is_empty() {
            trackers.add(u)?;
        }
    }
    Ok((last.0, last.1, singles[last.1]))
}

/// The MIB of `measure` by Queyranne's algorithm.
pub(crate) fn queyranne(covariance: &LaggedCovariance, measure: Measure) -> Result<Mib> {
    let n = covariance.channels();
    let mut nodes: Vec<Vec<usize>> = (0..n).map(|c| vec![c]).collect();
    let mut best: Option<(f64, Vec<usize>)> = None;
    while nodes.len() >= 2 {
        let (t, u, value) = pendent_pair(covariance, &nodes, measure)?;
        if best.as_ref().is_none_or(|(v, _)| value < *v) {
            best = Some((value, nodes[u].clone()));
        }
        let merged = nodes.remove(u);
        let t = if t > u { t - 1 } else { t };
        nodes[t].extend(merged);
    }
    let (_, part) = best.expect("n >= 2 gives at least one candidate");
    let partition = Partition::bipartition(n, &part)?;
    Ok(Mib {
        value: measure.evaluate(covariance, &partition)?,
        partition,
        normalised: None,
        search: Search::Queyranne,
    })
}
