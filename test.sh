#!/usr/bin/env bash
# Runs every test of jingtu: the Rust workspace, the Kotlin test of the mobile API on the JVM,
# the syntax check of the Swift bindings' C header, and HTTP fuzzing of the server from its
# OpenAPI description. On a fresh machine it first installs what those need (tests/setup.sh:
# Java, JNA, clang from Debian; kotlinc from npm; schemathesis from PyPI into a virtualenv).
set -euo pipefail
cd "$(dirname "$0")"
source tests/setup.sh
cargo test --workspace
JINGTU_SERVER_BIN="${CARGO_TARGET_DIR:-target}/debug/jingtu-server" mobile-bindings/tests/run-kotlin.sh
clang -fsyntax-only -Wno-pragma-once-outside-header -x c build/bindings/swift/JingtuCoreFFI.h
echo "Swift bindings: C header compiles"
JINGTU_SERVER_BIN="${CARGO_TARGET_DIR:-target}/debug/jingtu-server" tests/api/run.sh 25
