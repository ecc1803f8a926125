//! Dense `f32` matrix products on row-major slices, through the `gemm` crate (one thread).

/// A row-major matrix operand, read as stored or transposed.
#[derive(Clone, Copy)]
pub(crate) struct Operand<'a> {
    data: &'a [f32],
    /// Rows and columns as stored.
    rows: usize,
    cols: usize,
    transposed: bool,
}

impl<'a> Operand<'a> {
    /// The stored `rows x cols` matrix `data`.
    pub(crate) fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(
            data.len(),
            rows * cols,
            "matrix data does not match its shape"
        );
        Self {
            data,
            rows,
            cols,
            transposed: false,
        }
    }

    /// The same matrix, transposed (no copy).
    pub(crate) fn t(self) -> Self {
        Self {
            transposed: !self.transposed,
            ..self
        }
    }

    /// Logical (rows, cols) after the optional transposition.
    fn shape(&self) -> (usize, usize) {
        if self.transposed {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        }
    }

    /// Logical (row stride, column stride) in elements.
    fn strides(&self) -> (isize, isize) {
        let cols = self.cols as isize;
        if self.transposed {
            (1, cols)
        } else {
            (cols, 1)
        }
    }
}

/// `out = a · b` (or `out += a · b` with `accumulate`), `out` row-major `m x n`.
pub(crate) fn matmul(out: &mut [f32], a: Operand<'_>, b: Operand<'_>, accumulate: bool) {
    let (m, k) = a.shape();
    let (k2, n) = b.shape();
    assert_eq!(k, k2, "inner dimensions differ");
    assert_eq!(
        out.len(),
        m * n,
        "output does not match the product's shape"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            out.fill(0.0);
        }
        return;
    }
    let (a_rs, a_cs) = a.strides();
    let (b_rs, b_cs) = b.strides();
    // SAFETY: the shapes and strides above address only elements inside `a.data`, `b.data` and
    // `out` (their lengths were checked against the shapes), and `out` does not alias `a` or `b`
    // (it is borrowed mutably while they are borrowed shared).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a_cs,
            a_rs,
            b.data.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        out
    }

    fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        let mut t = vec![0.0; x.len()];
        for i in 0..rows {
            for j in 0..cols {
                t[j * rows + i] = x[i * cols + j];
            }
        }
        t
    }

    #[test]
    fn products_with_every_transposition_match_the_definition() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.91).cos()).collect();
        let expected = naive(&a, &b, m, k, n);
        let a_t = transpose(&a, m, k);
        let b_t = transpose(&b, k, n);
        let cases = [
            (Operand::new(&a, m, k), Operand::new(&b, k, n)),
            (Operand::new(&a_t, k, m).t(), Operand::new(&b, k, n)),
            (Operand::new(&a, m, k), Operand::new(&b_t, n, k).t()),
            (Operand::new(&a_t, k, m).t(), Operand::new(&b_t, n, k).t()),
        ];
        for (lhs, rhs) in cases {
            let mut out = vec![f32::NAN; m * n];
            matmul(&mut out, lhs, rhs, false);
            for (x, y) in out.iter().zip(&expected) {
                assert!((x - y).abs() < 1e-5, "{x} vs {y}");
            }
            let mut acc = vec![1.0; m * n];
            matmul(&mut acc, lhs, rhs, true);
            for (x, y) in acc.iter().zip(&expected) {
                assert!((x - (y + 1.0)).abs() < 1e-5, "{x} vs {}", y + 1.0);
            }
        }
    }
}
