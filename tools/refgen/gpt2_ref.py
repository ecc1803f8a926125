"""Reference fixtures for the GPT-2 + LoRA crate, produced with transformers and peft.

Builds a tiny random GPT-2 with the real GPT-2 vocabulary, a peft LoRA adapter with non-zero B,
and records logits, log-probabilities, attention maps, greedy generations and tokenizations that the
Rust tests compare against. Weights are rounded to float16 and stored as float16, so the fixture
stays small while both sides compute in float32 from identical values.

Usage: python tools/refgen/gpt2_ref.py [OUT_DIR]   (default: crates/infinito-model/tests/fixtures)
"""

import glob
import json
import os
import shutil
import sys

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "..", "crates", "infinito-model", "tests", "fixtures")
N_COLS = 128  # logit columns stored per position


def gpt2_bpe_files():
    """GPT-2's vocab.json / merges.txt as shipped inside the tiktoken-rs crate (encoder.json / vocab.bpe)."""
    hits = sorted(glob.glob(os.path.expanduser("~/.cargo/registry/src/*/tiktoken-rs-*/assets/encoder.json")))
    if not hits:
        sys.exit("tiktoken-rs sources not found under ~/.cargo/registry: run `cargo fetch` first")
    assets = os.path.dirname(hits[-1])
    return os.path.join(assets, "encoder.json"), os.path.join(assets, "vocab.bpe")


def round_to_f16(model):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())


def save_model_dir(model, path):
    os.makedirs(path, exist_ok=True)
    model.config.save_pretrained(path)
    state = {k: v.detach().half().contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    save_file(state, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})


def logit_rows(model, ids, cols):
    with torch.no_grad():
        out = model(torch.tensor(ids), output_attentions=True)
    logits = out.logits.float()
    logp = torch.log_softmax(logits, dim=-1)
    target = torch.tensor(ids)[:, 1:]
    token_logprobs = logp[:, :-1].gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return {
        "logits_cols": logits[:, :, cols].contiguous(),
        "logsumexp": torch.logsumexp(logits, dim=-1).contiguous(),
        "token_logprobs": token_logprobs.contiguous(),
        "attn_last": out.attentions[-1].contiguous(),
        "attn_first": out.attentions[0].contiguous(),
    }


def main():
    torch.manual_seed(1234)
    os.makedirs(OUT, exist_ok=True)
    vocab_file, merges_file = gpt2_bpe_files()
    with open(vocab_file, encoding="utf-8") as f:
        vocab = json.load(f)
    with open(merges_file, encoding="utf-8") as f:
        merges = [tuple(line.split()) for line in f.read().split("\n")[1:] if line.strip()]
    tok = GPT2TokenizerFast(vocab=vocab, merges=merges)

    config = GPT2Config(n_layer=2, n_embd=32, n_head=4, n_positions=64, vocab_size=50257,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    config._attn_implementation = "eager"
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # larger biases and LayerNorm affines than the default init, so bugs show
        for name, p in model.named_parameters():
            if name.endswith("bias") or "ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    round_to_f16(model)
    model_dir = os.path.join(OUT, "tiny-gpt2")
    save_model_dir(model, model_dir)

    ids = torch.randint(0, 50257, (2, 12)).tolist()
    cols = torch.randperm(50257)[:N_COLS].sort().values
    tensors = {"input_ids": torch.tensor(ids, dtype=torch.int64), "cols": cols.to(torch.int64)}
    tensors.update({f"base.{k}": v for k, v in logit_rows(model, ids, cols).items()})

    lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1, target_modules=["c_attn", "c_proj"],
                      task_type="CAUSAL_LM", bias="none")
    peft_model = get_peft_model(model, lora)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_" in name:
                p.copy_((0.3 * torch.randn_like(p)).half().float())
    peft_model.eval()
    adapter_dir = os.path.join(OUT, "tiny-lora")
    peft_model.save_pretrained(adapter_dir)
    os.remove(os.path.join(adapter_dir, "README.md"))
    tensors.update({f"lora.{k}": v for k, v in logit_rows(peft_model, ids, cols).items()})

    # gradients of the mean next-token cross-entropy w.r.t. every LoRA matrix (dropout off)
    peft_model.zero_grad()
    batch = torch.tensor(ids)
    logits = peft_model(batch).logits
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
    loss.backward()
    tensors["lora.loss"] = loss.detach().reshape(1)
    for name, p in peft_model.named_parameters():
        if "lora_" in name:
            tensors["grad." + name.replace(".default", "")] = p.grad.detach().clone()
    peft_model.zero_grad()

    prompt = ids[0][:5]
    with torch.no_grad():
        gen = peft_model.generate(torch.tensor([prompt]), max_new_tokens=20, do_sample=False,
                                  pad_token_id=50256, attention_mask=torch.ones(1, 5, dtype=torch.long))
    tensors["lora.greedy"] = gen[0].to(torch.int64)

    merged = peft_model.merge_and_unload()
    tensors.update({f"merged.{k}": v for k, v in logit_rows(merged, ids, cols).items()})
    save_file(tensors, os.path.join(OUT, "gpt2_reference.safetensors"))

    texts = [
        "Hello world",
        "  leading spaces and trailing   ",
        "tabs\tand\t\ttabs\nnew\n\nlines\r\nwindows",
        "unicode: héllo wörld, naïve café, 日本語のテキスト, emoji 🤖🚀, Ελληνικά",
        "contractions: I'm, you're, it's, we'll, they've, he'd",
        "numbers 1234567 3.14159 and punctuation!!! ...?? (x) [y] {z}",
        "whitespace runs:     five spaces,\n\n\n three newlines, \t\t tabs",
        "<|endoftext|>special token in the middle<|endoftext|>",
        " = Valkyria Chronicles III = \n Senjō no Valkyria 3 : Unrecorded Chronicles",
    ]
    cases = [{"text": t, "ids": tok.encode(t)} for t in texts]
    for c in cases:
        c["decoded"] = tok.decode(c["ids"])
    with open(os.path.join(OUT, "tokenizer_cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)

    # perplexity reference for --text on the adapter model
    text = texts[4]
    text_ids = tok.encode(text)
    rows = logit_rows(peft_model, [text_ids], cols)
    with open(os.path.join(OUT, "perplexity_text.json"), "w", encoding="utf-8") as f:
        lp = rows["token_logprobs"][0].tolist()
        json.dump({"text": text, "token_ids": text_ids, "logprobs": lp}, f, ensure_ascii=False)
    print("fixtures written to", os.path.abspath(OUT))


if __name__ == "__main__":
    main()
