#!/usr/bin/env bash
# Reproduces docs/experiments.md: trains the built-in base (the README's first command), trains
# a scheduler agent from it for a fixed wall-clock budget, then compares the agent with the
# fixed schedules and the band rule over 5 seeds. Usage (from the repository root):
#   tools/experiments/scheduler_vs_fixed.sh [AGENT_MINUTES]
# Binaries are those of `cargo build -p infinito --bins` (debug profile, as `cargo run`).
set -euo pipefail
minutes=${1:-18}
bin=target/debug
out=docs/experiments/builtin
mkdir -p "$out"
[ -f runs/train_base_more/checkpoints/best.safetensors ] || nice -n 10 "$bin/train_base_more"
# Ctrl+C (SIGINT) at the end of the budget: the run saves ppo_infinito_scheduler_interrupted.
timeout -s INT "${minutes}m" nice -n 10 "$bin/train_phi_text_scheduler" \
    --timesteps 100000 --n-steps 64 --ppo-batch-size 32 --n-epochs 5 \
    --inner-steps 1 --max-steps 20 --batch-size 2 \
    --save-freq 0 --eval-freq 320 --n-eval-episodes 2 --log-freq 320 --sample-every 320 \
    --output runs/exp_agent --overwrite --quiet || true
agent=runs/exp_agent/ppo_infinito_scheduler_interrupted
[ -d "$agent" ] || agent=runs/exp_agent/ppo_infinito_scheduler_final
nice -n 10 "$bin/compare_schedules" --agent "$agent" --seeds 5 --decisions 20 \
    --eval-batches 8 --trace-batches 1 --sample-tokens 20 --output "$out"
nice -n 10 "$bin/analyze_rl" runs/exp_agent --json > "$out/agent_analysis.json"
cp runs/exp_agent/eval_logs/evaluations.csv "$out/agent_evaluations.csv"
python3 tools/experiments/episode_returns.py runs/exp_agent/metrics.jsonl > "$out/agent_episodes.csv"
