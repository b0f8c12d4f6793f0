#!/usr/bin/env bash
# Runs every test of jingtu: the Rust workspace, the Kotlin test of the mobile API on the JVM,
# and the syntax check of the Swift bindings' C header. On a fresh machine it first installs
# what those need (tests/setup.sh: Java, JNA, clang from Debian; kotlinc from npm).
set -euo pipefail
cd "$(dirname "$0")"
source tests/setup.sh
cargo test --workspace
JINGTU_SERVER_BIN="${CARGO_TARGET_DIR:-target}/debug/jingtu-server" mobile-bindings/tests/run-kotlin.sh
clang -fsyntax-only -Wno-pragma-once-outside-header -x c build/bindings/swift/JingtuCoreFFI.h
echo "Swift bindings: C header compiles"
