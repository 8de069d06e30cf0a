import Foundation
import Testing
import TestSupport
import Torch
@testable import LanguageModels

/// The Hugging Face fixtures' `expected.json` and `batch_expected.json`, read as plain JSON.
struct ModelFixture {
    let directory: URL
    let expected: [String: Any]
    let batch: [String: Any]

    init(_ directory: URL) throws {
        self.directory = directory
        expected = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("expected.json"))) as! [String: Any]
        batch = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("batch_expected.json"))) as! [String: Any]
    }

    var name: String { directory.lastPathComponent }
    var cases: [[String: Any]] { expected["cases"] as! [[String: Any]] }
    var atol: Double { expected["atol_logits"] as! Double }

    /// The model as the reference of `expected.json` computed it: in float32; a bfloat16 checkpoint as the bfloat16
    /// model upcast to float32 (fixtures/README.md), whose rotary table the cast rounded to bfloat16. With a float32
    /// table the logits equal transformers 5.24's `from_pretrained(dtype=float32)` instead, which differs from this
    /// reference by the same 2.9e-4, 9.7e-5 and 6.8e-4 at most (measured). `batch_expected.json` was computed the
    /// second way (`forBatch`): its last_logits differ from a rounded table's by 2e-4.
    func load(forBatch: Bool = false) throws -> LanguageModel {
        let storedAsBFloat16 = (expected["dtype_on_disk"] as? String) == "torch.bfloat16"
        return try LanguageModel(directory: directory, rotaryFrequencyDType: storedAsBFloat16 && !forBatch ? .bfloat16 : nil)
    }
}

func ints(_ value: Any?) -> [Int] { (value as! [Any]).map { ($0 as! NSNumber).intValue } }
func intRows(_ value: Any?) -> [[Int]] { (value as! [Any]).map { ints($0) } }
func doubles(_ value: Any?) -> [Double] { (value as! [Any]).map { ($0 as! NSNumber).doubleValue } }

/// int64 [1, n] of `ids`.
func row(_ ids: [Int]) -> Tensor { Tensor(ids.map(Int64.init), shape: [1, ids.count]) }

@Suite("Hugging Face checkpoints")
struct ModelFixtureTests {
    @Test("logits of every prompt match transformers within atol_logits", arguments: Fixtures.huggingFaceModels)
    func logits(directory: URL) throws {
        let fixture = try ModelFixture(directory)
        let model = try fixture.load()
        #expect(!fixture.cases.isEmpty)
        for (k, item) in fixture.cases.enumerated() {
            let ids = ints(item["input_ids"])
            let expected = (item["logits"] as! [Any]).flatMap { doubles($0) }
            let logits = withInferenceMode {
                model.decoder.logits(row(ids), positions: Tensor.arange(ids.count).unsqueezed(0))
            }
            #expect(logits.shape == [1, ids.count, model.configuration.vocabularySize])
            expectClose(logits.doubles, expected, atol: fixture.atol, rtol: 0, "\(fixture.name) case \(k)")
        }
    }
}

@Suite("Log-probabilities")
struct LogProbabilityTests {
    @Test("expected.json's completion log-prob sums, over its jointly tokenised ids", arguments: Fixtures.huggingFaceModels)
    func jointSums(directory: URL) throws {
        let fixture = try ModelFixture(directory)
        let model = try fixture.load()
        for (k, item) in fixture.cases.enumerated() {
            let prompt = ints(item["input_ids"]), joint = ints(item["prompt_plus_completion_ids"])
            let batch = CompletionBatch(prompts: [Array(joint[..<prompt.count])], completions: [Array(joint[prompt.count...])], padID: 0)
            let sum = withInferenceMode { model.decoder.completionLogProbabilities(batch).sums.doubles[0] }
            let expected = (item["completion_logprob_sum"] as! NSNumber).doubleValue
            #expect(Swift.abs(sum - expected) <= 1e-4 * Swift.max(1, Swift.abs(expected)), "\(fixture.name) case \(k): \(sum) vs \(expected)")
        }
    }

    @Test("text prompts and completions are tokenised apart: the prompt as alone, the completion without special tokens")
    func textBatch() throws {
        let directory = Fixtures.huggingFace.appendingPathComponent("tiny-llama")
        let tokenizer = try Tokenizer(directory: directory)
        let batch = CompletionBatch(prompts: ["12 + 7 =", "The quick"], completions: [" 19", " brown fox"], tokenizer: tokenizer, appendEOS: true)
        #expect(batch.promptLengths == [tokenizer.encode("12 + 7 =").count, tokenizer.encode("The quick").count])
        let ids = batch.batch.ids.scalars(as: Int64.self).map(Int.init)
        let second = tokenizer.encode("The quick") + tokenizer.encode(" brown fox", addSpecialTokens: false) + [tokenizer.eosTokenID!]
        #expect(Array(ids[batch.batch.columns...].prefix(second.count)) == second)
        #expect(batch.completionLengths[1] == second.count - batch.promptLengths[1])
    }

    @Test("the right-padded training batch's completion sums and means (prompt and completion tokenised apart)",
          arguments: Fixtures.huggingFaceModels)
    func paddedBatch(directory: URL) throws {
        let fixture = try ModelFixture(directory)
        let model = try fixture.load(forBatch: true)
        let ids = intRows(fixture.batch["train_input_ids"]), mask = intRows(fixture.batch["train_attention_mask"])
        let promptLengths = ints(fixture.batch["prompt_lengths"])
        let lengths = mask.map { $0.reduce(0, +) }
        let batch = CompletionBatch(prompts: zip(ids, promptLengths).map { Array($0[..<$1]) },
                                    completions: zip(ids, zip(promptLengths, lengths)).map { Array($0[$1.0..<$1.1]) },
                                    padID: (fixture.batch["pad_id"] as! NSNumber).intValue)
        #expect(batch.batch.ids.scalars(as: Int64.self).map(Int.init) == ids.flatMap { $0 }, "padding reproduces the fixture's ids")
        let result = withInferenceMode { model.decoder.completionLogProbabilities(batch, chunkRows: 7) }
        for (name, actual, expected) in [("sums", result.sums.doubles, doubles(fixture.batch["completion_logprob_sums"])),
                                         ("means", result.means.doubles, doubles(fixture.batch["completion_logprob_means"]))] {
            for (a, b) in zip(actual, expected) {
                #expect(Swift.abs(a - b) <= 1e-4 * Swift.max(1, Swift.abs(b)), "\(fixture.name) \(name): \(actual) vs \(expected)")
            }
        }
    }

    @Test("chunked log-probs equal the full-logits computation in value and gradient (float64)")
    func chunkedEqualsFull() throws {
        let directory = Fixtures.huggingFace.appendingPathComponent("tiny-llama")
        let model = try LanguageModel(directory: directory, dtype: .float64)
        model.decoder.unfreeze()
        let batch = CompletionBatch(prompts: [[5, 17, 99], [42]], completions: [[7, 8, 9, 10], [11, 12]], padID: 2)
        let weights = Tensor([[0.3, -1.2, 0.5, 2.0], [1.5, 0.7, 0, 0]])
        func gradients(_ loss: Tensor) -> [Tensor] {
            let parameters = [model.decoder.outputEmbedding, model.decoder.parameters()[1]]
            return Torch.gradients(of: [loss], withRespectTo: parameters).map { $0! }
        }
        let chunked = model.decoder.completionLogProbabilities(batch, chunkRows: 2)
        let chunkedGradients = gradients((chunked.tokens * weights).sum())
        // The plain way: full logits, log-softmax, gather.
        let tokens = batch.batch
        let logits = model.decoder.logits(tokens.ids, positions: tokens.positions, mask: tokens.causalMask)
        let logSoftmax = logits.logSoftmax(dim: -1)
        var plain: [Tensor] = []
        for b in 0..<2 {
            for j in 0..<4 {
                guard j < batch.completionLengths[b] else { plain.append(Tensor(0.0)); continue }
                let column = batch.promptLengths[b] + j
                let target = tokens.ids.index([.index(b), .index(column)]).item(Int64.self)
                plain.append(logSoftmax.index([.index(b), .index(column - 1), .index(Int(target))]))
            }
        }
        let full = Tensor.stack(plain).reshaped([2, 4])
        #expect(chunked.tokens.dtype == .float64)
        expectClose(chunked.tokens, full.doubles, atol: 1e-12, "values")
        let fullGradients = gradients((full * weights).sum())
        for (a, b) in zip(chunkedGradients, fullGradients) { expectClose(a, b.doubles, atol: 1e-12, "gradient") }
        // Entropies of the predicted distributions at the completion positions, against −Σ p log p of the full logits.
        let withEntropies = model.decoder.completionLogProbabilities(batch, entropies: true, chunkRows: 3)
        let fullEntropies = -(logSoftmax.exp() * logSoftmax).sum(dim: -1)
        var expected: [Double] = []
        for b in 0..<2 {
            for j in 0..<4 {
                expected.append(j < batch.completionLengths[b]
                    ? fullEntropies.index([.index(b), .index(batch.promptLengths[b] + j - 1)]).item(Double.self) : 0)
            }
        }
        expectClose(withEntropies.entropies!, expected, atol: 1e-12, "entropies")
    }
}
