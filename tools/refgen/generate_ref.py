"""Reference greedy generations for the `generate` tool, produced with transformers and peft.

Loads the tiny random GPT-2 fixture (tiny-gpt2/) and its LoRA adapter (tiny-lora/) written by
gpt2_ref.py, and records `model.generate(do_sample=False)` for a few prompts, with and without a
repetition penalty, as token ids in generate_reference.json, with each new token's log-probability under the raw model
logits, the continuation's perplexity, distinct-1/2/3 and repeated-trigram rate. Prompts are given as text (tokenized
with GPT-2's tokenizer, built from the BPE files inside the tiktoken-rs crate) and as raw ids.

Usage: python tools/refgen/generate_ref.py [FIXTURE_DIR]   (default: crates/infinito-model/tests/fixtures)
"""

import json
import math
import os
import sys

import torch
from peft import PeftModel
from transformers import GPT2LMHeadModel, GPT2TokenizerFast

from gpt2_ref import gpt2_bpe_files

FIXTURES = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "..", "crates", "infinito-model", "tests", "fixtures")
EOS = 50256
MAX_NEW = 24
PENALTIES = [1.0, 1.3, 0.8]
TEXT_PROMPTS = ["The nature of consciousness", "In the beginning there was"]
ID_PROMPTS = [[464, 3450, 286, 10510, 318, 257], [40, 40, 40, 40]]


def tokenizer():
    vocab_file, merges_file = gpt2_bpe_files()
    with open(vocab_file, encoding="utf-8") as f:
        vocab = json.load(f)
    with open(merges_file, encoding="utf-8") as f:
        merges = [tuple(line.split()) for line in f.read().split("\n")[1:] if line.strip()]
    return GPT2TokenizerFast(vocab=vocab, merges=merges)


def greedy(model, ids, penalty):
    """New token ids and their log-probabilities under the raw (unprocessed) model logits."""
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             max_new_tokens=MAX_NEW, do_sample=False, repetition_penalty=penalty,
                             pad_token_id=EOS, eos_token_id=EOS, output_logits=True,
                             return_dict_in_generate=True)
    new = out.sequences[0, len(ids):]
    logp = torch.stack([torch.log_softmax(step[0].float(), dim=-1)[t] for step, t in zip(out.logits, new)])
    return new.tolist(), logp.tolist()


def quality(tokens, n=3):
    """distinct-1/2/3 and the rate of n-grams repeating an earlier one (same definitions as the tool)."""
    grams = lambda k: [tuple(tokens[i:i + k]) for i in range(len(tokens) - k + 1)]
    out = {f"distinct_{k}": len(set(grams(k))) / len(grams(k)) for k in (1, 2, 3)}
    seen, repeats = set(), 0
    for g in grams(n):
        repeats += g in seen
        seen.add(g)
    out["repeated_ngram_rate"] = repeats / len(grams(n))
    return out


def main():
    tok = tokenizer()
    base = GPT2LMHeadModel.from_pretrained(os.path.join(FIXTURES, "tiny-gpt2"), attn_implementation="eager").eval()
    models = {"base": base}
    lora = PeftModel.from_pretrained(GPT2LMHeadModel.from_pretrained(
        os.path.join(FIXTURES, "tiny-gpt2"), attn_implementation="eager"), os.path.join(FIXTURES, "tiny-lora")).eval()
    models["lora"] = lora
    prompts = [{"text": t, "ids": tok.encode(t)} for t in TEXT_PROMPTS] + [{"text": None, "ids": i} for i in ID_PROMPTS]
    cases = []
    for model_name, model in models.items():
        for prompt in prompts:
            for penalty in PENALTIES:
                new_ids, logprobs = greedy(model, prompt["ids"], penalty)
                cases.append({"model": model_name, "prompt_text": prompt["text"], "prompt_ids": prompt["ids"],
                              "repetition_penalty": penalty, "max_new_tokens": MAX_NEW, "eos_token_id": EOS,
                              "new_ids": new_ids, "logprobs": logprobs,
                              "perplexity": math.exp(-sum(logprobs) / len(logprobs)), **quality(new_ids)})
    path = os.path.join(FIXTURES, "generate_reference.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"transformers": __import__("transformers").__version__, "cases": cases}, f, indent=1)
    print("wrote", os.path.abspath(path), len(cases), "cases")


if __name__ == "__main__":
    main()
