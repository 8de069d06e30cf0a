import Foundation
import Testing
import TestSupport
import Torch
@testable import LanguageModels

@Suite("Scored-position passes: the trimmed pass gives the full pass's values and gradients")
struct ScoredPositionPassTests {
    /// A pass the trimmed and the plain computation are compared on: ids, positions, mask and the flat positions
    /// (row × columns + column) whose hidden states are wanted.
    struct Case {
        let name: String
        let ids: Tensor
        let positions: Tensor
        let mask: Tensor?
        let sources: [Int64]
    }

    static var cases: [Case] {
        // Right-padded prompt/completion rows: the completion's predicting columns (2-5 and 0-1), padding masked.
        let padded = CompletionBatch(prompts: [[5, 17, 99], [42]], completions: [[7, 8, 9, 10], [11, 12]], padID: 2).batch
        // Two sequences packed in one row (positions restart, no attention across them); scored columns 1, 2, 4 and 5
        // of 7, so the first column and the last are left out.
        let segments = Tensor([0, 0, 0, 1, 1, 1, 1] as [Int64], shape: [1, 7])
        let packedMask = (segments.unsqueezed(2) .== segments.unsqueezed(1))
            .logicalAnd(Tensor.ones([7, 7], dtype: .bool).tril()).unsqueezed(1)
        return [
            Case(name: "padded", ids: padded.ids, positions: padded.positions, mask: padded.causalMask,
                 sources: [2, 3, 4, 5, 7, 8]),
            Case(name: "packed", ids: Tensor([5, 17, 99, 42, 11, 12, 7] as [Int64], shape: [1, 7]),
                 positions: Tensor([0, 1, 2, 0, 1, 2, 3] as [Int64], shape: [1, 7]), mask: packedMask, sources: [1, 2, 4, 5]),
            // Text rows, scored from the first column: nothing to skip in the last layer, the last column left out.
            Case(name: "from column 0", ids: Tensor([5, 17, 99, 42, 11, 12, 7, 8] as [Int64], shape: [2, 4]),
                 positions: Tensor([0, 1, 2, 3, 0, 1, 2, 3] as [Int64], shape: [2, 4]), mask: nil, sources: [0, 1, 2, 4, 5, 6]),
        ]
    }

    /// The selected hidden states, and every parameter's gradient of a fixed weighting of them.
    static func pass(_ directory: URL, _ c: Case, trimmed: Bool, checkpointing: Bool) throws -> (values: [Double], gradients: [String: [Double]]) {
        let model = try LanguageModel(directory: directory, dtype: .float64)
        model.decoder.unfreeze()
        model.decoder.gradientCheckpointing = checkpointing
        let hidden = model.decoder.scoredHiddenStates(c.ids, positions: c.positions, mask: c.mask, sources: c.sources, trimmed: trimmed)
        #expect(hidden.shape == [c.sources.count, model.configuration.hiddenSize], "\(c.name)")
        let weights = Tensor.randn(hidden.shape, dtype: .float64, generator: Generator(seed: 3))
        (hidden * weights).sum().backward()
        var gradients: [String: [Double]] = [:]
        for (name, parameter) in model.decoder.namedParameters() { gradients[name] = parameter.grad?.doubles ?? [] }
        return (hidden.doubles, gradients)
    }

    @Test("hiddenStates(firstOutput:) = the full pass's last columns (float64, with and without a mask)",
          arguments: Fixtures.huggingFaceModels)
    func firstOutput(directory: URL) throws {
        let model = try LanguageModel(directory: directory, dtype: .float64)
        for c in Self.cases {
            let full = model.decoder.hiddenStates(c.ids, positions: c.positions, mask: c.mask, caches: nil)
            let columns = c.ids.size(1)
            for first in 1..<columns {
                let part = model.decoder.hiddenStates(c.ids, positions: c.positions, mask: c.mask, caches: nil, firstOutput: first)
                #expect(part.shape == [c.ids.size(0), columns - first, model.configuration.hiddenSize], "\(c.name), from \(first)")
                expectClose(part, full.narrow(dim: 1, start: first, length: columns - first).doubles, atol: 1e-12, rtol: 0,
                            "\(directory.lastPathComponent), \(c.name), from column \(first)")
            }
        }
    }

    @Test("scoredHiddenStates trimmed = plain: values and every gradient, checkpointed or not (float64)",
          arguments: Fixtures.huggingFaceModels)
    func trimmedEqualsPlain(directory: URL) throws {
        for c in Self.cases {
            for checkpointing in [false, true] {
                let label = "\(directory.lastPathComponent), \(c.name), checkpointing \(checkpointing)"
                let plain = try Self.pass(directory, c, trimmed: false, checkpointing: checkpointing)
                let trimmed = try Self.pass(directory, c, trimmed: true, checkpointing: checkpointing)
                expectClose(trimmed.values, plain.values, atol: 1e-12, rtol: 0, "\(label): values")
                #expect(plain.gradients.keys.sorted() == trimmed.gradients.keys.sorted())
                for (name, expected) in plain.gradients {
                    // An untied output head is not part of the pass, and position embeddings of unscored columns may get
                    // no gradient; everything else does.
                    if !name.hasPrefix("lm_head") && !name.contains("wpe") {
                        #expect(expected.contains { $0 != 0 }, "\(label): \(name) has a gradient")
                    }
                    expectClose(trimmed.gradients[name] ?? [], expected, atol: 1e-11, rtol: 1e-9, "\(label): gradient of \(name)")
                }
            }
        }
    }

    @Test("the trimmed pass runs by default and says what it skipped; a bad query count is libtorch's error")
    func observable() throws {
        let model = try LanguageModel(directory: Fixtures.huggingFace.appendingPathComponent("tiny-llama"), dtype: .float64)
        let packed = Self.cases[1]
        #expect(ScoredPositionPass.isEnabled)
        let before = ScoredPositionPass.skippedColumns
        _ = model.decoder.scoredHiddenStates(packed.ids, positions: packed.positions, mask: packed.mask, sources: packed.sources)
        // Column 0 skipped by the last layer and column 6 by every layer (other tests may add theirs meanwhile).
        #expect(ScoredPositionPass.skippedColumns - before >= 2)
        #expect(ScoredPositionPass.totalColumns >= 7)
        // More queries than keys is a programming error, reported with libtorch's message.
        let q = Tensor.zeros([1, 3, 8], dtype: .float64), kv = Tensor.zeros([1, 2, 8], dtype: .float64)
        let error = #expect(throws: TorchError.self) {
            try catchingTorchErrors("attention") {
                decoderAttention(query: q, key: kv, value: kv, heads: 2, kvHeads: 2, headDimension: 4, scale: 1)
            }
        }
        #expect(error?.message.contains("at most as many queries as keys") == true, "\(String(describing: error))")
    }
}
