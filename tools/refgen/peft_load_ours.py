"""Loads the LoRA adapter that infinito-rs saves (crates/infinito-model/tests/fixtures/ours-lora,
written by our `Adapter::save` from the peft-made tiny-lora) with peft onto the tiny GPT-2, checks
that every tensor is taken (no unexpected or missing LoRA keys) and that its config parses, and
records peft's token log-probabilities and first logit columns for the Rust test to compare.

Refresh ours-lora first with
    INFINITO_WRITE_FIXTURES=1 cargo test -p infinito-model --test peft_adapter
Usage: python tools/refgen/peft_load_ours.py [FIXTURES_DIR]
"""

import json
import os
import sys

import torch
from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
from safetensors.torch import load_file
from transformers import GPT2LMHeadModel

FIXTURES = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "..", "crates", "infinito-model", "tests", "fixtures")
N_COLS = 16


def main():
    ours = os.path.join(FIXTURES, "ours-lora")
    base = GPT2LMHeadModel.from_pretrained(os.path.join(FIXTURES, "tiny-gpt2"), dtype=torch.float32)
    config = LoraConfig.from_pretrained(ours)
    model = get_peft_model(base, config)
    state = load_file(os.path.join(ours, "adapter_model.safetensors"))
    result = set_peft_model_state_dict(model, state)
    assert not result.unexpected_keys, result.unexpected_keys
    missing = [k for k in result.missing_keys if "lora_" in k]
    assert not missing, missing
    assert any(v.abs().sum() > 0 for k, v in state.items() if "lora_B" in k), "B is all zero"
    model.eval()
    g = torch.Generator().manual_seed(16)
    ids = torch.randint(0, base.config.vocab_size, (1, 12), generator=g)
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float()[0]
    logp = torch.log_softmax(logits, dim=-1)
    token_logprobs = logp[:-1].gather(-1, ids[0, 1:].unsqueeze(-1)).squeeze(-1)
    out = {
        "peft_config": {k: v for k, v in config.to_dict().items()
                        if k in ("r", "lora_alpha", "target_modules", "fan_in_fan_out", "bias",
                                 "peft_type", "use_rslora", "use_dora")},
        "token_ids": ids[0].tolist(),
        "token_logprobs": token_logprobs.tolist(),
        "logits_cols": logits[:, :N_COLS].tolist(),
    }
    out["peft_config"]["target_modules"] = sorted(out["peft_config"]["target_modules"])
    out["peft_config"]["peft_type"] = str(getattr(config.peft_type, "value", config.peft_type))
    path = os.path.join(FIXTURES, "ours_lora_peft.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print(f"wrote {path}: {len(state)} tensors loaded by peft")


if __name__ == "__main__":
    main()
