// swift-tools-version:5.9
// The SipWake Swift package: a thin Swift API over the sipwake C ABI.
//
// The C module `SipWakeFFI` is either
//  - SipWakeFFI.xcframework (device + simulator libraries, built on macOS by
//    build-xcframework.sh), when present, or
//  - the module map in include/ wrapping include/sipwake.h, linking
//    libsipwake_ios.a from the library search path (for example
//    `swift build -Xlinker -L../target/release` after `cargo build --release -p sipwake-ios`).
import Foundation
import PackageDescription

let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path
let ffi: Target = FileManager.default.fileExists(atPath: here + "/SipWakeFFI.xcframework")
    ? .binaryTarget(name: "SipWakeFFI", path: "SipWakeFFI.xcframework")
    : .systemLibrary(name: "SipWakeFFI", path: "include")

let package = Package(
    name: "SipWake",
    platforms: [.iOS(.v13), .macOS(.v11)],
    products: [
        .library(name: "SipWake", targets: ["SipWake"]),
    ],
    targets: [
        ffi,
        .target(name: "SipWake", dependencies: ["SipWakeFFI"], path: "Sources/SipWake"),
        .testTarget(name: "SipWakeTests", dependencies: ["SipWake"], path: "Tests/SipWakeTests"),
    ]
)
