"""Generate the PyTorch checkpoint fixtures of crates/infinito-checkpoint/tests/fixtures/.

Run with a Python that has torch:  python tools/refgen/checkpoint_fixtures.py

Writes (all tiny, a few KB):
  flat.pt           a flat state dict with one tensor of each supported dtype, a strided view
                    sharing storage with another tensor, an offset view and an nn.Parameter
  nested.pt         {"model_state_dict": ..., "epoch": 3, "optimizer_state_dict": ..., ...}
                    as written by a typical training loop
  nested_state.pt   {"state_dict": ..., "step": 7} (the second well-known nested key)
  custom_key.pt     {"weights": {...}, "epoch": 1} (a nested key that must be named)
  legacy.pt         the pre-1.6 (non-zip) torch.save format
  not_torch.zip     a zip archive that is not a torch.save archive
  expected.json     for every fixture and key: dtype, shape and row-major values of each tensor
"""

import json
import os
import zipfile

import torch

OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..",
    "..",
    "crates",
    "infinito-checkpoint",
    "tests",
    "fixtures",
)


def describe(tensors):
    out = {}
    for name, t in tensors.items():
        t = t.detach()
        values = t.to(torch.float64) if t.dtype != torch.bool else t.to(torch.int64)
        out[name] = {
            "dtype": str(t.dtype).replace("torch.", ""),
            "shape": list(t.shape),
            "values": values.reshape(-1).tolist(),
        }
    return out


def flat_state():
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.25 - 1.0
    return {
        "f32": base,
        # Same storage as f32, transposed (non-contiguous strides).
        "f32_t": base.t(),
        # Same storage, non-zero storage offset (row 1).
        "f32_row": base[1],
        "f64": torch.tensor([1.5, -2.25, 1e-3], dtype=torch.float64),
        "f16": torch.tensor([0.5, -1.0, 65504.0], dtype=torch.float16),
        "bf16": torch.tensor([[1.0, -0.5], [256.0, 3.0]], dtype=torch.bfloat16),
        "i64": torch.tensor([3, -7, 2**40], dtype=torch.int64),
        "i32": torch.tensor([[1, -2], [3, 2**30]], dtype=torch.int32),
        "i16": torch.tensor([-300, 300], dtype=torch.int16),
        "i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 1, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "param": torch.nn.Parameter(torch.tensor([[0.125, 0.25]])),
    }


def model_and_optimizer():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
    set_known_weights(model)
    # A buffer of another dtype, as models often carry.
    model.register_buffer("num_batches", torch.tensor([4], dtype=torch.int64))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss = model(torch.ones(1, 3)).pow(2).sum()
    loss.backward()
    opt.step()
    # Restore the known weights after the step: the state dict holds exactly representable values.
    set_known_weights(model)
    return model, opt


def set_known_weights(model):
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.5, -0.25, 1.0], [2.0, 0.0, -1.5]]))
        model[0].bias.copy_(torch.tensor([0.125, -0.375]))
        model[1].weight.copy_(torch.tensor([1.0, 0.75]))
        model[1].bias.copy_(torch.tensor([-0.5, 0.0]))


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {}

    flat = flat_state()
    torch.save(flat, os.path.join(OUT, "flat.pt"))
    expected["flat.pt"] = describe(flat)

    model, opt = model_and_optimizer()
    checkpoint = {
        "epoch": 3,
        "model_state_dict": model.state_dict(),
        "optimizer_state_dict": opt.state_dict(),
        "val_loss": 0.5,
        "val_ppl": 1.6487,
        "history": {"train_loss": [1.25, 0.75], "val_loss": [1.0, 0.5]},
    }
    torch.save(checkpoint, os.path.join(OUT, "nested.pt"))
    expected["nested.pt"] = describe(model.state_dict())

    nested_state = {"state_dict": {"w": torch.tensor([[1.0, 2.0]])}, "step": 7}
    torch.save(nested_state, os.path.join(OUT, "nested_state.pt"))
    expected["nested_state.pt"] = describe(nested_state["state_dict"])

    custom_key = {"weights": {"w": torch.ones(2)}, "epoch": 1}
    torch.save(custom_key, os.path.join(OUT, "custom_key.pt"))
    expected["custom_key.pt"] = describe(custom_key["weights"])

    torch.save({"w": torch.zeros(2)}, os.path.join(OUT, "legacy.pt"), _use_new_zipfile_serialization=False)

    with zipfile.ZipFile(os.path.join(OUT, "not_torch.zip"), "w") as z:
        z.writestr("README.txt", "just a zip archive\n")

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote fixtures to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
