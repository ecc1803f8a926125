"""PyTorch + peft side of the GPT-2 benchmark (crates/infinito-model/benches/gpt2_step.rs).

GPT-2 small (random init), LoRA r=8 / alpha 32 / dropout 0.1 on c_attn and c_proj, batch 4 x 128
tokens, 2 threads: one evaluation forward (logits + last-layer attention) and one training step
(forward with attentions, cross-entropy, backward, AdamW). Prints seconds per call and peak RSS.

Usage: python tools/refgen/bench_gpt2_torch.py [--steps N] [--device cuda]
"""

import argparse
import resource
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.set_num_threads(2)
    torch.manual_seed(0)
    config = GPT2Config()
    config._attn_implementation = "eager"
    model = get_peft_model(GPT2LMHeadModel(config), LoraConfig(
        r=8, lora_alpha=32, lora_dropout=0.1, target_modules=["c_attn", "c_proj"], task_type="CAUSAL_LM"))
    model = model.to(device)
    ids = (torch.arange(4 * 129) * 7919 % 50257).reshape(4, 129).to(device)
    inputs, labels = ids[:, :-1], ids[:, 1:]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4,
                            betas=(0.9, 0.98), weight_decay=0.01)

    model.eval()
    with torch.no_grad():
        model(inputs, output_attentions=True)
        sync()
        t = time.perf_counter()
        for _ in range(args.steps):
            model(inputs, output_attentions=True)
        sync()
        fwd = (time.perf_counter() - t) / args.steps

    model.train()

    def step():
        out = model(inputs, output_attentions=True)
        loss = torch.nn.functional.cross_entropy(out.logits.reshape(-1, 50257), labels.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    sync()
    t = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync()
    train = (time.perf_counter() - t) / args.steps
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(f"torch {torch.__version__}: forward_eval {fwd:.3f} s, train_step {train:.3f} s "
          f"({4 * 128 / train:.0f} tok/s), peak RSS {rss:.2f} GB")


if __name__ == "__main__":
    main()
