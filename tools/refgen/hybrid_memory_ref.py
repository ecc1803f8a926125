"""The hybrid's evaluation forward with a filled memory, computed in PyTorch from the corrected
formulas, on the original-format checkpoint of hybrid_ref.py with 10 of its 16 memory slots
filled (seeded keys, values and PHI):

    query   = mean over positions of the last hidden state h          (B, D)
    q       = memory.query_proj(query)
    score_j = 0.7 * q . key_j / sqrt(D) + 0.3 * phi_j / (max phi + 1e-8)   over filled slots j
    w       = softmax of the top-5 scores;  readout = sum w_j value_j
    h'      = h + 0.4 * readout (every position);  logits = h' @ wte^T;  PHI(h', attention)

Writes original_hybrid_filled.pt and original_hybrid_filled_expected.safetensors.
Usage: python tools/refgen/hybrid_memory_ref.py [FIXTURES_DIR]   (needs original_hybrid.pt)
"""

import math
import os
import sys

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel

sys.path.insert(0, os.path.dirname(__file__))
from hybrid_ref import Hybrid  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "..", "crates", "infinito-model", "tests", "fixtures")
FILLED, TOP_K, SIMILARITY, SCALE = 10, 5, 0.7, 0.4


def main():
    saved = torch.load(os.path.join(OUT, "original_hybrid.pt"), weights_only=False)
    config = GPT2Config(n_layer=2, n_embd=32, n_head=4, n_positions=64, vocab_size=512)
    config._attn_implementation = "eager"
    lora = LoraConfig(r=4, lora_alpha=16, lora_dropout=0.1, target_modules=["c_attn", "c_proj"],
                      task_type="CAUSAL_LM", bias="none")
    model = Hybrid(get_peft_model(GPT2LMHeadModel(config), lora), 32, 4, memory_slots=16)
    model.load_state_dict(saved["model_state_dict"])
    model.eval()
    g = torch.Generator().manual_seed(9)
    mem = model.memory
    with torch.no_grad():
        mem.memory_keys[:FILLED] = torch.randn(FILLED, 32, generator=g)
        mem.memory_values[:FILLED] = torch.randn(FILLED, 32, generator=g)
        mem.phi_scores[:FILLED] = 3.0 + 5.0 * torch.rand(FILLED, generator=g)
        mem.write_count.fill_(FILLED)
        mem.global_time.fill_(4)
    ids = torch.randint(0, 512, (3, 12), generator=g)
    with torch.no_grad():
        out = model.gpt2(ids, output_hidden_states=True, output_attentions=True)
        h = out.hidden_states[-1]
        q = mem.query_proj(h.mean(1))
        keys, values = mem.memory_keys[:FILLED], mem.memory_values[:FILLED]
        phi = mem.phi_scores[:FILLED]
        scores = SIMILARITY * (q @ keys.T) / math.sqrt(32) + (1 - SIMILARITY) * phi / (phi.max() + 1e-8)
        top, idx = scores.topk(TOP_K, dim=-1)
        w = torch.softmax(top, dim=-1)
        readout = (w.unsqueeze(-1) * values[idx]).sum(1)
        enhanced = h + SCALE * readout.unsqueeze(1)
        wte = model.gpt2.base_model.model.transformer.wte.weight
        logits = enhanced @ wte.T
        comps = model.iit_metrics(hidden_state=enhanced, attention_weights=out.attentions[-1])
    saved["model_state_dict"] = model.state_dict()
    torch.save(saved, os.path.join(OUT, "original_hybrid_filled.pt"))
    logp = torch.log_softmax(logits, -1)[:, :-1].gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    expected = {
        "input_ids": ids,
        "readout": readout.contiguous(),
        "logits_lse": torch.logsumexp(logits, -1).contiguous(),
        "logits_head": logits[:, :, :64].contiguous(),
        "token_logprobs": logp.contiguous(),
    }
    for k, v in comps.items():
        expected[f"phi.{k}"] = v.contiguous()
    save_file(expected, os.path.join(OUT, "original_hybrid_filled_expected.safetensors"))
    print("wrote", os.path.abspath(OUT), "slots used", idx.tolist())


if __name__ == "__main__":
    main()
