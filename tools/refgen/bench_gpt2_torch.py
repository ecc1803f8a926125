"""PyTorch + peft side of the GPT-2 benchmark (benches/gpt2_step.rs, tools/bench/compare_training.py).

GPT-2 small (random init), LoRA r=8 / alpha 32 / dropout 0.1 on c_attn and c_proj, batch 4 x 128
tokens. Workloads:

  eval    one evaluation forward (logits + last-layer attention), no grad
  lora    one LoRA training step (forward with attentions, cross-entropy, backward, clipping at 1.0,
          AdamW)
  hybrid  one step of the original hybrid (spec §1, reconstructed as in hybrid_ref.py): GPT-2 +
          LoRA with hidden states and attentions, the PHI-guided memory of 256 slots (empty, as in
          the original, so the read-out is zero), the exploration noise, the LM head on the
          enhanced state, the learned PHI (D=768, H=12) on it with its graph, and the loss
          `LM + 0.6 * (6 - mean PHI)` whose PHI term is a detached float, as in the original;
          backward, clipping at 1.0, AdamW over every parameter

Prints seconds per call and peak RSS, or with --json one JSON object per workload with every
timed call.

Usage: python tools/refgen/bench_gpt2_torch.py [--steps N] [--threads T] [--workload eval,lora,hybrid] [--json] [--device cuda]
"""

import argparse
import json
import math
import os
import resource
import sys
import time

import torch
from torch import nn
from peft import LoraConfig, get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel

sys.path.insert(0, os.path.dirname(__file__))
from phi_ref import ImprovedIITMetricsV2  # noqa: E402

BATCH, SEQ, VOCAB = 4, 128, 50257
MEMORY_SLOTS, TOP_K, MEMORY_SCALE = 256, 5, 0.4
W_TEXT, W_PHI, PHI_TARGET = 1.0, 0.6, 6.0


class Memory(nn.Module):
    """IITGuidedMemory's read path (spec §2.3): empty in the original, so the read-out is zero."""

    def __init__(self, dim, slots):
        super().__init__()
        self.threshold_logit = nn.Parameter(torch.tensor(math.log(3.0)))
        self.query_proj = nn.Linear(dim, dim)
        self.key_proj = nn.Linear(dim, dim)
        self.register_buffer("memory_keys", torch.zeros(slots, dim))
        self.register_buffer("memory_values", torch.zeros(slots, dim))
        self.register_buffer("phi_scores", torch.zeros(slots))
        self.register_buffer("write_count", torch.tensor(0))

    def read(self, query):
        qp = self.query_proj(query)
        sim = qp @ self.memory_keys.t() / math.sqrt(qp.shape[-1])
        score = 0.7 * sim + 0.3 * self.phi_scores / (self.phi_scores.max() + 1e-8)
        if int(self.write_count) == 0:
            return torch.zeros(query.shape[0], TOP_K, query.shape[-1])
        top, idx = score.topk(TOP_K, dim=-1)
        return self.memory_values[idx]


class Hybrid(nn.Module):
    def __init__(self, gpt2):
        super().__init__()
        self.gpt2 = gpt2
        self.memory = Memory(768, MEMORY_SLOTS)
        self.iit_metrics = ImprovedIITMetricsV2(hidden_dim=768, num_heads=12)
        self.adaptive_scale = nn.Parameter(torch.tensor(0.1))

    def forward(self, ids):
        out = self.gpt2.base_model.model.transformer(ids, output_attentions=True)
        h = out.last_hidden_state
        q = h.mean(1)
        m = self.memory.read(q).mean(1, keepdim=True).expand_as(h)
        m = m + torch.randn_like(h) * self.adaptive_scale
        e = h + MEMORY_SCALE * m
        logits = self.gpt2.base_model.model.lm_head(e)
        phi = self.iit_metrics(e, out.attentions[-1])["phi_estimate"]
        return logits, phi


def peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def lora_gpt2():
    config = GPT2Config()
    config._attn_implementation = "eager"
    return get_peft_model(GPT2LMHeadModel(config), LoraConfig(
        r=8, lora_alpha=32, lora_dropout=0.1, target_modules=["c_attn", "c_proj"], task_type="CAUSAL_LM"))


def optimizer(params):
    return torch.optim.AdamW(params, lr=2e-4, betas=(0.9, 0.98), weight_decay=0.01)


def workload(name, inputs, labels, device):
    """A zero-argument function doing one call of the workload."""
    model = lora_gpt2().to(device)
    if name == "eval":
        model.eval()

        def call():
            with torch.no_grad():
                model(inputs, output_attentions=True)
        return call
    if name == "lora":
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = optimizer(params)

        def call():
            out = model(inputs, output_attentions=True)
            loss = nn.functional.cross_entropy(out.logits.reshape(-1, VOCAB), labels.reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
        return call
    if name == "hybrid":
        hybrid = Hybrid(model).to(device)
        hybrid.train()
        params = [p for p in hybrid.parameters() if p.requires_grad]
        opt = optimizer(params)

        def call():
            logits, phi = hybrid(inputs)
            lm = nn.functional.cross_entropy(logits.reshape(-1, VOCAB), labels.reshape(-1))
            phi_term = torch.tensor(PHI_TARGET - phi.mean().item(), requires_grad=True, device=device)
            loss = W_TEXT * lm + W_PHI * phi_term
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
        return call
    raise SystemExit(f"unknown workload {name!r}: expected eval, lora or hybrid")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workload", default="eval,lora", help="comma-separated: eval, lora, hybrid")
    parser.add_argument("--json", action="store_true", help="one JSON object per workload")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ids = (torch.arange(BATCH * (SEQ + 1)) * 7919 % VOCAB).reshape(BATCH, SEQ + 1)
    inputs, labels = ids[:, :-1].to(device), ids[:, 1:].to(device)
    for name in args.workload.split(","):
        call = workload(name, inputs, labels, device)
        call()  # warm-up
        sync()
        times = []
        for _ in range(args.steps):
            t = time.perf_counter()
            call()
            sync()
            times.append(time.perf_counter() - t)
        if args.json:
            print(json.dumps({"side": "torch", "workload": name, "threads": args.threads,
                              "times_s": times, "peak_rss_gb": peak_rss_gb(),
                              "version": torch.__version__}))
        else:
            mean = sum(times) / len(times)
            print(f"torch {torch.__version__}: {name} {mean:.3f} s per call, peak RSS {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    main()
