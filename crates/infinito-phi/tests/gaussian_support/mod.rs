//! Helpers of the Gaussian tests, written independently of the library's linear algebra: plain
//! `Vec<Vec<f64>>` matrices, Gaussian elimination, the Lyapunov equation by fixed-point
//! iteration, and seeded simulation of linear AR(1) processes.
#![allow(dead_code)] // each test file uses its own subset

use infinito_phi::gaussian::{LaggedCovariance, Matrix, TimeSeries};

pub type M = Vec<Vec<f64>>;

/// SplitMix64 with Box-Muller normals.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

pub fn zeros(r: usize, c: usize) -> M {
    vec![vec![0.0; c]; r]
}

pub fn eye(n: usize) -> M {
    (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect()
}

pub fn matmul(a: &M, b: &M) -> M {
    let (n, k, m) = (a.len(), b.len(), b[0].len());
    let mut out = zeros(n, m);
    for i in 0..n {
        for j in 0..m {
            out[i][j] = (0..k).map(|l| a[i][l] * b[l][j]).sum();
        }
    }
    out
}

pub fn transpose(a: &M) -> M {
    (0..a[0].len())
        .map(|j| a.iter().map(|row| row[j]).collect())
        .collect()
}

pub fn add(a: &M, b: &M, scale_b: f64) -> M {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.iter().zip(y).map(|(p, q)| p + scale_b * q).collect())
        .collect()
}

pub fn select(a: &M, idx: &[usize]) -> M {
    idx.iter()
        .map(|&i| idx.iter().map(|&j| a[i][j]).collect())
        .collect()
}

/// Determinant by Gaussian elimination with partial pivoting.
pub fn det(a: &M) -> f64 {
    let n = a.len();
    let mut m = a.clone();
    let mut det = 1.0;
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))
            .unwrap();
        if pivot != col {
            m.swap(pivot, col);
            det = -det;
        }
        det *= m[col][col];
        let pivot_row = m[col].clone();
        for row in m.iter_mut().skip(col + 1) {
            let f = row[col] / pivot_row[col];
            row.iter_mut()
                .zip(&pivot_row)
                .skip(col)
                .for_each(|(x, p)| *x -= f * p);
        }
    }
    det
}

/// Inverse by Gauss-Jordan elimination with partial pivoting.
pub fn inv(a: &M) -> M {
    let n = a.len();
    let mut m: M = a
        .iter()
        .zip(eye(n))
        .map(|(row, e)| row.iter().copied().chain(e).collect())
        .collect();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))
            .unwrap();
        m.swap(pivot, col);
        let p = m[col][col];
        m[col].iter_mut().for_each(|x| *x /= p);
        for r in 0..n {
            if r != col {
                let f = m[r][col];
                let pivot_row = m[col].clone();
                m[r].iter_mut()
                    .zip(&pivot_row)
                    .for_each(|(x, y)| *x -= f * y);
            }
        }
    }
    m.into_iter().map(|row| row[n..].to_vec()).collect()
}

pub fn trace(a: &M) -> f64 {
    (0..a.len()).map(|i| a[i][i]).sum()
}

/// The stationary covariance `S = A S A^T + Q` by fixed-point iteration.
pub fn lyapunov(a: &M, q: &M) -> M {
    let mut s = q.clone();
    for _ in 0..100_000 {
        let next = add(&matmul(&matmul(a, &s), &transpose(a)), q, 1.0);
        let change: f64 = next
            .iter()
            .flatten()
            .zip(s.iter().flatten())
            .map(|(x, y)| (x - y).abs())
            .sum();
        s = next;
        if change < 1e-15 {
            break;
        }
    }
    s
}

/// Lower Cholesky factor (for sampling).
pub fn chol(a: &M) -> M {
    let n = a.len();
    let mut l = zeros(n, n);
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = a[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            l[i][j] = if i == j { s.sqrt() } else { s / l[j][j] };
        }
    }
    l
}

pub fn to_matrix(a: &M) -> Matrix {
    Matrix::from_rows(a).unwrap()
}

/// The exact covariance of `[X_t; X_t-1]` for `X_t = A X_t-1 + e`, `e ~ N(0, noise)`.
pub fn exact(a: &M, noise: &M) -> LaggedCovariance {
    let s = lyapunov(a, noise);
    let cross = matmul(a, &s);
    LaggedCovariance::from_blocks(&to_matrix(&s), &to_matrix(&s), &to_matrix(&cross)).unwrap()
}

/// `batch` independent runs of `steps` steps of the AR(1) process after a burn-in.
pub fn simulate(a: &M, noise: &M, batch: usize, steps: usize, seed: u64) -> TimeSeries {
    let n = a.len();
    let l = chol(noise);
    let mut rng = Rng::new(seed);
    let mut data = Vec::with_capacity(batch * steps * n);
    for _ in 0..batch {
        let mut x = vec![0.0; n];
        for t in 0..steps + 200 {
            let e: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
            x = (0..n)
                .map(|i| {
                    (0..n).map(|j| a[i][j] * x[j]).sum::<f64>()
                        + (0..=i).map(|j| l[i][j] * e[j]).sum::<f64>()
                })
                .collect();
            if t >= 200 {
                data.extend_from_slice(&x);
            }
        }
    }
    TimeSeries::new(data, batch, steps, n).unwrap()
}

/// A random stable system: `A` with Frobenius norm `radius` (so spectral radius below it) and a
/// well-conditioned noise covariance with correlations.
pub fn random_system(n: usize, radius: f64, rng: &mut Rng) -> (M, M) {
    let g: M = (0..n)
        .map(|_| (0..n).map(|_| rng.normal()).collect())
        .collect();
    let norm = g.iter().flatten().map(|x| x * x).sum::<f64>().sqrt();
    let a = g
        .iter()
        .map(|r| r.iter().map(|x| x * radius / norm).collect())
        .collect();
    let l: M = (0..n)
        .map(|_| (0..n).map(|_| 0.5 * rng.normal()).collect())
        .collect();
    let noise = add(&matmul(&l, &transpose(&l)), &eye(n), 0.3);
    (a, noise)
}
