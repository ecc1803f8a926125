"""Reference numbers for infinito-train's AdamW, gradient clipping and ReduceLROnPlateau.

Runs torch.optim.AdamW(betas=(0.9, 0.98), weight_decay=0.01, lr=1e-3) with
torch.nn.utils.clip_grad_norm_(max_norm=1.0) for a few steps on small parameters with fixed
per-step gradients (some steps above the clip norm, one parameter without a gradient at one
step, the learning rate changed once), and torch's ReduceLROnPlateau on fixed sequences of
validation losses. Writes one safetensors file:

  tensors   init.{name}, grad.{step}.{name}, final.{name}, exp_avg.{name}, exp_avg_sq.{name}
  metadata  under "infinito": a JSON object with the hyper-parameters, the per-step learning
            rates, gradient-free parameters and pre-clip norms, the per-parameter step counts,
            and the plateau cases (config, metrics, learning rate after each step).

Usage: python tools/refgen/optim_ref.py [OUT]
(default OUT: crates/infinito-train/tests/fixtures/optim_ref.safetensors)
"""

import json
import os
import sys

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(
    HERE, "..", "..", "crates", "infinito-train", "tests", "fixtures", "optim_ref.safetensors"
)

SHAPES = {"layer.weight": (4, 3), "layer.bias": (4,), "head.w": (2, 3)}
GRAD_SCALES = [0.05, 0.5, 0.1, 1.0, 0.02, 0.3]  # pre-clip norms ~0.2 .. 4.7
NO_GRAD = {2: ["head.w"]}  # step index -> parameters whose gradient is None
LR_CHANGES = {4: 5e-4}  # step index -> learning rate set before that step
LR, BETAS, WEIGHT_DECAY, EPS, MAX_NORM = 1e-3, (0.9, 0.98), 0.01, 1e-8, 1.0


def adamw_case(tensors, meta):
    gen = torch.Generator().manual_seed(1234)
    params = {n: torch.nn.Parameter(torch.randn(s, generator=gen)) for n, s in SHAPES.items()}
    for n, p in params.items():
        tensors[f"init.{n}"] = p.detach().clone()
    opt = torch.optim.AdamW(
        list(params.values()), lr=LR, betas=BETAS, weight_decay=WEIGHT_DECAY, eps=EPS
    )
    norms, lrs, no_grad = [], [], []
    for step, scale in enumerate(GRAD_SCALES):
        if step in LR_CHANGES:
            for group in opt.param_groups:
                group["lr"] = LR_CHANGES[step]
        opt.zero_grad(set_to_none=True)
        skipped = NO_GRAD.get(step, [])
        for n, p in params.items():
            g = torch.randn(p.shape, generator=gen) * scale
            if n in skipped:
                continue
            tensors[f"grad.{step}.{n}"] = g.clone()
            p.grad = g
        total = torch.nn.utils.clip_grad_norm_(list(params.values()), MAX_NORM)
        opt.step()
        norms.append(float(total))
        lrs.append(opt.param_groups[0]["lr"])
        no_grad.append(skipped)
    state = opt.state_dict()["state"]
    steps = {}
    for i, (n, p) in enumerate(params.items()):
        tensors[f"final.{n}"] = p.detach().clone()
        tensors[f"exp_avg.{n}"] = state[i]["exp_avg"].clone()
        tensors[f"exp_avg_sq.{n}"] = state[i]["exp_avg_sq"].clone()
        steps[n] = int(state[i]["step"])
    meta["adamw"] = {
        "lr": LR,
        "betas": list(BETAS),
        "weight_decay": WEIGHT_DECAY,
        "eps": EPS,
        "max_norm": MAX_NORM,
        "names": list(SHAPES),
        "lrs": lrs,
        "no_grad": no_grad,
        "norms": norms,
        "steps": steps,
    }


PLATEAU_METRICS = [
    5.0, 4.0, 4.0, 3.9999, 4.1, 3.99, 3.98, 3.98, 3.98, 3.5, 3.6, 3.7, 3.8, 3.9, 3.2,
    3.2, 3.2, 3.2, 3.2, 3.2, 3.2, 3.2,
]
PLATEAU_CASES = [
    # the trainer's settings (torch defaults otherwise)
    dict(factor=0.5, patience=2, threshold=1e-4, cooldown=0, min_lr=0.0, eps=1e-8),
    # cooldown, min_lr floor, a coarse threshold and the eps cut-off
    dict(factor=0.1, patience=1, threshold=1e-2, cooldown=1, min_lr=1e-6, eps=1e-8),
]


def plateau_cases(meta):
    cases = []
    for cfg in PLATEAU_CASES:
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=2e-4)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="min", threshold_mode="rel", **cfg
        )
        lrs = []
        for m in PLATEAU_METRICS:
            sched.step(m)
            lrs.append(opt.param_groups[0]["lr"])
        cases.append({"config": cfg, "initial_lr": 2e-4, "metrics": PLATEAU_METRICS, "lrs": lrs})
    meta["plateau"] = cases


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    tensors, meta = {}, {"torch": torch.__version__}
    adamw_case(tensors, meta)
    plateau_cases(meta)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    save_file(tensors, out, metadata={"infinito": json.dumps(meta)})
    print(f"wrote {out}: {len(tensors)} tensors, norms {meta['adamw']['norms']}")


if __name__ == "__main__":
    main()
