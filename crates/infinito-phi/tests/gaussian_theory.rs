//! The Gaussian measures against closed forms for linear AR(1) processes, written here from the
//! stationary covariance `S = A S A^T + Sigma_e` and the lagged covariance `A S` with plain
//! elimination (not the library's Cholesky path), and the estimator's convergence to them.

mod gaussian_support;

use gaussian_support::*;
use infinito_phi::gaussian::{
    phi_g, phi_star, CovarianceOptions, LaggedCovariance, Measure, Partition, Shrinkage, TimeSeries,
};
use infinito_phi::PhiError;

const LN_2PI_E: f64 = 2.837_877_066_409_345_3;

fn ar2() -> (M, M) {
    (
        vec![vec![0.5, 0.3], vec![-0.2, 0.6]],
        vec![vec![1.0, 0.3], vec![0.3, 0.8]],
    )
}

fn ar3() -> (M, M) {
    (
        vec![
            vec![0.4, 0.3, 0.0],
            vec![0.0, 0.5, -0.3],
            vec![0.2, 0.0, 0.3],
        ],
        vec![
            vec![1.0, 0.2, 0.1],
            vec![0.2, 0.7, 0.0],
            vec![0.1, 0.0, 1.2],
        ],
    )
}

/// Closed forms of one AR(1) system.
struct Theory {
    s: M,
    cross: M,
    noise: M,
}

impl Theory {
    fn new(a: &M, noise: &M) -> Self {
        let s = lyapunov(a, noise);
        Self {
            cross: matmul(a, &s),
            s,
            noise: noise.clone(),
        }
    }

    /// `Cov(M_t | M_t-1)` of a part.
    fn conditional(&self, part: &[usize]) -> M {
        let (s, c) = (select(&self.s, part), select(&self.cross, part));
        add(&s, &matmul(&matmul(&c, &inv(&s)), &transpose(&c)), -1.0)
    }

    /// `I(M_t; M_t-1)` of a part.
    fn part_mi(&self, part: &[usize]) -> f64 {
        0.5 * (det(&select(&self.s, part)) / det(&self.conditional(part))).ln()
    }

    /// `I(X_t; X_t-1) = ln(det S / det Sigma_e) / 2` (the conditional covariance is the noise).
    fn mi(&self) -> f64 {
        0.5 * (det(&self.s) / det(&self.noise)).ln()
    }

    fn phi_si(&self, parts: &[Vec<usize>]) -> f64 {
        let sum: f64 = parts.iter().map(|p| det(&self.conditional(p)).ln()).sum();
        0.5 * (sum - det(&self.noise).ln())
    }

    fn phi_mi(&self, parts: &[Vec<usize>]) -> f64 {
        self.mi() - parts.iter().map(|p| self.part_mi(p)).sum::<f64>()
    }

    fn exact(&self) -> LaggedCovariance {
        LaggedCovariance::from_blocks(
            &to_matrix(&self.s),
            &to_matrix(&self.s),
            &to_matrix(&self.cross),
        )
        .unwrap()
    }
}

/// `max_beta` of a concave function on `[lo, hi]` by golden-section search.
fn golden_max(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> (f64, f64) {
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..300 {
        let (x1, x2) = (hi - g * (hi - lo), lo + g * (hi - lo));
        if f(x1) < f(x2) {
            lo = x1;
        } else {
            hi = x2;
        }
    }
    let x = 0.5 * (lo + hi);
    (x, f(x))
}

/// Phi* of the 2-channel system across {0}|{1}, from the definition of the mismatched-decoding
/// information with explicit 2x2 inverses and determinants.
fn phi_star_2(t: &Theory) -> (f64, f64) {
    let a: Vec<f64> = (0..2).map(|i| t.cross[i][i] / t.s[i][i]).collect();
    let a_d = vec![vec![a[0], 0.0], vec![0.0, a[1]]];
    let var: Vec<f64> = (0..2)
        .map(|i| t.s[i][i] - t.cross[i][i] * t.cross[i][i] / t.s[i][i])
        .collect();
    let s_d = vec![vec![var[0], 0.0], vec![0.0, var[1]]];
    let s_inv = inv(&s_d);
    let driven = matmul(&matmul(&a_d, &t.s), &a_d);
    let ac = matmul(&a_d, &transpose(&t.cross));
    let resid = add(
        &add(&add(&t.s, &ac, -1.0), &transpose(&ac), -1.0),
        &driven,
        1.0,
    );
    let i_tilde = |beta: f64| {
        let lhs = add(&eye(2), &matmul(&s_inv, &driven), beta);
        let mid = inv(&add(&driven, &s_d, 1.0 / beta));
        0.5 * det(&lhs).ln() + 0.5 * trace(&matmul(&t.s, &mid))
            - 0.5 * beta * trace(&matmul(&s_inv, &resid))
    };
    let (beta, best) = golden_max(i_tilde, 1e-9, 30.0);
    (t.mi() - best, beta)
}

/// Phi_G of the 2-channel system across {0}|{1}: `min ln det(Sigma_e + D S D^T) / 2 - ln det
/// Sigma_e / 2` over the free diagonal of `D = A - A'`, by nested golden-section searches.
fn phi_g_2(t: &Theory, a: &M) -> f64 {
    let f = |d0: f64, d1: f64| {
        let d = vec![vec![d0, a[0][1]], vec![a[1][0], d1]];
        let m = add(&t.noise, &matmul(&matmul(&d, &t.s), &transpose(&d)), 1.0);
        det(&m).ln()
    };
    let inner = |d0: f64| -golden_max(|d1| -f(d0, d1), -3.0, 3.0).1;
    let (_, best) = golden_max(|d0| -inner(d0), -3.0, 3.0);
    0.5 * (-best - det(&t.noise).ln())
}

fn bipartitions(n: usize) -> Vec<Vec<Vec<usize>>> {
    (1..1u32 << (n - 1))
        .map(|mask| {
            let (a, b): (Vec<usize>, Vec<usize>) = (0..n).partition(|&c| mask >> c & 1 == 1);
            vec![a, b]
        })
        .collect()
}

fn partition(n: usize, parts: &[Vec<usize>]) -> Partition {
    Partition::new(n, parts.to_vec()).unwrap()
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: {got} vs {want} (tolerance {tol})"
    );
}

#[test]
fn two_channel_ar1_matches_its_closed_forms() {
    let (a, noise) = ar2();
    let t = Theory::new(&a, &noise);
    let cov = t.exact();
    let p = partition(2, &[vec![0], vec![1]]);
    // Scalar closed forms: conditional variances v_i = S_ii - (AS)_ii^2 / S_ii.
    let v: Vec<f64> = (0..2)
        .map(|i| t.s[i][i] - t.cross[i][i].powi(2) / t.s[i][i])
        .collect();
    let rho: Vec<f64> = (0..2).map(|i| t.cross[i][i] / t.s[i][i]).collect();
    let det_s = t.s[0][0] * t.s[1][1] - t.s[0][1] * t.s[1][0];
    let det_e = noise[0][0] * noise[1][1] - noise[0][1] * noise[1][0];
    let mi = 0.5 * (det_s / det_e).ln();
    let si = 0.5 * (v[0].ln() + v[1].ln() - det_e.ln());
    let phi_mi = mi + 0.5 * ((1.0 - rho[0] * rho[0]).ln() + (1.0 - rho[1] * rho[1]).ln());
    let r2 = t.s[0][1].powi(2) / (t.s[0][0] * t.s[1][1]);
    let parts_mi = 0.5
        * ((0..2)
            .map(|i| (t.s[i][i].powi(2) - t.cross[i][i].powi(2)).ln())
            .sum::<f64>()
            - (det_s * det_e).ln());
    close(
        cov.mutual_information().unwrap(),
        mi,
        1e-12,
        "I(X_t; X_t-1)",
    );
    close(
        cov.multi_information().unwrap(),
        -0.5 * (1.0 - r2).ln(),
        1e-12,
        "multi-information",
    );
    close(
        cov.entropy(&[0, 1]).unwrap(),
        LN_2PI_E + 0.5 * det_s.ln(),
        1e-12,
        "H(X_t)",
    );
    close(
        Measure::PhiSi.evaluate(&cov, &p).unwrap(),
        si,
        1e-12,
        "Phi_SI",
    );
    close(
        Measure::PhiMi.evaluate(&cov, &p).unwrap(),
        phi_mi,
        1e-12,
        "Phi_MI",
    );
    close(
        Measure::PartsMutualInformation.evaluate(&cov, &p).unwrap(),
        parts_mi,
        1e-12,
        "parts mutual information",
    );
    assert!(si > 0.05, "the coupled system integrates information: {si}");
    let (star, beta) = phi_star_2(&t);
    let got = phi_star(&cov, &p).unwrap();
    close(got.value, star, 1e-10, "Phi*");
    close(got.beta, beta, 1e-6, "beta of Phi*");
    close(got.mutual_information, mi, 1e-12, "I of Phi*");
    let g = phi_g(&cov, &p).unwrap();
    assert!(g.converged);
    close(g.value, phi_g_2(&t, &a), 1e-10, "Phi_G");
}

#[test]
fn three_channel_ar1_matches_its_closed_forms_on_every_bipartition() {
    let (a, noise) = ar3();
    let t = Theory::new(&a, &noise);
    let cov = t.exact();
    let mut best = (f64::INFINITY, vec![]);
    for parts in bipartitions(3) {
        let p = partition(3, &parts);
        let si = t.phi_si(&parts);
        close(
            Measure::PhiSi.evaluate(&cov, &p).unwrap(),
            si,
            1e-12,
            "Phi_SI",
        );
        close(
            Measure::PhiMi.evaluate(&cov, &p).unwrap(),
            t.phi_mi(&parts),
            1e-12,
            "Phi_MI",
        );
        // Phi_SI - Phi_MI is the mutual information between the parts' presents.
        let h = |part: &[usize]| 0.5 * det(&select(&t.s, part)).ln();
        let between = h(&parts[0]) + h(&parts[1]) - 0.5 * det(&t.s).ln();
        close(si - t.phi_mi(&parts), between, 1e-12, "Phi_SI - Phi_MI");
        let star = phi_star(&cov, &p).unwrap();
        assert!(
            star.value >= -1e-12 && star.value <= t.mi() + 1e-12,
            "0 <= Phi* <= I"
        );
        let g = phi_g(&cov, &p).unwrap().value;
        assert!(
            g >= -1e-12 && g <= si + 1e-12 && g <= t.mi() + 1e-12,
            "Phi_G <= Phi_SI, I"
        );
        if si < best.0 {
            best = (si, parts.clone());
        }
    }
    let mib =
        infinito_phi::gaussian::minimum_information_bipartition(&cov, &Default::default()).unwrap();
    assert_eq!(mib.partition, partition(3, &best.1));
    close(mib.value, best.0, 1e-12, "MIB value");
}

#[test]
fn estimates_from_long_simulations_converge_to_the_closed_forms() {
    for (seed, (a, noise)) in [(1, ar2()), (2, ar3())] {
        let n = a.len();
        let t = Theory::new(&a, &noise);
        let exact = t.exact();
        let series = simulate(&a, &noise, 4, 25_000, seed);
        let est = LaggedCovariance::estimate(&series, &CovarianceOptions::default()).unwrap();
        assert_eq!(est.pairs, 4 * 24_999);
        let cov = est.covariance;
        close(cov.mutual_information().unwrap(), t.mi(), 0.01, "I");
        for parts in bipartitions(n) {
            let p = partition(n, &parts);
            close(
                Measure::PhiSi.evaluate(&cov, &p).unwrap(),
                t.phi_si(&parts),
                0.01,
                "Phi_SI",
            );
            close(
                Measure::PhiMi.evaluate(&cov, &p).unwrap(),
                t.phi_mi(&parts),
                0.01,
                "Phi_MI",
            );
            let (got, want) = (phi_star(&cov, &p).unwrap(), phi_star(&exact, &p).unwrap());
            close(got.value, want.value, 0.01, "Phi*");
            let (got, want) = (phi_g(&cov, &p).unwrap(), phi_g(&exact, &p).unwrap());
            close(got.value, want.value, 0.01, "Phi_G");
        }
    }
}

/// Diagonal `A` and noise: four independent AR(1) channels.
fn independent() -> (M, M) {
    let a = vec![
        vec![0.7, 0.0, 0.0, 0.0],
        vec![0.0, -0.4, 0.0, 0.0],
        vec![0.0, 0.0, 0.2, 0.0],
        vec![0.0, 0.0, 0.0, 0.9],
    ];
    let noise = vec![
        vec![1.0, 0.0, 0.0, 0.0],
        vec![0.0, 2.0, 0.0, 0.0],
        vec![0.0, 0.0, 0.5, 0.0],
        vec![0.0, 0.0, 0.0, 1.5],
    ];
    (a, noise)
}

fn all_measures(cov: &LaggedCovariance, p: &Partition) -> [f64; 5] {
    [
        Measure::PhiSi.evaluate(cov, p).unwrap(),
        Measure::PhiMi.evaluate(cov, p).unwrap(),
        Measure::PartsMutualInformation.evaluate(cov, p).unwrap(),
        phi_star(cov, p).unwrap().value,
        phi_g(cov, p).unwrap().value,
    ]
}

#[test]
fn independent_channels_integrate_nothing() {
    let (a, noise) = independent();
    let exact = Theory::new(&a, &noise).exact();
    close(
        exact.multi_information().unwrap(),
        0.0,
        1e-12,
        "multi-information",
    );
    let series = simulate(&a, &noise, 2, 20_000, 7);
    let plain = LaggedCovariance::estimate(&series, &CovarianceOptions::default())
        .unwrap()
        .covariance;
    let lw = CovarianceOptions {
        shrinkage: Shrinkage::LedoitWolf,
        ..Default::default()
    };
    let shrunk = LaggedCovariance::estimate(&series, &lw).unwrap();
    assert!(
        shrunk.shrinkage > 0.0 && shrunk.shrinkage < 0.1,
        "{}",
        shrunk.shrinkage
    );
    for parts in bipartitions(4) {
        let p = partition(4, &parts);
        for (i, v) in all_measures(&exact, &p).into_iter().enumerate() {
            close(
                v,
                0.0,
                1e-12,
                &format!("exact measure {i} across {parts:?}"),
            );
        }
        for (i, v) in all_measures(&plain, &p).into_iter().enumerate() {
            close(
                v,
                0.0,
                2e-3,
                &format!("estimated measure {i} across {parts:?}"),
            );
        }
        let (si_plain, si_shrunk) = (
            Measure::PhiSi.evaluate(&plain, &p).unwrap(),
            Measure::PhiSi.evaluate(&shrunk.covariance, &p).unwrap(),
        );
        assert!(
            si_shrunk <= si_plain,
            "shrinkage lowers the spurious integration"
        );
    }
}

#[test]
fn full_shrinkage_leaves_independent_channels() {
    let (a, noise) = ar3();
    let series = simulate(&a, &noise, 1, 500, 3);
    let options = CovarianceOptions {
        shrinkage: Shrinkage::Fixed(1.0),
        ..Default::default()
    };
    let cov = LaggedCovariance::estimate(&series, &options)
        .unwrap()
        .covariance;
    close(cov.mutual_information().unwrap(), 0.0, 1e-12, "I");
    for parts in bipartitions(3) {
        for v in all_measures(&cov, &partition(3, &parts)) {
            close(v, 0.0, 1e-12, "measure");
        }
    }
}

fn scaled(series: &TimeSeries, factors: &[f64]) -> TimeSeries {
    let n = factors.len();
    let data = series
        .as_slice()
        .iter()
        .enumerate()
        .map(|(i, v)| v * factors[i % n])
        .collect();
    TimeSeries::new(data, series.sequences(), series.steps(), n).unwrap()
}

#[test]
fn per_channel_scaling_changes_only_the_entropy() {
    let (a, noise) = ar3();
    let series = simulate(&a, &noise, 2, 300, 11);
    let factors = [1e-3, 250.0, -4.0];
    let rescaled = scaled(&series, &factors);
    for shrinkage in [Shrinkage::None, Shrinkage::LedoitWolf] {
        let options = CovarianceOptions {
            shrinkage,
            ..Default::default()
        };
        let x = LaggedCovariance::estimate(&series, &options)
            .unwrap()
            .covariance;
        let y = LaggedCovariance::estimate(&rescaled, &options)
            .unwrap()
            .covariance;
        let shift: f64 = factors.iter().map(|c: &f64| c.abs().ln()).sum();
        close(
            y.entropy(&[0, 1, 2]).unwrap(),
            x.entropy(&[0, 1, 2]).unwrap() + shift,
            1e-9,
            "H(X_t) shifts by sum ln|c_i|",
        );
        close(
            y.mutual_information().unwrap(),
            x.mutual_information().unwrap(),
            1e-10,
            "I",
        );
        close(
            y.multi_information().unwrap(),
            x.multi_information().unwrap(),
            1e-10,
            "multi",
        );
        for parts in bipartitions(3) {
            let p = partition(3, &parts);
            for (i, (u, v)) in all_measures(&x, &p)
                .into_iter()
                .zip(all_measures(&y, &p))
                .enumerate()
            {
                close(v, u, 1e-9, &format!("measure {i} across {parts:?}"));
            }
        }
    }
}

#[test]
fn one_part_integrates_nothing_and_phi_star_decodes_everything() {
    let (a, noise) = ar3();
    let t = Theory::new(&a, &noise);
    let cov = t.exact();
    let whole = partition(3, &[vec![0, 1, 2]]);
    let star = phi_star(&cov, &whole).unwrap();
    close(star.value, 0.0, 1e-10, "Phi* of the whole");
    close(star.beta, 1.0, 1e-6, "I* is reached at beta = 1");
    close(star.mismatched_information, t.mi(), 1e-10, "I* = I");
    for v in all_measures(&cov, &whole) {
        close(v, 0.0, 1e-12, "one part");
    }
}

#[test]
fn phi_g_ignores_equal_time_correlations_that_phi_si_counts() {
    // No influence between {0} and {1} (diagonal A), but correlated noise.
    let a = vec![vec![0.6, 0.0], vec![0.0, 0.3]];
    let noise = vec![vec![1.0, 0.7], vec![0.7, 1.0]];
    let cov = Theory::new(&a, &noise).exact();
    let p = partition(2, &[vec![0], vec![1]]);
    close(phi_g(&cov, &p).unwrap().value, 0.0, 1e-12, "Phi_G");
    assert!(Measure::PhiSi.evaluate(&cov, &p).unwrap() > 0.1);
}

#[test]
fn singular_covariances_are_refused_unless_regularised() {
    let (a, noise) = ar2();
    let base = simulate(&a, &noise, 1, 200, 5);
    // Channel 2 = channel 0 + channel 1.
    let data: Vec<f64> = base
        .as_slice()
        .chunks(2)
        .flat_map(|x| [x[0], x[1], x[0] + x[1]])
        .collect();
    let series = TimeSeries::new(data, 1, 200, 3).unwrap();
    let err = LaggedCovariance::estimate(&series, &CovarianceOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            PhiError::SingularCovariance {
                channel: 2,
                when: "t"
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("ridge"), "{err}");
    for options in [
        CovarianceOptions {
            ridge: 1e-3,
            ..Default::default()
        },
        CovarianceOptions {
            shrinkage: Shrinkage::LedoitWolf,
            ..Default::default()
        },
    ] {
        let cov = LaggedCovariance::estimate(&series, &options)
            .unwrap()
            .covariance;
        assert!(
            Measure::PhiSi
                .evaluate(&cov, &partition(3, &[vec![0], vec![1, 2]]))
                .unwrap()
                > 0.0
        );
    }
    // A constant channel stays singular: the ridge is relative to each variance.
    let data: Vec<f64> = base
        .as_slice()
        .chunks(2)
        .flat_map(|x| [x[0], 1.5])
        .collect();
    let constant = TimeSeries::new(data, 1, 200, 2).unwrap();
    let ridged = CovarianceOptions {
        ridge: 0.1,
        ..Default::default()
    };
    let err = LaggedCovariance::estimate(&constant, &ridged).unwrap_err();
    assert!(
        matches!(err, PhiError::SingularCovariance { channel: 1, .. }),
        "{err}"
    );
}

#[test]
fn bad_options_and_partitions_are_refused() {
    let (a, noise) = ar2();
    let series = simulate(&a, &noise, 1, 10, 5);
    for (options, needle) in [
        (
            CovarianceOptions {
                lag: 0,
                ..Default::default()
            },
            "lag 0",
        ),
        (
            CovarianceOptions {
                lag: 10,
                ..Default::default()
            },
            "lag 10",
        ),
        (
            CovarianceOptions {
                ridge: -1.0,
                ..Default::default()
            },
            "ridge",
        ),
        (
            CovarianceOptions {
                shrinkage: Shrinkage::Fixed(1.5),
                ..Default::default()
            },
            "shrinkage",
        ),
    ] {
        let err = LaggedCovariance::estimate(&series, &options).unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    }
    for parts in [
        vec![vec![0], vec![0, 1]],
        vec![vec![0]],
        vec![vec![0], vec![2]],
        vec![vec![0, 1], vec![]],
    ] {
        assert!(Partition::new(2, parts).is_err());
    }
    assert!(TimeSeries::new(vec![1.0, f64::NAN], 1, 1, 2).is_err());
    assert!(TimeSeries::new(vec![1.0; 5], 1, 2, 2).is_err());
}
