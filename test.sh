#!/usr/bin/env bash
# Runs every test of jingtu: the Rust workspace, the Kotlin test of the mobile API on the JVM,
# the syntax check of the Swift bindings' C header, HTTP fuzzing of the server from its
# OpenAPI description, and the browser tests of the web console (chromium, playwright-core).
# On a fresh machine it first installs what those need (tests/setup.sh:
# Java, JNA, clang, chromium and CJK fonts from Debian; kotlinc and playwright-core from npm;
# schemathesis from PyPI into a virtualenv).
set -euo pipefail
cd "$(dirname "$0")"
source tests/setup.sh
cargo test --workspace
JINGTU_SERVER_BIN="${CARGO_TARGET_DIR:-target}/debug/jingtu-server" mobile-bindings/tests/run-kotlin.sh
clang -fsyntax-only -Wno-pragma-once-outside-header -x c build/bindings/swift/JingtuCoreFFI.h
echo "Swift bindings: C header compiles"
JINGTU_SERVER_BIN="${CARGO_TARGET_DIR:-target}/debug/jingtu-server" tests/api/run.sh 25
JINGTU_SERVER_BIN="${CARGO_TARGET_DIR:-target}/debug/jingtu-server" \
  JINGTU_CLI_BIN="${CARGO_TARGET_DIR:-target}/debug/jingtu" tests/browser/run.sh
