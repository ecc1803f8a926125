#!/usr/bin/env bash
# One command for the day a CUDA GPU is available: builds with `--features cuda`, runs check_cuda,
# the fidelity tests built with CUDA, a 20-step train_base_more on a random GPT-2 small, a
# 64-decision scheduler run, and the PHI-kernel and training-step benches beside the PyTorch
# scripts, all on the GPU; then writes report.md and report.json into OUT_DIR.
#
# Usage: tools/gpu-check.sh OUT_DIR          (from anywhere; about 8 minutes with a warm cargo cache)
# Exit status: 0 every step passed; 1 a step failed (see OUT_DIR/gpu-check.log); 2 usage;
#              3 skipped: no CUDA GPU on this machine.
# The PyTorch comparison runs when `python3` has torch with CUDA (and transformers + peft for
# GPT-2); otherwise that step is reported as skipped.
set -uo pipefail

if [ $# -ne 1 ]; then
  echo "usage: tools/gpu-check.sh OUT_DIR" >&2
  exit 2
fi
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-check: skipped: no CUDA GPU here (nvidia-smi finds none)"
  exit 3
fi

mkdir -p "$1" || exit 2
out=$(cd "$1" && pwd)
cd "$(dirname "$0")/.." || exit 2
work="$out/work"
log="$out/gpu-check.log"
mkdir -p "$work"
: >"$log"
bin=target/release
gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
names=() statuses=() seconds=() details=()

# step NAME DETAIL-COMMAND -- COMMAND...: runs COMMAND (output appended to the log), records its
# status and wall time, and DETAIL-COMMAND's one-line output (evaluated after COMMAND).
step() {
  local name=$1 detail=$2
  shift 3
  echo "== $name: $*" | tee -a "$log"
  local start end status
  start=$(date +%s.%N)
  if "$@" >>"$log" 2>&1; then status=ok; else status="failed (exit $?)"; fi
  end=$(date +%s.%N)
  names+=("$name")
  statuses+=("$status")
  seconds+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')")
  details+=("$(eval "$detail" 2>/dev/null | tr -d '\r' | tr '\n' ' ' | sed 's/"/\\"/g' | cut -c1-300)")
  echo "   $status in ${seconds[-1]} s" | tee -a "$log"
}

# The criterion lines `<case> time: [low mid high]` of the log since line $1.
bench_times() {
  tail -n +"$1" "$log" | grep -B1 -E '^\s*time:' | grep -vE '^--$' | paste - - |
    sed -E 's/\s+time:\s+/ /; s/\s+/ /g' | tr '\n' ';'
}

torch_cuda() {
  python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1
}

export CARGO_TERM_COLOR=never
step build "echo built" -- \
  cargo build --release --features cuda -p infinito --bins --examples
step check_cuda "grep -E 'cuda:[0-9]' '$log' | tail -2" -- \
  "$bin/check_cuda"
step fidelity_tests "grep -E '^test result' '$log' | tail -4" -- \
  cargo test --release --features cuda -p infinito-model -p infinito-phi \
  --test fidelity --test generate_reference --test hybrid
step random_gpt2_small "du -sh '$work/gpt2-small'" -- \
  "$bin/examples/random_gpt2" "$work/gpt2-small"
step train_base_more_20_steps "tail -1 '$work/train/training_log.txt'" -- \
  "$bin/train_base_more" --model "$work/gpt2-small" --device cuda --max-steps 20 --epochs 1 \
  --seq-len 128 --batch-size 8 --output "$work/train" --overwrite --no-tensorboard
step scheduler_64_decisions "grep -E 'train_phi_text_scheduler: (finished|interrupted)' '$log' | tail -1" -- \
  "$bin/train_phi_text_scheduler" --model "$work/gpt2-small" --device cuda --timesteps 64 \
  --n-steps 32 --ppo-batch-size 16 --n-epochs 2 --inner-steps 1 --max-steps 16 \
  --eval-freq 0 --save-freq 0 --log-freq 0 --quiet --output "$work/scheduler" --overwrite
mark=$(($(wc -l <"$log") + 1))
step bench_phi_kernel "bench_times $mark" -- \
  env INFINITO_BENCH_DEVICE=cuda cargo bench --features cuda --workspace --bench phi_kernel -- \
  --warm-up-time 1 --measurement-time 3 --sample-size 10
mark=$(($(wc -l <"$log") + 1))
step bench_gpt2_step "bench_times $mark" -- \
  env INFINITO_BENCH_DEVICE=cuda cargo bench --features cuda --workspace --bench gpt2_step -- \
  --warm-up-time 1 --measurement-time 5 --sample-size 10
if torch_cuda; then
  step torch_phi "grep -E 'ms median' '$log' | tail -4" -- \
    python3 tools/refgen/bench_phi_torch.py --device cuda
  step torch_gpt2 "grep -E '^torch .*per call' '$log' | tail -3" -- \
    python3 tools/refgen/bench_gpt2_torch.py --device cuda --workload eval,lora,hybrid
else
  names+=(torch_phi torch_gpt2) statuses+=(skipped skipped) seconds+=(0 0)
  details+=("python3 has no torch with CUDA" "python3 has no torch with CUDA")
fi

failed=0
{
  echo "# GPU check"
  echo
  echo "GPU: $gpu; commit $commit; $(date -u +%Y-%m-%dT%H:%M:%SZ). Full output: gpu-check.log."
  echo
  echo "| step | status | seconds | result |"
  echo "|---|---|---|---|"
  for i in "${!names[@]}"; do
    echo "| ${names[$i]} | ${statuses[$i]} | ${seconds[$i]} | ${details[$i]} |"
  done
} >"$out/report.md"
{
  printf '{"gpu": "%s", "commit": "%s", "steps": [' "$gpu" "$commit"
  for i in "${!names[@]}"; do
    [ "$i" -gt 0 ] && printf ', '
    printf '{"name": "%s", "status": "%s", "seconds": %s, "result": "%s"}' \
      "${names[$i]}" "${statuses[$i]}" "${seconds[$i]}" "${details[$i]}"
  done
  printf ']}\n'
} >"$out/report.json"
for s in "${statuses[@]}"; do
  case $s in ok | skipped) ;; *) failed=1 ;; esac
done
cat "$out/report.md"
exit $failed
