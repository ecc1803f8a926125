"""What TensorBoard's own reader finds in an event file written by infinito-train.

Runs the Rust test `written_events_read_by_tensorboard` (crates/infinito-train/tests/tensorboard.rs),
which writes a fixed set of scalars with `EventWriter`, keeping its file in a temporary directory
(env INFINITO_TB_OUT); reads that directory with tensorboard's EventAccumulator and writes every
scalar series it finds as JSON:

  {"<tag>": [[step, value], ...], ...}

The test then compares what the Rust reader finds in a freshly written file with this fixture.
(On the first run, before the fixture exists, the test fails after writing the file; that is
expected.)

Usage: python tools/refgen/tensorboard_ref.py [OUT]
(default OUT: crates/infinito-train/tests/fixtures/tensorboard_ref.json)
"""

import json
import os
import subprocess
import sys
import tempfile

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
DEFAULT_OUT = os.path.join(
    ROOT, "crates", "infinito-train", "tests", "fixtures", "tensorboard_ref.json"
)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["cargo", "test", "-p", "infinito-train", "--test", "tensorboard"],
            cwd=ROOT,
            env={**os.environ, "INFINITO_TB_OUT": tmp},
            check=False,
        )
        files = [f for f in os.listdir(tmp) if f.startswith("events.out.tfevents.")]
        assert len(files) == 1, files
        acc = EventAccumulator(tmp, size_guidance={"scalars": 0})
        acc.Reload()
        series = {
            tag: [[e.step, e.value] for e in acc.Scalars(tag)]
            for tag in sorted(acc.Tags()["scalars"])
        }
    with open(out, "w") as f:
        json.dump(series, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {out}: {len(series)} tags")


if __name__ == "__main__":
    main()
