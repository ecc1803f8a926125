"""Hugging Face side of the generation benchmark (benches/generate.rs).

GPT-2 small (random init), batch 1, a 10-token prompt, greedy decoding of exactly 100 new tokens
with the KV cache (`generate(max_new_tokens=100, min_new_tokens=100, do_sample=False)`), 2 threads.
Prints seconds per generation and tokens per second (prompt processing included).

Usage: python tools/refgen/bench_generate_hf.py [--runs N]
"""

import argparse
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

NEW_TOKENS = 100


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config()).eval()
    prompt = (torch.arange(10) * 7919 % 50257).reshape(1, 10)
    mask = torch.ones_like(prompt)

    def run():
        with torch.no_grad():
            out = model.generate(prompt, attention_mask=mask, max_new_tokens=NEW_TOKENS,
                                 min_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=50256)
        assert out.shape[1] == 10 + NEW_TOKENS

    run()
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    best, mean = min(times), sum(times) / len(times)
    print(f"HF generate, {NEW_TOKENS} new tokens from 10, 2 threads: mean {mean:.3f} s "
          f"({NEW_TOKENS / mean:.1f} tok/s), best {best:.3f} s ({NEW_TOKENS / best:.1f} tok/s)")


if __name__ == "__main__":
    main()
