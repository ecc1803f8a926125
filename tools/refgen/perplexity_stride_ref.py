"""Reference for the perplexity sliding window: the Hugging Face stride recipe
(https://huggingface.co/docs/transformers/perplexity) on the tiny GPT-2 fixture (n_positions 64)
over 100 seeded token ids, window 64 and stride 32, recording the log-probability of every
scored token at its position.

Usage: python tools/refgen/perplexity_stride_ref.py [FIXTURES_DIR]
       (default: crates/infinito-model/tests/fixtures; needs its tiny-gpt2/ from gpt2_ref.py)
"""

import json
import os
import sys

import torch
from transformers import GPT2LMHeadModel

FIXTURES = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "..", "crates", "infinito-model", "tests", "fixtures")


def main():
    model = GPT2LMHeadModel.from_pretrained(
        os.path.join(FIXTURES, "tiny-gpt2"), dtype=torch.float32).eval()
    assert model.dtype == torch.float32
    max_length = model.config.n_positions
    stride = max_length // 2
    g = torch.Generator().manual_seed(15)
    ids = torch.randint(0, model.config.vocab_size, (1, 100), generator=g)
    seq_len = ids.size(1)
    logprobs = [None] * (seq_len - 1)  # logprobs[i - 1] = log p(ids[i] | ids[<i])
    windows = []
    prev_end = 0
    for begin in range(0, seq_len, stride):
        end = min(begin + max_length, seq_len)
        trg_len = end - prev_end  # may differ from stride on the last window
        input_ids = ids[:, begin:end]
        target_ids = input_ids.clone()
        target_ids[:, :-trg_len] = -100
        with torch.no_grad():
            logits = model(input_ids).logits.float()
        logp = torch.log_softmax(logits[0, :-1], dim=-1)
        labels = target_ids[0, 1:]
        for j in range(labels.size(0)):
            if labels[j] != -100:
                pos = begin + j + 1
                assert logprobs[pos - 1] is None
                logprobs[pos - 1] = logp[j, labels[j]].item()
        windows.append([begin, end])
        prev_end = end
        if end == seq_len:
            break
    assert all(v is not None for v in logprobs)
    out = {
        "n_positions": max_length,
        "stride": stride,
        "windows": windows,
        "token_ids": ids[0].tolist(),
        "logprobs": logprobs,
    }
    path = os.path.join(FIXTURES, "perplexity_stride.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print(f"wrote {path}: windows {windows}")


if __name__ == "__main__":
    main()
