// swift-tools-version:5.9
// The jingtu device core for iOS as a Swift package. `build-xcframework.sh` (run on macOS)
// fills `Sources/JingtuCore/JingtuCore.swift` and `JingtuCoreFFI.xcframework`; neither is
// committed. Not built in CI: there is no Swift toolchain on the Linux CI machines.
import PackageDescription

let package = Package(
    name: "JingtuCore",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "JingtuCore", targets: ["JingtuCore"]),
    ],
    targets: [
        .binaryTarget(name: "JingtuCoreFFI", path: "JingtuCoreFFI.xcframework"),
        .target(name: "JingtuCore", dependencies: ["JingtuCoreFFI"], path: "Sources/JingtuCore"),
    ]
)
