import ArgumentParser
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
    @Option(help: "Intra-op threads for libtorch and OpenBLAS (default: libtorch's choice).")
    var threads: Int?

    func validate() throws {
        if let threads, threads <= 0 { throw ValidationError("--threads must be positive, got \(threads)") }
    }

    func apply() {
        if let threads { LibTorch.numThreads = threads }
    }
}
