// swift-tools-version:5.9
// The SipWake Swift package: a thin Swift API over the sipwake C ABI
// (include/sipwake.h). The Rust static library comes as an XCFramework built
// by build-xcframework.sh (see docs/sdk-ios.md); its Headers hold sipwake.h
// and module.modulemap, which define the C module `SipWakeFFI`.
import PackageDescription

let package = Package(
    name: "SipWake",
    platforms: [.iOS(.v13), .macOS(.v11)],
    products: [
        .library(name: "SipWake", targets: ["SipWake"]),
    ],
    targets: [
        .binaryTarget(name: "SipWakeFFI", path: "SipWakeFFI.xcframework"),
        .target(name: "SipWake", dependencies: ["SipWakeFFI"], path: "Sources/SipWake"),
        .testTarget(name: "SipWakeTests", dependencies: ["SipWake"], path: "Tests/SipWakeTests"),
    ]
)
