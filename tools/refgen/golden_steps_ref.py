"""Golden multi-step training reference (in the style of llm.c's test_gpt2.c): ten training steps of
the tiny GPT-2 + LoRA fixture with transformers + peft, on fixed batches, dropout off,
torch.optim.AdamW and clip_grad_norm_(1.0). The Rust test runs the same ten steps and compares
every step's loss and the final LoRA weights.

Reads crates/infinito-model/tests/fixtures/{tiny-gpt2,tiny-lora} (written by gpt2_ref.py) and writes
one safetensors file:

  tensors   batch.{step} (2 x 13 token ids: inputs are [:, :-1], labels [:, 1:]),
            loss (10), grad_norm (10, before clipping), final.{name} (each LoRA matrix after
            the last step, peft's names without ".default")
  metadata  under "infinito": a JSON object with the optimizer settings

Usage: python tools/refgen/golden_steps_ref.py [OUT]
(default OUT: crates/infinito-train/tests/fixtures/golden_steps.safetensors)
"""

import json
import os
import sys

import torch
from peft import PeftConfig, PeftModel
from safetensors.torch import save_file
from transformers import GPT2LMHeadModel

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
FIXTURES = os.path.join(ROOT, "crates", "infinito-model", "tests", "fixtures")
DEFAULT_OUT = os.path.join(ROOT, "crates", "infinito-train", "tests", "fixtures", "golden_steps.safetensors")

STEPS, BATCH, SEQ = 10, 2, 12
LR, BETAS, EPS, WEIGHT_DECAY, MAX_NORM = 1e-3, (0.9, 0.999), 1e-8, 0.01, 1.0


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    torch.manual_seed(0)
    base = GPT2LMHeadModel.from_pretrained(os.path.join(FIXTURES, "tiny-gpt2"), torch_dtype=torch.float32)
    adapter_dir = os.path.join(FIXTURES, "tiny-lora")
    config = PeftConfig.from_pretrained(adapter_dir)
    config.lora_dropout = 0.0
    model = PeftModel.from_pretrained(base, adapter_dir, config=config, is_trainable=True)
    model.train()
    params = [p for n, p in model.named_parameters() if p.requires_grad]
    assert all("lora_" in n for n, p in model.named_parameters() if p.requires_grad)
    opt = torch.optim.AdamW(params, lr=LR, betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY)

    gen = torch.Generator().manual_seed(2024)
    tensors, losses, norms = {}, [], []
    for step in range(STEPS):
        batch = torch.randint(0, 50257, (BATCH, SEQ + 1), generator=gen)
        tensors[f"batch.{step}"] = batch.clone()
        opt.zero_grad(set_to_none=True)
        logits = model(batch[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(params, MAX_NORM)))
        opt.step()
        losses.append(loss.item())
    tensors["loss"] = torch.tensor(losses, dtype=torch.float32)
    tensors["grad_norm"] = torch.tensor(norms, dtype=torch.float32)
    for name, p in model.named_parameters():
        if p.requires_grad:
            tensors["final." + name.replace(".default", "")] = p.detach().clone().contiguous()
    meta = {"lr": LR, "betas": BETAS, "eps": EPS, "weight_decay": WEIGHT_DECAY, "max_norm": MAX_NORM}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    save_file(tensors, out, metadata={"infinito": json.dumps(meta)})
    print("losses", [round(x, 6) for x in losses])
    print("grad norms", [round(x, 4) for x in norms])
    print("written", os.path.abspath(out))


if __name__ == "__main__":
    main()
