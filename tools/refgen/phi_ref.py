"""PyTorch reference for the learned PHI ("ImprovedIITMetricsV2") and its golden fixtures.

The module below is built from the specification (ORIGINAL_SYSTEM.md section 2.6): the same
sub-modules, the same state-dict names, PyTorch's own layers. The fixtures it writes are compared
by the Rust tests of crates/infinito-phi and by bins/tests/phi_score_cli.rs.

    python tools/refgen/phi_ref.py                    # small committed fixtures
    python tools/refgen/phi_ref.py --full DIR         # D=768, H=12, default widths (not committed)

Options that default to the original behaviour mirror the Rust ones:
  complexity_norm = "batch" | "per_sample"   (per-sample: normalise each sample over channels and
                                              time, like GroupNorm(1), with the BatchNorm affine)
  attention_features = "mean" | "entropy"    (entropy: per head, mean over query rows of
                                              -sum_k a*ln(a+1e-10), divided by ln T; 0 when T < 2)
"""

import argparse
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

ENTROPY_EPS = 1e-10


class TemporalCoherenceNet(nn.Module):
    def __init__(self, hidden_dim, internal_dim=128, dropout=0.1):
        super().__init__()
        self.input_proj = nn.Linear(2 * hidden_dim, internal_dim)
        self.fc1 = nn.Linear(internal_dim, internal_dim)
        self.fc2 = nn.Linear(internal_dim, internal_dim)
        self.fc3 = nn.Linear(internal_dim, internal_dim)
        self.layer_norm1 = nn.LayerNorm(internal_dim)
        self.layer_norm2 = nn.LayerNorm(internal_dim)
        self.layer_norm3 = nn.LayerNorm(internal_dim)
        self.output_proj = nn.Linear(internal_dim, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        b, t, _ = x.shape
        if t < 2:
            return torch.zeros(b, device=x.device)
        pairs = torch.cat([x[:, :-1], x[:, 1:]], dim=-1)
        y = self.dropout(F.relu(self.input_proj(pairs)))
        for fc, ln in ((self.fc1, self.layer_norm1), (self.fc2, self.layer_norm2),
                       (self.fc3, self.layer_norm3)):
            y = y + self.dropout(F.relu(ln(fc(y))))
        return torch.sigmoid(self.output_proj(y)).squeeze(-1).mean(dim=1)


class IntegrationNet(nn.Module):
    def __init__(self, hidden_dim, num_heads, internal_dim=256, dropout=0.1, attention_features="mean"):
        super().__init__()
        self.attention_features = attention_features
        self.input_proj = nn.Linear(hidden_dim, internal_dim)
        self.transformer_layer = nn.TransformerEncoderLayer(
            d_model=internal_dim, nhead=4, dim_feedforward=2 * internal_dim, dropout=dropout,
            activation="relu", batch_first=True)
        q = internal_dim // 4
        self.attention_mlp = nn.Sequential(nn.Linear(num_heads, q), nn.ReLU(), nn.Dropout(dropout),
                                           nn.Linear(q, q))
        self.fusion = nn.Sequential(nn.Linear(internal_dim + q, internal_dim), nn.LayerNorm(internal_dim),
                                    nn.ReLU(), nn.Dropout(dropout))
        self.output_mlp = nn.Sequential(nn.Linear(internal_dim, internal_dim // 2), nn.ReLU(),
                                        nn.Dropout(dropout), nn.Linear(internal_dim // 2, 1), nn.Sigmoid())

    def head_features(self, attn):
        if self.attention_features == "mean":
            return attn.mean(dim=(2, 3))
        t = attn.shape[-1]
        if t < 2:
            return torch.zeros(attn.shape[:2], device=attn.device)
        ent = -(attn * torch.log(attn + ENTROPY_EPS)).sum(-1)
        return ent.mean(-1) / math.log(t)

    def forward(self, x, attn):
        z = self.transformer_layer(self.input_proj(x)).mean(dim=1)
        if attn is not None:
            a = self.attention_mlp(self.head_features(attn))
        else:
            a = torch.zeros(x.shape[0], self.attention_mlp[3].out_features, device=x.device)
        return self.output_mlp(self.fusion(torch.cat([z, a], dim=-1))).squeeze(-1)


class ComplexityNet(nn.Module):
    def __init__(self, hidden_dim, internal_dim=128, dropout=0.1, norm="batch"):
        super().__init__()
        self.norm = norm
        self.input_proj = nn.Linear(hidden_dim, internal_dim)
        self.conv1 = nn.Conv1d(internal_dim, internal_dim, 3, padding=1)
        self.conv2 = nn.Conv1d(internal_dim, internal_dim, 5, padding=2)
        self.conv3 = nn.Conv1d(internal_dim, internal_dim, 7, padding=3)
        self.bn1 = nn.BatchNorm1d(internal_dim)
        self.bn2 = nn.BatchNorm1d(internal_dim)
        self.bn3 = nn.BatchNorm1d(internal_dim)
        self.fusion = nn.Linear(3 * internal_dim, internal_dim)
        self.output_mlp = nn.Sequential(nn.Linear(internal_dim, internal_dim // 2), nn.ReLU(),
                                        nn.Dropout(dropout), nn.Linear(internal_dim // 2, 1), nn.Sigmoid())

    def normalise(self, bn, y):
        if self.norm == "batch":
            return bn(y)
        return F.group_norm(y, 1, bn.weight, bn.bias, bn.eps)

    def forward(self, x):
        z = self.input_proj(x).transpose(1, 2)
        pooled = [F.relu(self.normalise(bn, conv(z))).mean(dim=-1)
                  for conv, bn in ((self.conv1, self.bn1), (self.conv2, self.bn2), (self.conv3, self.bn3))]
        f = F.relu(self.fusion(torch.cat(pooled, dim=-1)))
        return self.output_mlp(f).squeeze(-1)


class AttentionDiversityNet(nn.Module):
    def __init__(self, num_heads, internal_dim=64, dropout=0.1):
        super().__init__()
        j = internal_dim
        self.head_processors = nn.ModuleList([
            nn.Sequential(nn.AdaptiveAvgPool2d((8, 8)), nn.Flatten(), nn.Linear(64, j), nn.ReLU())
            for _ in range(num_heads)])
        self.fusion = nn.Sequential(nn.Linear(num_heads * j, j), nn.LayerNorm(j), nn.ReLU(), nn.Dropout(dropout))
        self.output_mlp = nn.Sequential(nn.Linear(j, j // 2), nn.ReLU(), nn.Linear(j // 2, 1), nn.Sigmoid())

    def forward(self, attn):
        feats = [p(attn[:, h:h + 1]) for h, p in enumerate(self.head_processors)]
        return self.output_mlp(self.fusion(torch.cat(feats, dim=-1))).squeeze(-1)


class ImprovedIITMetricsV2(nn.Module):
    def __init__(self, hidden_dim=768, num_heads=12, dims=(128, 256, 128, 64), dropout=0.1,
                 complexity_norm="batch", attention_features="mean"):
        super().__init__()
        self.temporal_net = TemporalCoherenceNet(hidden_dim, dims[0], dropout)
        self.integration_net = IntegrationNet(hidden_dim, num_heads, dims[1], dropout, attention_features)
        self.complexity_net = ComplexityNet(hidden_dim, dims[2], dropout, complexity_norm)
        self.diversity_net = AttentionDiversityNet(num_heads, dims[3], dropout)
        self.w_temporal = nn.Parameter(torch.ones(1))
        self.w_integration = nn.Parameter(torch.ones(1))
        self.w_complexity = nn.Parameter(torch.ones(1))
        self.w_diversity = nn.Parameter(torch.ones(1))

    def forward(self, hidden_state, attention_weights=None):
        t = self.temporal_net(hidden_state)
        g = self.integration_net(hidden_state, attention_weights)
        c = self.complexity_net(hidden_state)
        if attention_weights is not None:
            d = self.diversity_net(attention_weights)
        else:
            d = torch.zeros(hidden_state.shape[0], device=hidden_state.device)
        w = torch.softmax(torch.cat([self.w_temporal, self.w_integration, self.w_complexity,
                                     self.w_diversity]), dim=0)
        phi = 10.0 * (w[0] * t + w[1] * g + w[2] * c + w[3] * d)
        return {"phi_estimate": phi, "temporal_coherence": t, "integration_strength": g,
                "complexity": c, "attention_diversity": d}


def statistical(x, attn, ppl=None):
    """The parameter-free measures of section 2.9 (ImprovedIITMetrics + the entropy coherence)."""
    b, t, _ = x.shape
    if t < 2:
        temporal = torch.ones(b)
    else:
        temporal = (F.cosine_similarity(x[:, :-1], x[:, 1:], dim=-1).mean(dim=1) + 1) / 2
    if t < 4:
        integration = torch.ones(b)
    else:
        s = t // 4
        q = [F.normalize(x[:, i * s:(i + 1) * s].mean(dim=1), dim=-1) for i in range(4)]
        integration = torch.stack([(q[i] * q[j]).sum(-1).abs() for i in range(4) for j in range(i + 1, 4)],
                                  dim=1).mean(dim=1)
    complexity = torch.sigmoid(10 * x.reshape(b, -1).var(dim=1))
    if t < 2:
        diversity = torch.zeros(b)
        entropy_coherence = torch.ones(b)
    else:
        p = attn.mean(dim=1).mean(dim=1)
        diversity = -(p * torch.log(p + 1e-10)).sum(-1) / math.log(t)
        avg = attn.mean(dim=1)
        h = -(avg * torch.log(avg + 1e-6)).sum(-1).mean(-1)
        entropy_coherence = 1 - h / math.log(t)
    head_coherence = 1 / (1 + attn.mean(dim=(2, 3)).var(dim=1))
    factor = 1.0 if ppl is None else min(5.0, max(1.0, 300.0 / ppl))
    phi = torch.clamp(3 * factor * (0.3 * temporal + 0.3 * integration + 0.2 * complexity + 0.2 * diversity),
                      0, 10)
    return {"phi": phi, "temporal_consistency": temporal, "integration": integration,
            "complexity": complexity, "attention_diversity": diversity, "head_coherence": head_coherence,
            "entropy_coherence": entropy_coherence}


OUTPUTS = ["phi_estimate", "temporal_coherence", "integration_strength", "complexity", "attention_diversity"]


def set_dropout(model, p):
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = p
        if isinstance(m, nn.MultiheadAttention):
            m.dropout = p


def causal_attention(b, h, t, gen):
    scores = torch.randn(b, h, t, t, generator=gen) * 2.0
    mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
    return torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)


def randomise_norms(model, gen):
    """Non-trivial affine parameters for every LayerNorm/BatchNorm, so their gradients are tested."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.LayerNorm, nn.BatchNorm1d)):
                m.weight.copy_(1.0 + 0.2 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
        for name in ("w_temporal", "w_integration", "w_complexity", "w_diversity"):
            getattr(model, name).copy_(1.0 + 0.3 * torch.randn(1, generator=gen))


def small_fixtures(out_dir):
    d, h, dims = 32, 3, (16, 32, 16, 16)
    gen = torch.Generator().manual_seed(1234)
    torch.manual_seed(1234)
    model = ImprovedIITMetricsV2(d, h, dims)
    randomise_norms(model, gen)
    model.train()
    with torch.no_grad():  # a few train batches: non-trivial running statistics
        for t in (9, 13, 6):
            model(torch.randn(4, t, d, generator=gen) * 1.5 + 0.3, causal_attention(4, h, t, gen))
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    os.makedirs(out_dir, exist_ok=True)
    save_file(state, os.path.join(out_dir, "phi_small_weights.safetensors"),
              metadata={"hidden_dim": str(d), "num_heads": str(h)})
    torch.save({"model_state_dict": {"iit_metrics." + k: v for k, v in state.items()}, "epoch": 3},
               os.path.join(out_dir, "phi_small_weights.pt"))

    cases = {}
    for t, b in ((5, 4), (13, 4), (1, 2)):
        p = f"t{t}."
        x = torch.randn(b, t, d, generator=gen) * 1.5 + 0.3
        a = causal_attention(b, h, t, gen)
        cases[p + "hidden_state"] = x
        cases[p + "attention_weights"] = a
        model.load_state_dict(state)
        model.eval()
        with torch.no_grad():
            for tag, attn in (("eval.", a), ("eval_noattn.", None)):
                out = model(x, attn)
                for k in OUTPUTS:
                    cases[p + tag + k] = out[k]
            for norm, feats, tag in (("per_sample", "mean", "eval_per_sample."),
                                     ("batch", "entropy", "eval_entropy.")):
                variant = ImprovedIITMetricsV2(d, h, dims, complexity_norm=norm, attention_features=feats)
                variant.load_state_dict(state)
                variant.eval()
                out = variant(x, a)
                for k in OUTPUTS:
                    cases[p + tag + k] = out[k]
            for k, v in statistical(x, a).items():
                cases[p + "statistical." + k] = v
            for k, v in statistical(x, a, ppl=120.0).items():
                cases[p + "statistical_ppl120." + k] = v
        # One train-mode forward with dropout 0 (deterministic): outputs, updated running stats, grads.
        model.load_state_dict(state)
        model.train()
        set_dropout(model, 0.0)
        xg = x.clone().requires_grad_(True)
        ag = a.clone().requires_grad_(True)
        out = model(xg, ag)
        for k in OUTPUTS:
            cases[p + "train." + k] = out[k].detach()
        model.zero_grad()
        out["phi_estimate"].sum().backward()
        cases[p + "grad.hidden_state"] = xg.grad
        cases[p + "grad.attention_weights"] = ag.grad
        for name, param in model.named_parameters() if t == 13 else ():
            grad = param.grad if param.grad is not None else torch.zeros_like(param)  # T < 2: no temporal path
            cases[p + "grad." + name] = grad.detach().clone()
        for name, buf in model.state_dict().items():
            if ".running_" in name or name.endswith("num_batches_tracked"):
                cases[p + "train_state." + name] = buf.detach().clone()
        set_dropout(model, 0.1)
    cases = {k: v.detach().contiguous() for k, v in cases.items()}
    save_file(cases, os.path.join(out_dir, "phi_small_cases.safetensors"),
              metadata={"hidden_dim": str(d), "num_heads": str(h)})


def full_check(out_dir):
    """Default widths at D=768, H=12: weights (.pt, with the hybrid's prefix), one input, eval outputs."""
    gen = torch.Generator().manual_seed(7)
    torch.manual_seed(7)
    model = ImprovedIITMetricsV2()
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(4, 32, 768, generator=gen), causal_attention(4, 12, 32, gen))
    model.eval()
    os.makedirs(out_dir, exist_ok=True)
    torch.save({"model_state_dict": {"iit_metrics." + k: v for k, v in model.state_dict().items()}},
               os.path.join(out_dir, "phi_full_weights.pt"))
    x = torch.randn(2, 37, 768, generator=gen)
    a = causal_attention(2, 12, 37, gen)
    with torch.no_grad():
        out = model(x, a)
    tensors = {"hidden_state": x, "attention_weights": a}
    tensors.update({"expected." + k: v for k, v in out.items()})
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out_dir, "phi_full_input.safetensors"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=os.path.join(os.path.dirname(__file__), "..", "..", "crates",
                                                      "infinito-phi", "tests", "fixtures"))
    ap.add_argument("--full", metavar="DIR", help="write the full-size check files to DIR instead")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.full:
        full_check(args.full)
    else:
        small_fixtures(args.out_dir)


if __name__ == "__main__":
    main()
