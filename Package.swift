// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Proxima",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Torch", targets: ["Torch"]),
        .library(name: "NeuralNetworks", targets: ["NeuralNetworks"]),
        .library(name: "Environments", targets: ["Environments"]),
        .library(name: "Tracking", targets: ["Tracking"]),
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
        .target(name: "NeuralNetworks", dependencies: ["Torch"]),
        .target(name: "Environments", dependencies: ["Torch"]),
        .target(name: "Tracking"),
        .executableTarget(
            name: "proxima",
            dependencies: ["Torch", "NeuralNetworks", "Environments", "Tracking", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .target(name: "TestSupport", dependencies: ["Torch"], path: "Tests/TestSupport"),
        .testTarget(name: "TorchTests", dependencies: ["Torch", "TestSupport", "proxima"]),
        .testTarget(name: "NeuralNetworksTests", dependencies: ["NeuralNetworks", "TestSupport", "proxima"]),
        .testTarget(name: "EnvironmentsTests", dependencies: ["Environments", "TestSupport"]),
        .testTarget(name: "TrackingTests", dependencies: ["Tracking", "TestSupport"]),
    ],
    cxxLanguageStandard: .cxx17
)
