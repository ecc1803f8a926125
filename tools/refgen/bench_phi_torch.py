"""PyTorch timings of the learned PHI for comparison with `cargo bench --bench phi_kernel`.

Same shapes and cases as benches/phi_kernel.rs: D=768, H=12, default widths;
(B=4, T=128) and (B=16, T=256); `phi_forward_eval` (eval mode, no grad) and
`phi_forward_backward_train` (train mode, dropout 0.1, backward of phi_estimate.mean() into every
parameter; the inputs need no gradient).

    python tools/refgen/bench_phi_torch.py [--threads 2] [--filter phi_forward_eval/B4_T128]
                                           [--steps N --json] [--device cuda]

With --steps, each case is timed N times after one warm-up (instead of for at least 3 s); with
--json, each case prints one JSON object with every timed call (tools/bench/compare_training.py).
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from phi_ref import ImprovedIITMetricsV2, causal_attention  # noqa: E402

SHAPES = [(4, 128), (16, 256)]


def timed(fn, steps=None, min_time=3.0, min_iters=10, sync=lambda: None):
    """Seconds of each call after a warm-up: `steps` calls, or at least 3 s and 10 calls."""
    fn()  # warm-up
    sync()
    times = []
    start = time.perf_counter()
    while (len(times) < steps) if steps else (len(times) < min_iters or time.perf_counter() - start < min_time):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--filter", default="", help="only the cases whose name contains this")
    ap.add_argument("--steps", type=int, default=None, help="timed calls per case")
    ap.add_argument("--json", action="store_true", help="one JSON object per case")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    args = ap.parse_args()
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = ImprovedIITMetricsV2(768, 12).to(device)
    if not args.json:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    for b, t in SHAPES:
        if args.filter and f"B{b}_T{t}" not in args.filter and "/" in args.filter:
            continue
        x = torch.randn(b, t, 768, generator=gen).to(device)
        a = causal_attention(b, 12, t, gen).to(device)

        def fwd():
            model.eval()
            with torch.no_grad():
                model(x, a)

        def fwd_bwd():
            model.train()
            model.zero_grad(set_to_none=True)
            model(x, a)["phi_estimate"].mean().backward()

        for name, fn in (("phi_forward_eval", fwd), ("phi_forward_backward_train", fwd_bwd)):
            case = f"{name}/B{b}_T{t}"
            if args.filter not in case:
                continue
            times = timed(fn, args.steps, sync=sync)
            if args.json:
                print(json.dumps({"side": "torch", "workload": case, "threads": args.threads, "times_s": times}))
            else:
                median, best = statistics.median(times) * 1e3, min(times) * 1e3
                print(f"{case}: {median:.1f} ms median, {best:.1f} ms min ({len(times)} runs)")


if __name__ == "__main__":
    main()
