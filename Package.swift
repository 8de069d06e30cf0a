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
        .library(name: "ReinforcementLearning", targets: ["ReinforcementLearning"]),
        .executable(name: "proxima", targets: ["proxima"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
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
        .target(name: "ReinforcementLearning", dependencies: ["Torch", "NeuralNetworks", "Environments", "Tracking",
                                                            .product(name: "Yams", package: "Yams")],
                resources: [.copy("Resources/hyperparams")]),
        .executableTarget(
            name: "proxima",
            dependencies: ["Torch", "NeuralNetworks", "Environments", "Tracking", "ReinforcementLearning", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .target(name: "TestSupport", dependencies: ["Torch"], path: "Tests/TestSupport"),
        .testTarget(name: "TorchTests", dependencies: ["Torch", "TestSupport", "proxima"]),
        .testTarget(name: "NeuralNetworksTests", dependencies: ["NeuralNetworks", "TestSupport", "proxima"]),
        .testTarget(name: "EnvironmentsTests", dependencies: ["Environments", "TestSupport"]),
        .testTarget(name: "TrackingTests", dependencies: ["Tracking", "TestSupport"]),
        .testTarget(name: "ReinforcementLearningTests", dependencies: ["ReinforcementLearning", "TestSupport", "proxima"]),
    ],
    cxxLanguageStandard: .cxx17
)
