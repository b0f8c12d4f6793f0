#!/usr/bin/env bash
# Builds JingtuCoreFFI.xcframework (device + simulator static libraries with the C header
# and module map) and the Swift bindings, for the Swift package beside this script.
# Runs on macOS with Xcode and rustup; NOT run in CI (no Apple toolchain there).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
rustup target add "${targets[@]}"
for t in "${targets[@]}"; do
  cargo rustc -p jingtu-mobile --lib --profile mobile --target "$t" --crate-type staticlib
done
# Bindings are generated from a host build of the same library.
cargo build -p jingtu-mobile --features bindgen --bin uniffi-bindgen
cargo build -p jingtu-mobile --lib --profile mobile
gen="$root/build/swift-gen"
rm -rf "$gen" && mkdir -p "$gen"
target/debug/uniffi-bindgen generate --library target/mobile/libjingtu_mobile.dylib \
  --language swift --out-dir "$gen"
headers="$root/build/swift-headers"
rm -rf "$headers" && mkdir -p "$headers"
cp "$gen/JingtuCoreFFI.h" "$headers/"
cp "$gen/JingtuCoreFFI.modulemap" "$headers/module.modulemap"
# One fat simulator library (arm64 + x86_64).
mkdir -p target/ios-sim-universal
lipo -create target/aarch64-apple-ios-sim/mobile/libjingtu_mobile.a \
  target/x86_64-apple-ios/mobile/libjingtu_mobile.a \
  -output target/ios-sim-universal/libjingtu_mobile.a
rm -rf "$here/JingtuCoreFFI.xcframework"
xcodebuild -create-xcframework \
  -library target/aarch64-apple-ios/mobile/libjingtu_mobile.a -headers "$headers" \
  -library target/ios-sim-universal/libjingtu_mobile.a -headers "$headers" \
  -output "$here/JingtuCoreFFI.xcframework"
mkdir -p "$here/Sources/JingtuCore"
cp "$gen/JingtuCore.swift" "$here/Sources/JingtuCore/"
echo "done: $here/JingtuCoreFFI.xcframework and Sources/JingtuCore/JingtuCore.swift"
