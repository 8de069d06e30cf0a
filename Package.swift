// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Proxima",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Torch", targets: ["Torch"]),
        .executable(name: "proxima", targets: ["proxima"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // The only C++ in the project: a C ABI over libtorch (ATen + autograd).
        .target(
            name: "CTorch",
            linkerSettings: [.linkedLibrary("torch_cpu"), .linkedLibrary("c10")]
        ),
        .target(name: "Torch", dependencies: ["CTorch"]),
        .executableTarget(
            name: "proxima",
            dependencies: ["Torch", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "TorchTests", dependencies: ["Torch", "proxima"]),
    ],
    cxxLanguageStandard: .cxx17
)
