import ArgumentParser
import Foundation
import NeuralNetworks
import Torch

/// `proxima diagnose KIND`: commits a deliberate programming error so that users (and the tests) can see how Proxima
/// stops: with libtorch's message, the failing operation and a backtrace to the call site.
struct Diagnose: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Trigger a deliberate libtorch error to show how errors are reported.",
        shouldDisplay: false
    )

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case matmul, add, reshape, dtype, index
        /// A failed Swift precondition (not libtorch's): the short crash report of any other programming error.
        case precondition
        /// Writes large checkpoints in a loop until killed (for the crash-safety test).
        case writeCheckpoints = "write-checkpoints"
    }

    @Argument(help: "Which error: \(Kind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var kind: Kind

    @Option(help: "Checkpoint path for write-checkpoints.")
    var path: String?

    func run() throws {
        if kind == .writeCheckpoints {
            guard let path else { throw ValidationError("write-checkpoints needs --path") }
            let model = Sequential.mlp(sizes: [256, 1024, 1024, 256])
            for round in 0... {
                try TrainingCheckpoint.capture(model: model, counters: ["round": round]).write(to: URL(fileURLWithPath: path))
                // The test that kills this process waits for the first line, so it knows a write has completed.
                FileHandle.standardOutput.write(Data("wrote \(round)\n".utf8))
            }
        }
        if kind == .precondition {
            let sizes = [2, 3]
            precondition(sizes.count == 3, "a deliberate precondition failure: sizes \(sizes) are not three")
        }
        let a = Tensor.ones([2, 3])
        let result: Tensor
        switch kind {
        case .matmul: result = a.matmul(Tensor.ones([4, 5]))
        case .add: result = a + Tensor.ones([4])
        case .reshape: result = a.reshaped(4, 2)
        case .dtype: result = a.linear(weight: Tensor.ones([2, 3], dtype: .float64))
        case .index: result = a.indexSelect(dim: 0, index: Tensor([7] as [Int]))
        case .writeCheckpoints, .precondition: return
        }
        print(result)
    }
}
