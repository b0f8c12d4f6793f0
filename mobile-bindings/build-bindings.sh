#!/usr/bin/env bash
# Builds the mobile library for this machine and generates its Kotlin, Swift and Python
# bindings into build/bindings/<language> (generated code is not committed).
#
#   mobile-bindings/build-bindings.sh            # debug library (for tests)
#   PROFILE=mobile mobile-bindings/build-bindings.sh   # LTO, stripped: the shipped build
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-debug}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
OUT=${OUT:-build/bindings}
profile_flag=()
[ "$PROFILE" = debug ] || profile_flag=(--profile "$PROFILE")

# The bindgen first: it builds the library with extra features, which the next build replaces.
cargo build -p jingtu-mobile --features bindgen --bin uniffi-bindgen
cargo build -p jingtu-mobile --lib "${profile_flag[@]}"
LIB="$TARGET_DIR/$PROFILE/libjingtu_mobile.so"
[ -f "$LIB" ] || { echo "missing $LIB" >&2; exit 1; }

rm -rf "$OUT"
for lang in kotlin swift python; do
  # uniffi.toml beside the crate is found through cargo metadata.
  "$TARGET_DIR/debug/uniffi-bindgen" generate --library "$LIB" --language "$lang" \
    --out-dir "$OUT/$lang" --no-format
done
cp "$LIB" "$OUT/python/"
echo "bindings in $OUT (library $LIB, $(stat -c %s "$LIB") bytes)"
