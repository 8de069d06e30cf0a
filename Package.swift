// swift-tools-version:6.0
import Foundation
import PackageDescription

// libtorch comes from PyTorch's wheel, installed by scripts/setup; its flags reach the C++ target through the
// pkg-config package `proxima-libtorch` (the `CLibTorch` system library). Library targets carry no unsafe flags, so
// another package can depend on Proxima. SwiftPM drops run-paths from pkg-config files, so this package's own
// executables and tests (which dependents never build) get one here, pointing at the pinned libtorch even when an
// older system copy is installed.
let libtorchDirectory: String = {
    let environment = ProcessInfo.processInfo.environment
    if let prefix = environment["PROXIMA_LIBTORCH_PREFIX"] { return prefix + "/lib" }
    let candidates = ["/usr/local/lib/proxima/libtorch-2.15.0"]
        + [environment["XDG_DATA_HOME"] ?? (environment["HOME"].map { $0 + "/.local/share" } ?? "")]
        .map { $0 + "/proxima/libtorch-2.15.0" }
    let found = candidates.first { FileManager.default.fileExists(atPath: $0 + "/lib/libtorch_cpu.so") }
    return (found ?? candidates[0]) + "/lib"
}()
let runPath: [LinkerSetting] = [.unsafeFlags(["-Xlinker", "-rpath", "-Xlinker", libtorchDirectory])]

let package = Package(
    name: "Proxima",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Torch", targets: ["Torch"]),
        .library(name: "NeuralNetworks", targets: ["NeuralNetworks"]),
        .library(name: "Environments", targets: ["Environments"]),
        .library(name: "Tracking", targets: ["Tracking"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "ReinforcementLearning", targets: ["ReinforcementLearning"]),
        .library(name: "LanguageModels", targets: ["LanguageModels"]),
        .library(name: "Alignment", targets: ["Alignment"]),
        .executable(name: "proxima", targets: ["proxima"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        .systemLibrary(name: "CLibTorch", pkgConfig: "proxima-libtorch"),
        // The C ABI over libtorch (ATen + autograd).
        .target(name: "CTorch", dependencies: ["CLibTorch"]),
        .target(name: "Torch", dependencies: ["CTorch"]),
        // Proxima's hand-written kernels for small RL networks (fused MLP, PPO's objective and step, rollout step):
        // their own targets, used by ReinforcementLearning (and the CLI's benchmarks) only.
        .target(name: "CFastKernels", dependencies: ["CLibTorch"]),
        .target(name: "FastKernels", dependencies: ["Torch", "NeuralNetworks", "CFastKernels"]),
        .target(name: "NeuralNetworks", dependencies: ["Torch"]),
        .target(name: "Environments", dependencies: ["Torch"]),
        .target(name: "Tracking"),
        // The training skeleton every trainer runs on: the loop, checkpoints, recorders (docs/architecture.md).
        .target(name: "Training", dependencies: ["Torch", "NeuralNetworks", "Tracking"]),
        .target(name: "ReinforcementLearning", dependencies: ["Torch", "NeuralNetworks", "FastKernels", "Environments", "Tracking", "Training",
                                                            .product(name: "Yams", package: "Yams")],
                resources: [.copy("Resources/hyperparams")]),
        // Hugging Face tokenizers and checkpoints, log-probabilities, generation.
        .target(name: "LanguageModels", dependencies: ["Torch", "NeuralNetworks"]),
        // Fine-tuning and preference optimisation on language models: SFT now, reward models and the DPO family next.
        .target(name: "Alignment", dependencies: ["Torch", "NeuralNetworks", "Training", "LanguageModels",
                                                 .product(name: "Yams", package: "Yams")]),
        .executableTarget(
            name: "proxima",
            dependencies: ["Torch", "NeuralNetworks", "FastKernels", "Environments", "Tracking", "Training", "ReinforcementLearning", "LanguageModels", "Alignment", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            linkerSettings: runPath
        ),
        .target(name: "TestSupport", dependencies: ["Torch"], path: "Tests/TestSupport"),
        .testTarget(name: "TorchTests", dependencies: ["Torch", "TestSupport", "proxima"], linkerSettings: runPath),
        .testTarget(name: "NeuralNetworksTests", dependencies: ["NeuralNetworks", "TestSupport", "proxima"], linkerSettings: runPath),
        .testTarget(name: "FastKernelsTests", dependencies: ["FastKernels", "NeuralNetworks", "TestSupport"], linkerSettings: runPath),
        .testTarget(name: "EnvironmentsTests", dependencies: ["Environments", "TestSupport"], linkerSettings: runPath),
        .testTarget(name: "TrackingTests", dependencies: ["Tracking", "TestSupport"], linkerSettings: runPath),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "NeuralNetworks", "TestSupport"], linkerSettings: runPath),
        .testTarget(name: "LanguageModelsTests", dependencies: ["LanguageModels", "TestSupport", "proxima"], linkerSettings: runPath),
        .testTarget(name: "AlignmentTests", dependencies: ["Alignment", "LanguageModels", "Training", "TestSupport", "proxima"], linkerSettings: runPath),
        .testTarget(name: "ReinforcementLearningTests", dependencies: ["ReinforcementLearning", "FastKernels", "TestSupport", "proxima"], linkerSettings: runPath),
    ],
    cxxLanguageStandard: .cxx20
)
