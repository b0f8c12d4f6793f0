#!/usr/bin/env bash
# Runs the seeded simulation (tests/tests/simulation.rs) for many seeds, one after the other,
# and stops at the first that fails, printing the command that replays it.
#
#   tests/sim.sh [SEEDS] [STEPS] [FIRST]
#
# SEEDS seeds (default 20) from FIRST (default 1), STEPS operations each (default 2000).
# Each seed's output goes to $JINGTU_SIM_LOGS (default ${TMPDIR:-/tmp}/jingtu-sim-logs)/seed-N.log;
# its summary line is printed as it ends. Cargo's own settings (CARGO_TARGET_DIR, ...) apply.
set -euo pipefail

SEEDS=${1:-20}
STEPS=${2:-2000}
FIRST=${3:-1}
LOGS=${JINGTU_SIM_LOGS:-${TMPDIR:-/tmp}/jingtu-sim-logs}

cd "$(dirname "$0")/.."
mkdir -p "$LOGS"

echo "building the simulation ..."
cargo test -q -p jingtu-e2e --test simulation --no-run

started=$(date +%s)
last=$((FIRST + SEEDS - 1))
for seed in $(seq "$FIRST" "$last"); do
    log="$LOGS/seed-$seed.log"
    t0=$(date +%s)
    if JINGTU_SIM_SEED=$seed JINGTU_SIM_STEPS=$STEPS \
        cargo test -q -p jingtu-e2e --test simulation -- --nocapture >"$log" 2>&1; then
        grep -h '^sim seed .* steps .*: ops' "$log" || echo "sim seed $seed: passed (no summary line?)"
    else
        t1=$(date +%s)
        echo
        echo "SEED $seed FAILED after $((t1 - t0)) s (log: $log):"
        grep -h -A60 'SIMULATION FAILED' "$log" | head -n 120 || tail -n 60 "$log"
        echo
        echo "replay it with:"
        echo "  JINGTU_SIM_SEED=$seed JINGTU_SIM_STEPS=$STEPS cargo test -p jingtu-e2e --test simulation -- --nocapture"
        exit 1
    fi
done
ended=$(date +%s)
echo "all $SEEDS seeds ($FIRST..$last) passed, $STEPS steps each, in $((ended - started)) s"
