import ArgumentParser
import Foundation
import Torch
import Tracking

/// `proxima info`: the facts that decide speed and correctness (libtorch version and file, CPU kernels, BLAS,
/// threads, CUDA).
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print libtorch, CPU, BLAS and thread facts.")

    @Flag(help: "Print one JSON object.")
    var json = false

    @OptionGroup var threads: ThreadOptions

    func run() throws {
        threads.apply()
        let facts: [(String, String)] = [
            ("libtorch", LibTorch.version),
            ("library", LibTorch.libraryPath),
            ("cpu_capability", LibTorch.cpuCapability),
            ("blas", LibTorch.blasInfo),
            ("threads", String(LibTorch.numThreads)),
            ("cuda_available", Device.cudaIsAvailable ? "true" : "false"),
        ]
        if json {
            let body = facts.map { key, value in
                let literal = ["threads", "cuda_available"].contains(key) ? value : jsonString(value)
                return "\"\(key)\":\(literal)"
            }
            print("{" + body.joined(separator: ",") + "}")
        } else {
            for (key, value) in facts { print("\(key): \(value)") }
        }
    }
}

/// `--threads N`, shared by commands that compute.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Threads for libtorch and MKL (default: the available cores, at most \(ThreadOptions.defaultLimit)).")
    var threads: Int?

    /// Small networks gain nothing from more threads: PPO's fused step splits into two halves, and the BLAS's
    /// per-call threading costs more than it saves on products of a few hundred rows.
    static let defaultLimit = 4

    static var defaultThreads: Int { Swift.max(1, Swift.min(ProcessInfo.processInfo.activeProcessorCount, defaultLimit)) }

    func validate() throws {
        if let threads, threads <= 0 { throw ValidationError("--threads must be positive, got \(threads)") }
    }

    func apply() {
        LibTorch.numThreads = threads ?? Self.defaultThreads
    }
}
