"""An original-format INFINITO hybrid checkpoint and its expected evaluation outputs.

Builds the original's module layout — a peft-wrapped GPT-2 as attribute `gpt2`, `memory`
(IITGuidedMemory), `iit_metrics` (ImprovedIITMetricsV2), `phi_weights`, `stochastic_exploration`
— on a tiny random GPT-2, saves `{"epoch", "model_state_dict", "optimizer_state_dict", "val_loss"}`
with torch.save like the original trainer, and records the evaluation logits and PHI components
of a batch with an empty memory and the exploration noise off (the corrected evaluation path).

Usage: python tools/refgen/hybrid_ref.py [OUT_DIR]   (default: crates/infinito-model/tests/fixtures)
"""

import math
import os
import sys

import torch
from torch import nn
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel

sys.path.insert(0, os.path.dirname(__file__))
from phi_ref import ImprovedIITMetricsV2, randomise_norms  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "..", "crates", "infinito-model", "tests", "fixtures")


class IITGuidedMemory(nn.Module):
    """The original's parameters and buffers (names and shapes only matter here)."""

    def __init__(self, hidden_dim, memory_slots):
        super().__init__()
        self.threshold_logit = nn.Parameter(torch.tensor(math.log(3.0)))
        self.query_proj = nn.Linear(hidden_dim, hidden_dim)
        self.key_proj = nn.Linear(hidden_dim, hidden_dim)
        self.register_buffer("memory_keys", torch.zeros(memory_slots, hidden_dim))
        self.register_buffer("memory_values", torch.zeros(memory_slots, hidden_dim))
        self.register_buffer("phi_scores", torch.zeros(memory_slots))
        self.register_buffer("attention_scores", torch.zeros(memory_slots))
        self.register_buffer("access_count", torch.zeros(memory_slots, dtype=torch.long))
        self.register_buffer("timestamps", torch.zeros(memory_slots, dtype=torch.long))
        self.register_buffer("global_time", torch.tensor(0, dtype=torch.long))
        self.register_buffer("write_count", torch.tensor(0, dtype=torch.long))


class LearnablePhiWeights(nn.Module):
    def __init__(self):
        super().__init__()
        for name, w in [("temporal", 0.3), ("integration", 0.3), ("complexity", 0.2), ("attention", 0.2)]:
            setattr(self, f"logit_{name}", nn.Parameter(torch.tensor(math.log(w))))


class StochasticExploration(nn.Module):
    def __init__(self):
        super().__init__()
        self.adaptive_scale = nn.Parameter(torch.tensor(0.1))


class Hybrid(nn.Module):
    def __init__(self, gpt2, hidden_dim, num_heads, memory_slots):
        super().__init__()
        self.gpt2 = gpt2
        self.memory = IITGuidedMemory(hidden_dim, memory_slots)
        self.iit_metrics = ImprovedIITMetricsV2(hidden_dim=hidden_dim, num_heads=num_heads, dims=(16, 32, 16, 8))
        self.phi_weights = LearnablePhiWeights()
        self.stochastic_exploration = StochasticExploration()


def main():
    torch.manual_seed(77)
    config = GPT2Config(n_layer=2, n_embd=32, n_head=4, n_positions=64, vocab_size=512)
    config._attn_implementation = "eager"
    base = GPT2LMHeadModel(config)
    lora = LoraConfig(r=4, lora_alpha=16, lora_dropout=0.1, target_modules=["c_attn", "c_proj"],
                      task_type="CAUSAL_LM", bias="none")
    gpt2 = get_peft_model(base, lora)
    model = Hybrid(gpt2, 32, 4, memory_slots=16)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(0.2 * torch.randn_like(p))
    randomise_norms(model.iit_metrics, torch.Generator().manual_seed(5))
    model.eval()

    ids = torch.randint(0, 512, (3, 10))
    with torch.no_grad():
        out = model.gpt2(ids, output_hidden_states=True, output_attentions=True)
        hidden = out.hidden_states[-1]
        logits = out.logits
        comps = model.iit_metrics(hidden_state=hidden, attention_weights=out.attentions[-1])
    state = {k: v for k, v in model.state_dict().items()}
    os.makedirs(OUT, exist_ok=True)
    torch.save({"epoch": 2, "model_state_dict": state, "optimizer_state_dict": {}, "val_loss": 3.27},
               os.path.join(OUT, "original_hybrid.pt"))
    expected = {"input_ids": ids, "logits_lse": torch.logsumexp(logits, -1).contiguous(),
                "logits_head": logits[:, :, :64].contiguous()}
    logp = torch.log_softmax(logits, -1)[:, :-1].gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    expected["token_logprobs"] = logp.contiguous()
    for k, v in comps.items():
        expected[f"phi.{k}"] = v.contiguous()
    save_file(expected, os.path.join(OUT, "original_hybrid_expected.safetensors"))
    print("wrote", os.path.abspath(OUT))


if __name__ == "__main__":
    main()
