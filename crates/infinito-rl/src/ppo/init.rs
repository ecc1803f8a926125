//! Orthogonal weight initialisation (`torch.nn.init.orthogonal_`, as SB3's `ortho_init`).

use rand::Rng;
use rand_distr::StandardNormal;

/// A `rows x cols` row-major matrix with orthonormal rows (if `rows <= cols`) or orthonormal
/// columns (otherwise), scaled by `gain`.
///
/// As torch: a standard normal matrix, made tall by transposition, is QR-decomposed with the
/// signs fixed so that R has a positive diagonal (here by modified Gram-Schmidt in f64).
pub(crate) fn orthogonal(rows: usize, cols: usize, gain: f64, rng: &mut impl Rng) -> Vec<f32> {
    let normal: Vec<f64> = (0..rows * cols)
        .map(|_| rng.sample::<f64, _>(StandardNormal))
        .collect();
    // The tall matrix, stored column by column: `tall_cols` columns of length `tall_rows`.
    let (tall_rows, tall_cols) = (rows.max(cols), rows.min(cols));
    let mut columns: Vec<Vec<f64>> = (0..tall_cols)
        .map(|c| {
            (0..tall_rows)
                .map(|r| {
                    if rows >= cols {
                        normal[r * cols + c]
                    } else {
                        normal[c * cols + r]
                    }
                })
                .collect()
        })
        .collect();
    for c in 0..tall_cols {
        let (done, rest) = columns.split_at_mut(c);
        let column = &mut rest[0];
        for previous in done.iter() {
            let projection: f64 = previous.iter().zip(column.iter()).map(|(p, x)| p * x).sum();
            for (x, p) in column.iter_mut().zip(previous) {
                *x -= projection * p;
            }
        }
        let norm = column.iter().map(|x| x * x).sum::<f64>().sqrt();
        for x in column.iter_mut() {
            *x /= norm;
        }
    }
    let mut out = vec![0.0f32; rows * cols];
    for (c, column) in columns.iter().enumerate() {
        for (r, x) in column.iter().enumerate() {
            let index = if rows >= cols {
                r * cols + c
            } else {
                c * cols + r
            };
            out[index] = (x * gain) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// `m · mᵀ` (over rows) or `mᵀ · m` (over columns) of a row-major matrix, in f64.
    fn gram(m: &[f32], rows: usize, cols: usize, over_rows: bool) -> Vec<Vec<f64>> {
        let n = if over_rows { rows } else { cols };
        let at = |i: usize, k: usize| {
            f64::from(if over_rows {
                m[i * cols + k]
            } else {
                m[k * cols + i]
            })
        };
        let len = if over_rows { cols } else { rows };
        (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| (0..len).map(|k| at(i, k) * at(j, k)).sum())
                    .collect()
            })
            .collect()
    }

    fn assert_scaled_identity(g: &[Vec<f64>], gain: f64) {
        for (i, row) in g.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                let expected = if i == j { gain * gain } else { 0.0 };
                assert!(
                    (v - expected).abs() < 1e-5,
                    "[{i}][{j}] = {v}, expected {expected}"
                );
            }
        }
    }

    #[test]
    fn wide_matrices_have_orthogonal_rows_tall_ones_orthogonal_columns() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let gain = 2f64.sqrt();
        // Hidden layer [128, 6]: tall, so its 6 columns are orthonormal (Wᵀ W = gain² I).
        let w = orthogonal(128, 6, gain, &mut rng);
        assert_scaled_identity(&gram(&w, 128, 6, false), gain);
        // Action head [3, 128]: wide, so its 3 rows are orthonormal (W Wᵀ = gain² I).
        let w = orthogonal(3, 128, 0.01, &mut rng);
        assert_scaled_identity(&gram(&w, 3, 128, true), 0.01);
        // Square [16, 16]: both.
        let w = orthogonal(16, 16, gain, &mut rng);
        assert_scaled_identity(&gram(&w, 16, 16, true), gain);
        assert_scaled_identity(&gram(&w, 16, 16, false), gain);
        // Value head [1, 16]: a single row of norm `gain`.
        let w = orthogonal(1, 16, 1.0, &mut rng);
        assert_scaled_identity(&gram(&w, 1, 16, true), 1.0);
    }

    #[test]
    fn same_seed_same_matrix_and_draws_differ() {
        let a = orthogonal(4, 5, 1.0, &mut ChaCha8Rng::seed_from_u64(1));
        let b = orthogonal(4, 5, 1.0, &mut ChaCha8Rng::seed_from_u64(1));
        let c = orthogonal(4, 5, 1.0, &mut ChaCha8Rng::seed_from_u64(2));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
