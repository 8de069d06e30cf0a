import ArgumentParser
import Foundation
import Torch

/// `proxima info`: the facts that decide speed (libtorch version, BLAS, threads).
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print libtorch, BLAS and thread facts.")

    func run() throws {
        print("libtorch: \(LibTorch.version)")
        let blas = LibTorch.blasInfo
        print("BLAS: \(blas.isEmpty ? "not OpenBLAS (matrix products will be slow; run scripts/setup)" : blas)")
        print("threads: \(LibTorch.numThreads)")
        print("CUDA: \(Device.cudaIsAvailable ? "available" : "not available")")
    }
}

/// `--threads N`, shared by commands that compute.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Threads for libtorch and OpenBLAS (default: the available cores, at most \(ThreadOptions.defaultLimit)).")
    var threads: Int?

    /// Small networks gain nothing from more threads: PPO's fused step splits into two halves, and libtorch's and
    /// OpenBLAS's per-call threading costs more than it saves on products of a few hundred rows.
    static let defaultLimit = 4

    static var defaultThreads: Int { Swift.max(1, Swift.min(ProcessInfo.processInfo.activeProcessorCount, defaultLimit)) }

    func validate() throws {
        if let threads, threads <= 0 { throw ValidationError("--threads must be positive, got \(threads)") }
    }

    func apply() {
        LibTorch.numThreads = threads ?? Self.defaultThreads
    }
}
