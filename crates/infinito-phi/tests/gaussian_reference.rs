//! The Gaussian measures against the independent numpy / scipy / scikit-learn implementation of
//! tools/refgen/gaussian_ref.py (fixtures gaussian_ref.json and gaussian_hidden.safetensors).

use candle_core::Device;
use infinito_phi::gaussian::{
    gaussian_phi, minimum_information_bipartition, phi_g, phi_star, ChannelMode, CovarianceOptions,
    GaussianOptions, LaggedCovariance, Matrix, Measure, Partition, Search, SearchOptions,
    Shrinkage, TimeSeries,
};
use infinito_testutil::fixture;
use serde_json::Value;

fn reference() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture!("gaussian_ref.json")).unwrap()).unwrap()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

fn matrix(v: &Value) -> Matrix {
    let rows: Vec<Vec<f64>> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(f).collect())
        .collect();
    Matrix::from_rows(&rows).unwrap()
}

fn indices(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap() as usize)
        .collect()
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol * want.abs().max(1.0),
        "{what}: {got} vs {want}"
    );
}

/// Every measure of `cov` against the reference `r` (entropy, informations, each bipartition).
fn check_measures(cov: &LaggedCovariance, r: &Value, what: &str) {
    let n = cov.channels();
    let all: Vec<usize> = (0..n).collect();
    close(cov.entropy(&all).unwrap(), f(&r["entropy"]), 1e-10, what);
    close(
        cov.multi_information().unwrap(),
        f(&r["multi_information"]),
        1e-10,
        what,
    );
    close(
        cov.mutual_information().unwrap(),
        f(&r["mutual_information"]),
        1e-10,
        what,
    );
    let bips = r["bipartitions"].as_array().unwrap();
    assert_eq!(bips.len(), (1 << (n - 1)) - 1);
    for b in bips {
        let part = indices(&b["part"]);
        let p = Partition::bipartition(n, &part).unwrap();
        let at = |name: &str| format!("{what}: {name} across {part:?}");
        for (measure, key) in [
            (Measure::PhiSi, "phi_si"),
            (Measure::PhiMi, "phi_mi"),
            (Measure::PartsMutualInformation, "parts_mutual_information"),
        ] {
            close(
                measure.evaluate(cov, &p).unwrap(),
                f(&b[key]),
                1e-9,
                &at(key),
            );
        }
        let star = phi_star(cov, &p).unwrap();
        close(star.value, f(&b["phi_star"]), 1e-9, &at("phi_star"));
        close(star.beta, f(&b["phi_star_beta"]), 1e-5, &at("beta"));
        close(
            phi_g(cov, &p).unwrap().value,
            f(&b["phi_g"]),
            1e-8,
            &at("phi_g"),
        );
        let rest: Vec<usize> = all.iter().copied().filter(|c| !part.contains(c)).collect();
        let want = b["part_entropies"].as_array().unwrap();
        close(
            cov.entropy(&part).unwrap(),
            f(&want[0]),
            1e-10,
            &at("part entropy"),
        );
        close(
            cov.entropy(&rest).unwrap(),
            f(&want[1]),
            1e-10,
            &at("rest entropy"),
        );
    }
}

/// The reference bipartition with the smallest `key`.
fn reference_mib<'a>(r: &'a Value, key: &str) -> &'a Value {
    r["bipartitions"]
        .as_array()
        .unwrap()
        .iter()
        .min_by(|a, b| f(&a[key]).total_cmp(&f(&b[key])))
        .unwrap()
}

#[test]
fn exact_ar1_covariances_match_the_reference() {
    for case in reference()["cases"].as_array().unwrap() {
        let s = matrix(&case["stationary"]);
        let cross = matrix(&case["a"]).matmul(&s);
        let cov = LaggedCovariance::from_blocks(&s, &s, &cross).unwrap();
        check_measures(&cov, &case["theory"], case["name"].as_str().unwrap());
    }
}

fn series(v: &Value) -> TimeSeries {
    let seqs = v.as_array().unwrap();
    let steps = seqs[0].as_array().unwrap();
    let n = steps[0].as_array().unwrap().len();
    let data: Vec<f64> = seqs
        .iter()
        .flat_map(|s| s.as_array().unwrap().iter())
        .flat_map(|x| x.as_array().unwrap().iter().map(f))
        .collect();
    TimeSeries::new(data, seqs.len(), steps.len(), n).unwrap()
}

#[test]
fn estimates_match_numpy_and_scikit_learn() {
    for case in reference()["cases"].as_array().unwrap() {
        let data = series(&case["series"]);
        for (key, shrinkage) in [
            ("none", Shrinkage::None),
            ("ledoit_wolf", Shrinkage::LedoitWolf),
        ] {
            let r = &case["estimated"][key];
            let what = format!("{} ({key})", case["name"]);
            let options = CovarianceOptions {
                lag: 1,
                shrinkage,
                ridge: 0.0,
            };
            let est = LaggedCovariance::estimate(&data, &options).unwrap();
            assert_eq!(est.pairs as u64, r["pairs"].as_u64().unwrap(), "{what}");
            close(est.shrinkage, f(&r["shrinkage"]), 1e-12, &what);
            let want = matrix(&r["joint"]);
            for (g, w) in est
                .covariance
                .joint()
                .as_slice()
                .iter()
                .zip(want.as_slice())
            {
                close(*g, *w, 1e-12, &format!("{what}: joint covariance"));
            }
            check_measures(&est.covariance, r, &what);
            let n = data.channels();
            for (measure, name) in [(Measure::PhiSi, "phi_si"), (Measure::PhiMi, "phi_mi")] {
                let options = SearchOptions {
                    measure,
                    search: Search::Exhaustive,
                    normalise: false,
                };
                let mib = minimum_information_bipartition(&est.covariance, &options).unwrap();
                let best = reference_mib(r, name);
                let want = Partition::bipartition(n, &indices(&best["part"])).unwrap();
                assert_eq!(mib.partition, want, "{what}: MIB of {name}");
                close(mib.value, f(&best[name]), 1e-9, &what);
            }
        }
    }
}

#[test]
fn hidden_state_channels_match_the_reference() {
    let tensors =
        candle_core::safetensors::load(fixture!("gaussian_hidden.safetensors"), &Device::Cpu)
            .unwrap();
    let hidden = &tensors["hidden_state"];
    let reference = reference();
    for (name, mode) in [
        ("pca", ChannelMode::Pca),
        ("groups", ChannelMode::Groups),
        ("heads", ChannelMode::Heads),
    ] {
        let r = &reference["hidden"]["modes"][name];
        let options = GaussianOptions {
            channels: r["channels"].as_u64().unwrap() as usize,
            mode,
            ..Default::default()
        };
        let report = gaussian_phi(hidden, &options).unwrap();
        let what = format!("hidden states, {name}");
        assert_eq!(report.pairs as u64, r["pairs"].as_u64().unwrap());
        close(report.entropy, f(&r["entropy"]), 1e-8, &what);
        close(
            report.multi_information,
            f(&r["multi_information"]),
            1e-8,
            &what,
        );
        close(
            report.mutual_information,
            f(&r["mutual_information"]),
            1e-8,
            &what,
        );
        let best = reference_mib(r, "phi_si");
        let want = Partition::bipartition(options.channels, &indices(&best["part"])).unwrap();
        assert_eq!(report.mib.partition, want, "{what}: MIB");
        close(report.phi_si, f(&best["phi_si"]), 1e-8, &what);
        close(report.phi_mi, f(&best["phi_mi"]), 1e-8, &what);
        close(report.phi_star.value, f(&best["phi_star"]), 1e-8, &what);
        close(report.phi_g.unwrap().value, f(&best["phi_g"]), 1e-7, &what);
        // The reference lists the part without the last channel first; parts are sorted here.
        let first = usize::from(report.mib.partition.parts()[0] != indices(&best["part"]));
        let want = best["part_entropies"].as_array().unwrap();
        close(report.part_entropies[first], f(&want[0]), 1e-8, &what);
        close(report.part_entropies[1 - first], f(&want[1]), 1e-8, &what);
    }
}
