//! Small dense linear algebra in f64: row-major matrices, Cholesky factors with log-determinants
//! and triangular solves, and the cyclic Jacobi eigen-decomposition of symmetric matrices.

/// Relative pivot below which a matrix counts as singular: a pivot (the variance of a variable
/// given the ones before it) at most this fraction of the variable's own variance.
const PIVOT_TOLERANCE: f64 = 1e-12;

/// A dense row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Matrix {
    /// A `rows x cols` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// The `n x n` identity.
    pub fn identity(n: usize) -> Self {
        let mut m = Self::zeros(n, n);
        for i in 0..n {
            m[(i, i)] = 1.0;
        }
        m
    }

    /// A matrix from row-major values; `None` if `data.len() != rows * cols`.
    pub fn from_vec(rows: usize, cols: usize, data: Vec<f64>) -> Option<Self> {
        (data.len() == rows * cols).then_some(Self { rows, cols, data })
    }

    /// A matrix from its rows; `None` if they differ in length.
    pub fn from_rows(rows: &[Vec<f64>]) -> Option<Self> {
        let cols = rows.first().map_or(0, Vec::len);
        if rows.iter().any(|r| r.len() != cols) {
            return None;
        }
        Self::from_vec(rows.len(), cols, rows.concat())
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The row-major values.
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }

    /// Row `r`.
    pub fn row(&self, r: usize) -> &[f64] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    /// The transpose.
    pub fn transpose(&self) -> Self {
        let mut t = Self::zeros(self.cols, self.rows);
        for r in 0..self.rows {
            for c in 0..self.cols {
                t[(c, r)] = self[(r, c)];
            }
        }
        t
    }

    /// The product `self * other`. Panics if the inner dimensions differ.
    pub fn matmul(&self, other: &Self) -> Self {
        assert_eq!(self.cols, other.rows, "matmul: inner dimensions differ");
        let mut out = Self::zeros(self.rows, other.cols);
        for r in 0..self.rows {
            let out_row = &mut out.data[r * other.cols..(r + 1) * other.cols];
            for (k, &a) in self.row(r).iter().enumerate() {
                if a != 0.0 {
                    for (o, &b) in out_row.iter_mut().zip(other.row(k)) {
                        *o += a * b;
                    }
                }
            }
        }
        out
    }

    /// `self + other` (same shape).
    pub fn add(&self, other: &Self) -> Self {
        self.zip_with(other, |a, b| a + b)
    }

    /// `self - other` (same shape).
    pub fn sub(&self, other: &Self) -> Self {
        self.zip_with(other, |a, b| a - b)
    }

    fn zip_with(&self, other: &Self, f: impl Fn(f64, f64) -> f64) -> Self {
        assert_eq!((self.rows, self.cols), (other.rows, other.cols));
        Self {
            rows: self.rows,
            cols: self.cols,
            data: self
                .data
                .iter()
                .zip(&other.data)
                .map(|(&a, &b)| f(a, b))
                .collect(),
        }
    }

    /// The sub-matrix of the given rows and columns, in the given orders.
    pub fn select(&self, rows: &[usize], cols: &[usize]) -> Self {
        let mut out = Self::zeros(rows.len(), cols.len());
        for (i, &r) in rows.iter().enumerate() {
            for (j, &c) in cols.iter().enumerate() {
                out[(i, j)] = self[(r, c)];
            }
        }
        out
    }

    /// The sum of the diagonal.
    pub fn trace(&self) -> f64 {
        (0..self.rows.min(self.cols)).map(|i| self[(i, i)]).sum()
    }

    /// `(A + A^T) / 2`, removing the round-off asymmetry of a product meant to be symmetric.
    pub fn symmetrised(&self) -> Self {
        let mut s = self.clone();
        for r in 0..self.rows {
            for c in 0..r {
                let mean = 0.5 * (self[(r, c)] + self[(c, r)]);
                s[(r, c)] = mean;
                s[(c, r)] = mean;
            }
        }
        s
    }
}

impl std::ops::Index<(usize, usize)> for Matrix {
    type Output = f64;

    fn index(&self, (r, c): (usize, usize)) -> &f64 {
        &self.data[r * self.cols + c]
    }
}

impl std::ops::IndexMut<(usize, usize)> for Matrix {
    fn index_mut(&mut self, (r, c): (usize, usize)) -> &mut f64 {
        &mut self.data[r * self.cols + c]
    }
}

/// A matrix that is not (numerically) positive definite: the pivot of variable `index` was not
/// positive relative to its diagonal entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotPositiveDefinite {
    /// The variable (row) whose pivot failed.
    pub index: usize,
}

/// Factors the `d x d` row-major symmetric matrix in `a` in place into its lower Cholesky factor
/// `L` (`A = L L^T`; only the lower triangle is read, the upper one is left as it was) and
/// returns `log det A`.
pub fn cholesky_in_place(a: &mut [f64], d: usize) -> Result<f64, NotPositiveDefinite> {
    let mut log_det = 0.0;
    for i in 0..d {
        let (before, from_i) = a.split_at_mut(i * d);
        let row_i = &mut from_i[..d];
        for j in 0..i {
            let row_j = &before[j * d..j * d + d];
            row_i[j] = (row_i[j] - dot(&row_i[..j], &row_j[..j])) / row_j[j];
        }
        let diag = row_i[i];
        let pivot = diag - dot(&row_i[..i], &row_i[..i]);
        if !(pivot > PIVOT_TOLERANCE * diag && pivot.is_finite()) {
            return Err(NotPositiveDefinite { index: i });
        }
        row_i[i] = pivot.sqrt();
        log_det += pivot.ln();
    }
    Ok(log_det)
}

/// The lower Cholesky factor of a symmetric positive definite matrix.
#[derive(Debug, Clone)]
pub struct Cholesky {
    l: Matrix,
    log_det: f64,
}

impl Cholesky {
    /// Factors `a` (symmetric; only its lower triangle is read).
    pub fn new(a: &Matrix) -> Result<Self, NotPositiveDefinite> {
        assert_eq!(a.rows, a.cols, "Cholesky of a non-square matrix");
        let mut l = a.clone();
        let log_det = cholesky_in_place(&mut l.data, l.rows)?;
        for r in 0..l.rows {
            for c in r + 1..l.cols {
                l[(r, c)] = 0.0;
            }
        }
        Ok(Self { l, log_det })
    }

    /// `log det A`.
    pub fn log_det(&self) -> f64 {
        self.log_det
    }

    /// `L^{-1} B` (forward substitution, column by column).
    pub fn solve_lower(&self, b: &Matrix) -> Matrix {
        let n = self.l.rows;
        assert_eq!(b.rows, n, "solve_lower: row count differs");
        let mut x = b.clone();
        for i in 0..n {
            for c in 0..b.cols {
                let mut s = x[(i, c)];
                for k in 0..i {
                    s -= self.l[(i, k)] * x[(k, c)];
                }
                x[(i, c)] = s / self.l[(i, i)];
            }
        }
        x
    }

    /// `L^{-T} B` (back substitution).
    pub fn solve_upper(&self, b: &Matrix) -> Matrix {
        let n = self.l.rows;
        assert_eq!(b.rows, n, "solve_upper: row count differs");
        let mut x = b.clone();
        for i in (0..n).rev() {
            for c in 0..b.cols {
                let mut s = x[(i, c)];
                for k in i + 1..n {
                    s -= self.l[(k, i)] * x[(k, c)];
                }
                x[(i, c)] = s / self.l[(i, i)];
            }
        }
        x
    }

    /// `A^{-1} B`.
    pub fn solve(&self, b: &Matrix) -> Matrix {
        self.solve_upper(&self.solve_lower(b))
    }

    /// `L^{-1} M L^{-T}` for a symmetric `M`: `M` in the coordinates where `A` is the identity.
    pub fn whiten(&self, m: &Matrix) -> Matrix {
        let left = self.solve_lower(m);
        self.solve_lower(&left.transpose()).symmetrised()
    }

    /// `A^{-1}`, symmetrised.
    pub fn inverse(&self) -> Matrix {
        self.solve(&Matrix::identity(self.l.rows)).symmetrised()
    }
}

/// The dot product of two equally long slices.
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Sweeps of the Jacobi method before giving up (it converges quadratically, in well under 20).
const MAX_JACOBI_SWEEPS: usize = 100;

/// Eigen-decomposition of a symmetric matrix by the cyclic Jacobi method: eigenvalues in
/// descending order and the matching unit eigenvectors as the columns of the returned matrix.
pub fn symmetric_eigen(a: &Matrix) -> (Vec<f64>, Matrix) {
    let n = a.rows;
    assert_eq!(n, a.cols, "eigen-decomposition of a non-square matrix");
    let mut m = a.symmetrised();
    let mut v = Matrix::identity(n);
    let scale = m.data.iter().map(|x| x * x).sum::<f64>();
    for _ in 0..MAX_JACOBI_SWEEPS {
        let off: f64 = (0..n)
            .flat_map(|r| (0..r).map(move |c| (r, c)))
            .map(|(r, c)| m[(r, c)] * m[(r, c)])
            .sum();
        if off <= f64::EPSILON * f64::EPSILON * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[(p, q)];
                if apq == 0.0 {
                    continue;
                }
                let theta = (m[(q, q)] - m[(p, p)]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (mkp, mkq) = (m[(k, p)], m[(k, q)]);
                    m[(k, p)] = c * mkp - s * mkq;
                    m[(k, q)] = s * mkp + c * mkq;
                }
                for k in 0..n {
                    let (mpk, mqk) = (m[(p, k)], m[(q, k)]);
                    m[(p, k)] = c * mpk - s * mqk;
                    m[(q, k)] = s * mpk + c * mqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[(k, p)], v[(k, q)]);
                    v[(k, p)] = c * vkp - s * vkq;
                    v[(k, q)] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| m[(j, j)].total_cmp(&m[(i, i)]));
    let values = order.iter().map(|&i| m[(i, i)]).collect();
    let all: Vec<usize> = (0..n).collect();
    (values, v.select(&all, &order))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spd3() -> Matrix {
        Matrix::from_rows(&[
            vec![4.0, 2.0, 0.6],
            vec![2.0, 5.0, 1.0],
            vec![0.6, 1.0, 3.0],
        ])
        .unwrap()
    }

    #[test]
    fn cholesky_log_det_matches_the_cofactor_determinant() {
        let a = spd3();
        // det by cofactors: 4(15-1) - 2(6-0.6) + 0.6(2-3) = 56 - 10.8 - 0.6 = 44.6
        let chol = Cholesky::new(&a).unwrap();
        assert!((chol.log_det() - 44.6f64.ln()).abs() < 1e-12);
        // L^-1 A L^-T is the identity.
        let white = chol.whiten(&a);
        for (x, y) in white.as_slice().iter().zip(Matrix::identity(3).as_slice()) {
            assert!((x - y).abs() < 1e-12);
        }
    }

    #[test]
    fn solve_inverts_the_matrix() {
        let a = spd3();
        let chol = Cholesky::new(&a).unwrap();
        let product = a.matmul(&chol.inverse());
        let eye = Matrix::identity(3);
        for (x, y) in product.as_slice().iter().zip(eye.as_slice()) {
            assert!((x - y).abs() < 1e-12);
        }
    }

    #[test]
    fn singular_and_indefinite_matrices_are_refused() {
        // The third row is the sum of the first two.
        let singular = Matrix::from_rows(&[
            vec![1.0, 0.5, 1.5],
            vec![0.5, 2.0, 2.5],
            vec![1.5, 2.5, 4.0],
        ])
        .unwrap();
        assert_eq!(
            Cholesky::new(&singular).unwrap_err(),
            NotPositiveDefinite { index: 2 }
        );
        let indefinite = Matrix::from_rows(&[vec![1.0, 2.0], vec![2.0, 1.0]]).unwrap();
        assert_eq!(
            Cholesky::new(&indefinite).unwrap_err(),
            NotPositiveDefinite { index: 1 }
        );
        let zero_variance = Matrix::from_rows(&[vec![0.0, 0.0], vec![0.0, 1.0]]).unwrap();
        assert_eq!(
            Cholesky::new(&zero_variance).unwrap_err(),
            NotPositiveDefinite { index: 0 }
        );
    }

    #[test]
    fn jacobi_finds_the_eigenpairs() {
        // [[2,1],[1,2]] has eigenvalues 3 and 1 with eigenvectors (1,1)/sqrt2 and (1,-1)/sqrt2.
        let a = Matrix::from_rows(&[vec![2.0, 1.0], vec![1.0, 2.0]]).unwrap();
        let (values, vectors) = symmetric_eigen(&a);
        assert!((values[0] - 3.0).abs() < 1e-14 && (values[1] - 1.0).abs() < 1e-14);
        let h = std::f64::consts::FRAC_1_SQRT_2;
        assert!((vectors[(0, 0)].abs() - h).abs() < 1e-14);
        assert!((vectors[(0, 0)] - vectors[(1, 0)]).abs() < 1e-14);
        assert!((vectors[(0, 1)] + vectors[(1, 1)]).abs() < 1e-14);
        // A V = V diag(values) for a 3x3 matrix.
        let a = spd3();
        let (values, v) = symmetric_eigen(&a);
        let av = a.matmul(&v);
        for r in 0..3 {
            for c in 0..3 {
                assert!((av[(r, c)] - v[(r, c)] * values[c]).abs() < 1e-12);
            }
        }
        assert!((values.iter().sum::<f64>() - a.trace()).abs() < 1e-12);
    }
}
