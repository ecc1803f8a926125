#!/usr/bin/env python3
"""Training speed and memory against PyTorch, both sides measured in the same run.

For each thread count (1 and 2) and each round, every workload runs once on our side
(`training_workloads`, benches/src/bin) and once on PyTorch's (tools/refgen/bench_gpt2_torch.py,
tools/refgen/bench_phi_torch.py), alternating which side goes first, each in its own process (so
each peak RSS is that workload's own). Workloads, GPT-2 small shapes, random weights, B=4 T=128:

  hybrid        hybrid training step (ours: PHI term with gradient; PyTorch: the original's
                reconstruction with the PHI term detached), memory 256, PHI 768/12
  lora          LoRA r=8 training step (LoRA-only)
  eval          evaluation forward with the last layer's attention and the logits
  phi_B4_T128, phi_B16_T256   PHI kernel forward + backward (train mode, D=768 H=12)
  gemm          our 512x768 by 768x3072 gemm, for the GFLOP/s ceiling

Writes a markdown table (median seconds per call, spread = min..max over all timed calls, ratio
PyTorch / ours, 2-thread speed-up over 1 thread, peak RSS) to stdout and to --out.

Usage (from the repository root, on a quiet machine; about 10-12 minutes):
    cargo build --release -p infinito-benches --bin training_workloads
    python3 tools/bench/compare_training.py [--rounds 2] [--steps 3] [--out target/compare_training.md]
                                            [--ours-env CANDLE_BARRIER_POOL_SPIN_LIMIT=0]

--ours-env KEY=VALUE (repeatable) sets an environment variable for our side only, to measure a
thread setting against the defaults (run the script once with and once without).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OURS = os.path.join(ROOT, "target", "release", "training_workloads")
PYTHON = os.environ.get("PYTHON", os.path.join("/work", "venv", "bin", "python"))
GPT2_WORKLOADS = ["hybrid", "lora", "eval"]
PHI_WORKLOADS = ["phi_B4_T128", "phi_B16_T256"]
# Nominal work of the LoRA and hybrid steps in GFLOP: forward plus input gradients of GPT-2 small at
# 512 tokens (blocks and tied head: 2 * 512 * 123.5M each way, attention 2 * 2.4 each way); no
# frozen weight gradients.
STEP_GFLOP = 2 * (2 * 512 * 123.5e6 + 2.4e9) / 1e9
GEMM_GFLOP = 2 * 512 * 768 * 3072 / 1e9


OURS_ENV = {}


def env_for(threads, ours=False):
    env = dict(os.environ)
    if ours:
        env.update(OURS_ENV)
    env["RAYON_NUM_THREADS"] = str(threads)
    env["OMP_NUM_THREADS"] = str(threads)
    env.pop("CANDLE_NUM_THREADS", None)
    return env


def run(cmd, threads, ours=False):
    out = subprocess.run(cmd, cwd=ROOT, env=env_for(threads, ours), capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return out.stdout


def ours(workload, threads, steps):
    line = run([OURS, workload, str(steps)], threads, ours=True).strip().splitlines()[-1]
    rec = json.loads(line)
    return rec["times_s"], rec["peak_rss_gb"]


def torch_gpt2(workload, threads, steps):
    line = run([PYTHON, "tools/refgen/bench_gpt2_torch.py", "--json", "--threads", str(threads),
                "--steps", str(steps), "--workload", workload], threads).strip().splitlines()[-1]
    rec = json.loads(line)
    return rec["times_s"], rec["peak_rss_gb"]


def torch_phi(workload, threads, steps):
    b, t = re.match(r"phi_B(\d+)_T(\d+)", workload).groups()
    text = run([PYTHON, "tools/refgen/bench_phi_torch.py", "--threads", str(threads), "--json",
                "--steps", str(steps), "--filter", f"phi_forward_backward_train/B{b}_T{t}"], threads)
    rec = json.loads(text.strip().splitlines()[-1])
    return rec["times_s"], float("nan")


def summary(times):
    return statistics.median(times), min(times), max(times)


def fmt_s(x):
    return f"{x * 1e3:.1f} ms" if x < 1 else f"{x:.2f} s"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3, help="timed calls per GPT-2 process")
    ap.add_argument("--phi-steps", type=int, default=10, help="timed calls per PHI process")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "compare_training.md"))
    ap.add_argument("--ours-env", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    for kv in args.ours_env:
        key, _, value = kv.partition("=")
        OURS_ENV[key] = value
    if not os.path.exists(OURS):
        sys.exit(f"{OURS} missing: cargo build --release -p infinito-benches --bin training_workloads")
    started = time.time()
    threads_list = [int(t) for t in args.threads.split(",")]
    times = {}  # (side, workload, threads) -> list of seconds
    rss = {}
    gemm = {}
    for rnd in range(args.rounds):
        for threads in threads_list:
            g, _ = ours("gemm", threads, 10)
            gemm.setdefault(threads, []).extend(g)
            for i, w in enumerate(GPT2_WORKLOADS + PHI_WORKLOADS):
                phi = w in PHI_WORKLOADS
                steps = args.phi_steps if phi else args.steps
                sides = [("ours", lambda: ours(w, threads, steps)),
                         ("torch", lambda: (torch_phi if phi else torch_gpt2)(w, threads, steps))]
                if (rnd + i) % 2:
                    sides.reverse()
                for side, fn in sides:
                    t, r = fn()
                    times.setdefault((side, w, threads), []).extend(t)
                    rss.setdefault((side, w, threads), []).append(r)
                    print(f"[{time.time() - started:5.0f} s] round {rnd + 1} {threads} thr {side:5} {w}: "
                          f"median {fmt_s(statistics.median(t))}", file=sys.stderr)

    lines = [f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
             f"{args.rounds} rounds alternating sides, {args.steps} timed calls per GPT-2 process and "
             f"{args.phi_steps} per PHI process after one warm-up; median (min..max over all calls). "
             f"Our side's extra environment: {OURS_ENV or 'none'}.",
             "",
             "| work | threads | ours | PyTorch | speed-up (PyTorch / ours) | peak RSS ours | peak RSS PyTorch |",
             "|---|---|---|---|---|---|---|"]
    for w in GPT2_WORKLOADS + PHI_WORKLOADS:
        for threads in threads_list:
            o, p = summary(times[("ours", w, threads)]), summary(times[("torch", w, threads)])
            ro, rp = max(rss[("ours", w, threads)]), max(rss[("torch", w, threads)])
            rss_cells = (f"{ro:.2f} GB", "n/a" if rp != rp else f"{rp:.2f} GB (x{ro / rp:.2f})")
            lines.append(f"| {w} | {threads} | {fmt_s(o[0])} ({fmt_s(o[1])}..{fmt_s(o[2])}) | "
                         f"{fmt_s(p[0])} ({fmt_s(p[1])}..{fmt_s(p[2])}) | {p[0] / o[0]:.2f}x | "
                         f"{rss_cells[0]} | {rss_cells[1]} |")
    lines += ["", "| work | ours 2 thr / 1 thr | PyTorch 2 thr / 1 thr |", "|---|---|---|"]
    if 1 in threads_list and 2 in threads_list:
        for w in GPT2_WORKLOADS + PHI_WORKLOADS:
            med = {k: statistics.median(v) for k, v in times.items()}
            lines.append(f"| {w} | {med[('ours', w, 1)] / med[('ours', w, 2)]:.2f}x | "
                         f"{med[('torch', w, 1)] / med[('torch', w, 2)]:.2f}x |")
    lines += ["", "| threads | gemm 512x768x3072 | LoRA step effective | hybrid step effective |",
              "|---|---|---|---|"]
    for threads in threads_list:
        g = GEMM_GFLOP / statistics.median(gemm[threads])
        lora = STEP_GFLOP / statistics.median(times[("ours", "lora", threads)])
        hyb = STEP_GFLOP / statistics.median(times[("ours", "hybrid", threads)])
        lines.append(f"| {threads} | {g:.0f} GFLOP/s | {lora:.0f} GFLOP/s ({100 * lora / g:.0f}%) | "
                     f"{hyb:.0f} GFLOP/s ({100 * hyb / g:.0f}%) |")
    lines += ["", f"Total run time {time.time() - started:.0f} s."]
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
