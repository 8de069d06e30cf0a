// swift-tools-version:6.0
import Foundation
import PackageDescription

// A package of your own that uses Proxima as a library, by relative path. Proxima's libraries carry no linker
// flags for libtorch's location; an executable finds it through the ld.so entry `scripts/setup` writes (as root),
// LD_LIBRARY_PATH, or a run-path like the one added here.
let environment = ProcessInfo.processInfo.environment
let libtorch = (environment["PROXIMA_LIBTORCH_PREFIX"] ?? [
    "/usr/local/lib/proxima/libtorch-2.15.0",
    (environment["XDG_DATA_HOME"] ?? ((environment["HOME"] ?? "") + "/.local/share")) + "/proxima/libtorch-2.15.0",
].first { FileManager.default.fileExists(atPath: $0 + "/lib/libtorch_cpu.so") } ?? "/usr/local/lib/proxima/libtorch-2.15.0") + "/lib"

let package = Package(
    name: "LibraryQuickstart",
    platforms: [.macOS(.v14)],
    dependencies: [.package(name: "Proxima", path: "../..")],
    targets: [
        .executableTarget(
            name: "LibraryQuickstart",
            dependencies: [
                .product(name: "ReinforcementLearning", package: "Proxima"),
                .product(name: "Environments", package: "Proxima"),
                .product(name: "NeuralNetworks", package: "Proxima"),
                .product(name: "Torch", package: "Proxima"),
            ],
            linkerSettings: [.unsafeFlags(["-Xlinker", "-rpath", "-Xlinker", libtorch])]
        ),
    ]
)
