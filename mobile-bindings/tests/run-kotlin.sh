#!/usr/bin/env bash
# Compiles the generated Kotlin bindings with the Kotlin test program and runs it on the JVM
# against the debug library. Needs: java 17, kotlinc (KOTLINC, default from the npm package
# kotlin-compiler unpacked by .ci/run), JNA (Debian libjna-java).
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGET_DIR=${CARGO_TARGET_DIR:-target}
KOTLINC=${KOTLINC:-kotlinc}
JNA=${JNA:-/usr/share/java/jna.jar}
OUT=${OUT:-build/bindings}
BUILD=build/kotlin-test
mobile-bindings/build-bindings.sh
# test.sh passes the server binary `cargo test --workspace` already built; building it alone
# here would compile its dependencies again with another feature set.
SERVER_BIN=${JINGTU_SERVER_BIN:-}
if [ -z "$SERVER_BIN" ] || [ ! -x "$SERVER_BIN" ]; then
  cargo build -p jingtu-server
  SERVER_BIN="$TARGET_DIR/debug/jingtu-server"
fi
mkdir -p "$BUILD"
"$KOTLINC" -nowarn -cp "$JNA" "$OUT"/kotlin/org/jingtu/core/*.kt \
  mobile-bindings/tests/kotlin/InspectorDayTest.kt -d "$BUILD/test.jar"
STDLIB=$(dirname "$(readlink -f "$(command -v "$KOTLINC")")")/../lib/kotlin-stdlib.jar
JINGTU_SERVER_BIN="$SERVER_BIN" java -cp "$BUILD/test.jar:$STDLIB:$JNA" -Djna.library.path="$TARGET_DIR/debug" InspectorDayTestKt
