"""Reference values for the Gaussian integrated-information measures (crates/infinito-phi/src/gaussian).

An independent implementation with numpy, scipy and scikit-learn, written from the papers:
stationary covariances from scipy.linalg.solve_discrete_lyapunov, log-determinants from
numpy.linalg.slogdet, Phi* by maximising the mismatched-decoding information written with
explicit inverses (scipy.optimize.minimize_scalar), Phi_G by BFGS over the within-part
connections (scipy.optimize.minimize), Ledoit-Wolf from sklearn.covariance, PCA from
numpy.linalg.eigh, and every bipartition enumerated with itertools.

    python tools/refgen/gaussian_ref.py        # writes crates/infinito-phi/tests/fixtures/gaussian_ref.json
                                               # and gaussian_hidden.safetensors

All values are in nats. A bipartition is written as its part without the last channel.
"""

import itertools
import json
import os

import numpy as np
from safetensors.numpy import save_file
from scipy.linalg import solve_discrete_lyapunov
from scipy.optimize import minimize, minimize_scalar
from sklearn.covariance import ledoit_wolf_shrinkage

FIXTURES = os.path.join(os.path.dirname(__file__), "../../crates/infinito-phi/tests/fixtures")
LN_2PI_E = np.log(2 * np.pi * np.e)


def logdet(m):
    sign, value = np.linalg.slogdet(m)
    assert sign > 0, "not positive definite"
    return value


def blocks(joint, n):
    return joint[:n, :n], joint[n:, n:], joint[:n, n:]  # present, past, cross = Cov(X_t, X_t-tau)


def entropy(cov):
    return 0.5 * (cov.shape[0] * LN_2PI_E + logdet(cov))


def cond_cov(joint, n, idx):
    """Cov(M_t | M_t-tau) for the channels idx."""
    present, past, cross = blocks(joint, n)
    p, q, c = present[np.ix_(idx, idx)], past[np.ix_(idx, idx)], cross[np.ix_(idx, idx)]
    return p - c @ np.linalg.inv(q) @ c.T


def mutual_info(joint, n, idx):
    present, past, _ = blocks(joint, n)
    return entropy(present[np.ix_(idx, idx)]) - entropy(cond_cov(joint, n, idx))


def phi_si(joint, n, parts):
    whole = entropy(cond_cov(joint, n, list(range(n))))
    return sum(entropy(cond_cov(joint, n, p)) for p in parts) - whole


def phi_mi(joint, n, parts):
    return mutual_info(joint, n, list(range(n))) - sum(mutual_info(joint, n, p) for p in parts)


def parts_mi(joint, n, parts):
    traj = lambda p: joint[np.ix_(p + [n + i for i in p], p + [n + i for i in p])]
    return sum(entropy(traj(p)) for p in parts) - entropy(joint)


def phi_star(joint, n, parts):
    present, past, cross = blocks(joint, n)
    a_d = np.zeros((n, n))
    s_d = np.zeros((n, n))
    for p in parts:
        ix = np.ix_(p, p)
        a_k = cross[ix] @ np.linalg.inv(past[ix])
        a_d[ix] = a_k
        s_d[ix] = present[ix] - a_k @ cross[ix].T
    driven = a_d @ past @ a_d.T
    resid = present - a_d @ cross.T - cross @ a_d.T + driven
    s_inv = np.linalg.inv(s_d)

    def i_tilde(beta):
        if beta <= 0:
            return 0.0
        return (
            0.5 * logdet(np.eye(n) + beta * s_inv @ driven)
            + 0.5 * np.trace(present @ np.linalg.inv(s_d / beta + driven))
            - 0.5 * beta * np.trace(s_inv @ resid)
        )

    res = minimize_scalar(lambda b: -i_tilde(b), bounds=(0.0, 50.0), method="bounded",
                          options={"xatol": 1e-12})
    beta = res.x if -res.fun > 0 else 0.0
    assert beta < 49.0, "beta at the bound"
    mi = mutual_info(joint, n, list(range(n)))
    return mi - max(i_tilde(beta), 0.0), beta


def phi_g(joint, n, parts):
    present, past, cross = blocks(joint, n)
    a = cross @ np.linalg.inv(past)
    noise = present - a @ cross.T
    mask = np.zeros((n, n), dtype=bool)
    for p in parts:
        mask[np.ix_(p, p)] = True

    def objective(free):
        a2 = np.zeros((n, n))
        a2[mask] = free
        d = a - a2
        m = noise + d @ past @ d.T
        grad = -2 * np.linalg.inv(m) @ d @ past
        return logdet(m), grad[mask]

    res = minimize(objective, a[mask], jac=True, method="BFGS", options={"gtol": 1e-13, "maxiter": 10000})
    return 0.5 * (res.fun - logdet(noise))


def bipartitions(n):
    for size in range(1, n):
        for part in itertools.combinations(range(n - 1), size):
            part = list(part)
            yield part, [c for c in range(n) if c not in part]


def measures(joint, n, with_phi_g=True):
    """Everything, for every bipartition."""
    present = joint[:n, :n]
    out = {
        "entropy": entropy(present),
        "multi_information": sum(entropy(present[[i]][:, [i]]) for i in range(n)) - entropy(present),
        "mutual_information": mutual_info(joint, n, list(range(n))),
        "bipartitions": [],
    }
    for part, rest in bipartitions(n):
        parts = [part, rest]
        star, beta = phi_star(joint, n, parts)
        entry = {
            "part": part,
            "phi_si": phi_si(joint, n, parts),
            "phi_mi": phi_mi(joint, n, parts),
            "parts_mutual_information": parts_mi(joint, n, parts),
            "phi_star": star,
            "phi_star_beta": beta,
            "part_entropies": [entropy(present[np.ix_(p, p)]) for p in parts],
        }
        if with_phi_g:
            entry["phi_g"] = phi_g(joint, n, parts)
        out["bipartitions"].append(entry)
    return out


def lagged_pairs(series, lag):
    """series: (B, T, n) -> (pairs, 2n) rows [x_t, x_t-lag]."""
    return np.concatenate([np.concatenate([s[lag:], s[:-lag]], axis=1) for s in series])


def estimate(series, lag, shrinkage):
    z = lagged_pairs(series, lag)
    cov = np.cov(z, rowvar=False)
    intensity = 0.0
    if shrinkage == "ledoit_wolf":
        u = (z - z.mean(0)) / np.sqrt(np.diag(cov))
        intensity = ledoit_wolf_shrinkage(u, assume_centered=True)
        off = ~np.eye(cov.shape[0], dtype=bool)
        cov[off] *= 1 - intensity
    return cov, intensity, z.shape[0]


def simulate(a, noise, batch, steps, rng):
    n = a.shape[0]
    s = solve_discrete_lyapunov(a, noise)
    chol = np.linalg.cholesky(noise)
    out = np.zeros((batch, steps, n))
    for b in range(batch):
        x = np.linalg.cholesky(s) @ rng.standard_normal(n)
        for t in range(steps):
            out[b, t] = x
            x = a @ x + chol @ rng.standard_normal(n)
    return out


def ar_case(name, a, noise, rng, batch=2, steps=100):
    a, noise = np.array(a), np.array(noise)
    n = a.shape[0]
    s = solve_discrete_lyapunov(a, noise)
    joint = np.block([[s, a @ s], [(a @ s).T, s]])
    series = simulate(a, noise, batch, steps, rng)
    case = {
        "name": name,
        "a": a.tolist(),
        "noise": noise.tolist(),
        "stationary": s.tolist(),
        "theory": measures(joint, n),
        "series": series.tolist(),
        "lag": 1,
        "estimated": {},
    }
    for shrinkage in ["none", "ledoit_wolf"]:
        cov, intensity, pairs = estimate(series, 1, shrinkage)
        m = measures(cov, n)
        m["shrinkage"] = intensity
        m["pairs"] = pairs
        m["joint"] = cov.tolist()
        case["estimated"][shrinkage] = m
    return case


def pca_channels(hidden, k):
    b, t, d = hidden.shape
    rows = hidden.reshape(-1, d)
    centred = rows - rows.mean(0)
    values, vectors = np.linalg.eigh(centred.T @ centred)
    axes = vectors[:, ::-1][:, :k]
    return (centred @ axes).reshape(b, t, k)


def group_channels(hidden, k):
    d = hidden.shape[2]
    bounds = [g * d // k for g in range(k + 1)]
    return np.stack([hidden[:, :, bounds[g]:bounds[g + 1]].mean(2) for g in range(k)], axis=2)


def hidden_case(rng):
    """Hidden states [2, 24, 12]: 3 coupled AR(1) sources mixed into 12 units, plus noise."""
    a = np.array([[0.6, 0.3, 0.0], [0.0, 0.5, 0.35], [0.25, 0.0, 0.55]])
    noise = np.array([[1.0, 0.2, 0.0], [0.2, 1.0, 0.1], [0.0, 0.1, 1.0]])
    sources = simulate(a, noise, 2, 24, rng) * np.array([3.0, 2.0, 1.2])
    mixing = rng.standard_normal((3, 12))
    hidden = (sources @ mixing + 0.3 * rng.standard_normal((2, 24, 12))).astype(np.float32)
    values = hidden.astype(np.float64)
    out = {"shape": list(hidden.shape), "modes": {}}
    for mode, k, channels in [
        ("pca", 3, pca_channels(values, 3)),
        ("groups", 5, group_channels(values, 5)),
        ("heads", 4, group_channels(values, 4)),
    ]:
        cov, _, pairs = estimate(channels, 1, "none")
        m = measures(cov, k)
        m["pairs"] = pairs
        out["modes"][mode] = {"channels": k, **m}
    return hidden, out


def main():
    rng = np.random.default_rng(20240611)
    cases = [
        ar_case("ar2", [[0.5, 0.3], [-0.2, 0.6]], [[1.0, 0.3], [0.3, 0.8]], rng),
        ar_case("ar3", [[0.4, 0.3, 0.0], [0.0, 0.5, -0.3], [0.2, 0.0, 0.3]],
                [[1.0, 0.2, 0.1], [0.2, 0.7, 0.0], [0.1, 0.0, 1.2]], rng),
    ]
    a5 = rng.standard_normal((5, 5))
    a5 *= 0.8 / np.max(np.abs(np.linalg.eigvals(a5)))
    l5 = rng.standard_normal((5, 5)) * 0.4 + np.eye(5)
    cases.append(ar_case("ar5", a5.tolist(), (l5 @ l5.T).tolist(), rng, batch=3, steps=60))
    hidden, hidden_ref = hidden_case(rng)
    os.makedirs(FIXTURES, exist_ok=True)
    with open(os.path.join(FIXTURES, "gaussian_ref.json"), "w") as f:
        json.dump({"cases": cases, "hidden": hidden_ref}, f, separators=(",", ":"))
    save_file({"hidden_state": hidden}, os.path.join(FIXTURES, "gaussian_hidden.safetensors"))


if __name__ == "__main__":
    main()
