#!/usr/bin/env bash
# Browser tests of the supervisors' web console: Debian's chromium driven by npm
# playwright-core (both installed by tests/setup.sh), against a real `jingtu-server serve` on
# loopback and device stores used through the `jingtu` command line. Screenshots of every page
# go to $JINGTU_SCREENSHOTS (default target/browser-screenshots).
#
#   JINGTU_SERVER_BIN=target/debug/jingtu-server JINGTU_CLI_BIN=target/debug/jingtu \
#     tests/browser/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${JINGTU_NODE_PATH:?source tests/setup.sh first (it installs playwright-core)}"
target="${CARGO_TARGET_DIR:-target}"
export JINGTU_SERVER_BIN="${JINGTU_SERVER_BIN:-$target/debug/jingtu-server}"
export JINGTU_CLI_BIN="${JINGTU_CLI_BIN:-$target/debug/jingtu}"
export JINGTU_SCREENSHOTS="${JINGTU_SCREENSHOTS:-$target/browser-screenshots}"
export JINGTU_WORK="$(mktemp -d)"
trap 'rm -rf "$JINGTU_WORK"' EXIT
mkdir -p "$JINGTU_SCREENSHOTS"
NODE_PATH="$JINGTU_NODE_PATH" node tests/browser/console.js
echo "browser tests passed; screenshots in $JINGTU_SCREENSHOTS"
