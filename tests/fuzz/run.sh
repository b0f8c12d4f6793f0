#!/usr/bin/env bash
# Fuzzes jingtu's input parsers with cargo-fuzz (libFuzzer + AddressSanitizer).
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Builds every target, then runs each (all six by default) for SECONDS_PER_TARGET seconds
# (default 30) on a scratch corpus seeded from the committed one (tests/fuzz/corpus/TARGET,
# which is never written to). Exits 1 if any target found a crash, a leak, an out-of-memory
# or a timeout, and prints where the input that caused it is; 2 if the build failed.
#
# Environment:
#   JINGTU_FUZZ_TARGET_DIR  build folder (default /var/tmp/jingtu-fuzz-target; never the
#                           workspace's own, whose flags differ)
#   JINGTU_FUZZ_CORPUS      scratch corpora, one folder per target (default
#                           /var/tmp/jingtu-fuzz-corpus); grows from run to run
#   JINGTU_FUZZ_ARGS        more libFuzzer flags for every target (e.g. "-jobs=2")
#
# Run it niced on a shared machine: `nice -n 19 tests/fuzz/run.sh 600`.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
root=$PWD
fuzz_dir=tests/fuzz

all_targets=(protocol_decode push_apply image_ingest template_load expression_eval org_csv)

# The largest input of each target: what the code under test meets in practice, a little over.
max_len() {
  case "$1" in
    protocol_decode) echo 32768 ;;  # sync requests with a few pushes
    push_apply) echo 65536 ;;       # a whole record or a few changes
    image_ingest) echo 32768 ;;     # small images; large ones only cost time
    template_load) echo 65536 ;;    # the largest template is ~21 KB, the code tables ~25 KB
    expression_eval) echo 1024 ;;   # template conditions are under 300 bytes
    org_csv) echo 4096 ;;
    *) echo 4096 ;;
  esac
}

secs=${1:-30}
if [ $# -gt 0 ]; then shift; fi
if ! [[ "$secs" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]   (targets: ${all_targets[*]})" >&2
  exit 2
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  if [ ! -f "$fuzz_dir/fuzz_targets/$t.rs" ]; then
    echo "unknown target $t (targets: ${all_targets[*]})" >&2
    exit 2
  fi
done

export CARGO_TARGET_DIR="${JINGTU_FUZZ_TARGET_DIR:-/var/tmp/jingtu-fuzz-target}"
corpus_root="${JINGTU_FUZZ_CORPUS:-/var/tmp/jingtu-fuzz-corpus}"
logs="$corpus_root/logs"
mkdir -p "$CARGO_TARGET_DIR" "$logs"

# cargo-fuzz needs a nightly compiler (sanitizers). Without a nightly toolchain, the default
# one is told to allow nightly flags.
if cargo +nightly --version >/dev/null 2>&1; then
  cargo=(cargo +nightly)
else
  echo "no nightly toolchain: using $(cargo --version) with RUSTC_BOOTSTRAP=1"
  export RUSTC_BOOTSTRAP=1
  cargo=(cargo)
fi
if ! "${cargo[@]}" fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked || exit 2
fi
"${cargo[@]}" fuzz --version

echo "== build (${CARGO_TARGET_DIR})"
start=$(date +%s)
if ! "${cargo[@]}" fuzz build --fuzz-dir "$fuzz_dir"; then
  echo "fuzz targets failed to build" >&2
  exit 2
fi
echo "built in $(( $(date +%s) - start )) s"

failed=()
summary=()
for t in "${targets[@]}"; do
  corpus="$corpus_root/$t"
  mkdir -p "$corpus" "$fuzz_dir/artifacts/$t"
  # Seeds: the committed corpus, copied in (what earlier runs found stays).
  cp -n "$fuzz_dir/corpus/$t/"* "$corpus/" 2>/dev/null || true
  args=(-max_total_time="$secs" -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=25
    -print_final_stats=1)
  [ -f "$fuzz_dir/dicts/$t.dict" ] && args+=(-dict="$fuzz_dir/dicts/$t.dict")
  # shellcheck disable=SC2206
  [ -n "${JINGTU_FUZZ_ARGS:-}" ] && args+=($JINGTU_FUZZ_ARGS)
  log="$logs/$t.log"
  echo "== $t for ${secs} s (corpus $corpus, log $log)"
  marker=$(mktemp)
  "${cargo[@]}" fuzz run --fuzz-dir "$fuzz_dir" "$t" "$corpus" -- "${args[@]}" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  units=$(find "$corpus" -type f | wc -l)
  line="$t: ${execs:-?} runs, ${rate:-?} exec/s, peak RSS ${rss:-?} MB, corpus $units files"
  if [ $rc -ne 0 ]; then
    found=$(find "$fuzz_dir/artifacts/$t" -type f -newer "$marker" 2>/dev/null)
    echo "!! $t failed (exit $rc); the end of its log:"
    tail -60 "$log"
    if [ -n "$found" ]; then
      for f in $found; do
        echo "!! input that failed: $root/$f"
        echo "!!   reproduce: ${cargo[*]} fuzz run --fuzz-dir $fuzz_dir $t $f"
        echo "!!   minimize:  ${cargo[*]} fuzz tmin --fuzz-dir $fuzz_dir $t $f"
      done
    fi
    failed+=("$t")
    line="$line  FAILED (exit $rc)"
  fi
  rm -f "$marker"
  echo "$line"
  summary+=("$line")
done

echo "== summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]} (inputs under $root/$fuzz_dir/artifacts/)"
  exit 1
fi
echo "no crash in ${#targets[@]} targets"
