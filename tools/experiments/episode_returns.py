"""Episode returns of a scheduler run (metrics.jsonl) as CSV, with the action shares per episode:
the agent's learning curve in docs/experiments.md."""
import json
import sys

print("episode,end_timestep,return,text_share,phi_share,mixed_share")
counts = {"TEXT": 0, "PHI": 0, "MIXED": 0}
n = 0
with open(sys.argv[1]) as f:
    for line in f:
        r = json.loads(line)
        counts[r["mode"]] = counts.get(r["mode"], 0) + 1
        n += 1
        if "episode_return" in r:
            shares = [counts.get(a, 0) / n for a in ("TEXT", "PHI", "MIXED")]
            print(f'{r["episode"]},{r["timestep"]},{r["episode_return"]},' + ",".join(f"{s:.3f}" for s in shares))
            counts = {"TEXT": 0, "PHI": 0, "MIXED": 0}
            n = 0
