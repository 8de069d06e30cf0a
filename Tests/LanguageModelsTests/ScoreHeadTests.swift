import Foundation
import Testing
import TestSupport
import Torch
@testable import LanguageModels

@Suite("Score heads (reward models) and value heads")
struct ScoreHeadTests {
    @Test("every reward fixture: each sequence alone, a right-padded batch, and a left-padded one give transformers' scores",
          arguments: Fixtures.rewardModels)
    func rewardFixture(directory: URL) throws {
        let expected = try Fixtures.json(directory.appendingPathComponent("expected.json"))
        let model = try LanguageModel(directory: directory)
        #expect(model.scoreHead?.labels == 1)
        let sequences = (expected["sequences"] as! [[Any]]).map { $0.map { ($0 as! NSNumber).intValue } }
        let want = (expected["scores"] as! [Any]).map { ($0 as! NSNumber).doubleValue }
        let atol = expected["atol"] as! Double, padID = expected["pad_id"] as! Int
        #expect(!sequences.isEmpty && sequences.count == want.count)
        withInferenceMode {
            for (k, ids) in sequences.enumerated() {
                let alone = model.scores(TokenBatch([ids], padding: .right, padID: padID))
                expectClose(alone.doubles, [want[k]], atol: atol, rtol: 0, "\(directory.lastPathComponent) sequence \(k) alone")
            }
            for side in [PaddingSide.right, .left] {
                let batch = model.scores(TokenBatch(sequences, padding: side, padID: padID))
                #expect(batch.shape == [sequences.count, 1])
                expectClose(batch.doubles, want, atol: atol, rtol: 0, "\(directory.lastPathComponent) \(side)-padded batch")
            }
        }
    }

    @Test("transformers' readout (last id that is not the pad id) differs exactly when a row ends in the pad id")
    func transformersReadout() throws {
        let directory = Fixtures.rewardModels[0]
        let expected = try Fixtures.json(directory.appendingPathComponent("expected.json"))
        let model = try LanguageModel(directory: directory)
        let padID = expected["pad_id"] as! Int
        let ids = (expected["sequences"] as! [[Any]])[0].map { ($0 as! NSNumber).intValue }
        #expect(ids.last != padID)
        withInferenceMode {
            let plain = TokenBatch([ids], padding: .right, padID: padID)
            #expect(model.scores(plain, readout: .lastNonPadToken(padID: padID)).equal(model.scores(plain)))
            // Ending in EOS = pad: Proxima scores the EOS, transformers the token before it.
            let withEOS = TokenBatch([ids + [padID]], padding: .right, padID: padID)
            let perToken = model.tokenScores(withEOS)
            #expect(model.scores(withEOS).equal(perToken.narrow(dim: 1, start: ids.count, length: 1).squeezed(1)))
            #expect(model.scores(withEOS, readout: .lastNonPadToken(padID: padID)).equal(perToken.narrow(dim: 1, start: ids.count - 1, length: 1).squeezed(1)))
            #expect(!model.scores(withEOS).equal(model.scores(withEOS, readout: .lastNonPadToken(padID: padID))))
        }
    }

    @Test("a score model saves as a …ForSequenceClassification directory and reloads with identical scores", arguments: Fixtures.rewardModels)
    func saveReload(directory: URL) throws {
        let model = try LanguageModel(directory: directory)
        let out = try temporaryDirectory().appendingPathComponent("reward")
        try model.save(to: out)
        let config = try Fixtures.json(out.appendingPathComponent("config.json"))
        #expect((config["architectures"] as? [String])?.first?.hasSuffix("ForSequenceClassification") == true)
        let header = try SafeTensors.header(of: out.appendingPathComponent("model.safetensors")).tensors
        #expect(header["score.weight"]?.shape == [1, model.configuration.hiddenSize])
        #expect(!header.keys.contains { $0.hasPrefix("lm_head") })
        let reloaded = try LanguageModel(directory: out)
        let batch = TokenBatch([[3, 4, 5, 6], [7, 8]], padding: .right, padID: 0)
        withInferenceMode { #expect(reloaded.scores(batch).equal(model.scores(batch))) }
    }

    @Test("a causal LM becomes a score model: same trunk, a new score head, no output head; the wrong label count is refused")
    func fromCausalLM() throws {
        let base = Fixtures.huggingFace.appendingPathComponent("tiny-llama")
        let lm = try LanguageModel(directory: base)
        let scorer = try LanguageModel(directory: base, scoreLabels: 2)
        #expect(scorer.scoreHead?.labels == 2)
        #expect(lm.scoreHead == nil)
        let batch = TokenBatch([[3, 4, 5, 6, 9], [7, 8]], padding: .right, padID: 0)
        withInferenceMode {
            #expect(scorer.hiddenStates(batch).equal(lm.hiddenStates(batch)))
            let h = scorer.hiddenStates(batch)
            let want = h.linear(weight: scorer.scoreHead!.projection.weight)
            #expect(scorer.tokenScores(batch).equal(want))
            #expect(scorer.scores(batch).shape == [2, 2])
            #expect(scorer.scores(batch).narrow(dim: 0, start: 1, length: 1).equal(want.narrow(dim: 0, start: 1, length: 1).narrow(dim: 1, start: 1, length: 1).reshaped([1, 2])))
        }
        #expect(!scorer.decoder.namedParameters().contains { $0.0.hasPrefix("lm_head") })
        #expect(throws: ModelLoadingError.self) { try LanguageModel(directory: Fixtures.rewardModels[0], scoreLabels: 3) }
    }

    @Test("value head: per-token values = hidden · w + b, gradients reach the head and not the frozen trunk (float64 finite differences)")
    func valueHead() throws {
        let model = try LanguageModel(directory: Fixtures.huggingFace.appendingPathComponent("tiny-gpt2"), dtype: .float64)
        let head = ValueHead(hiddenSize: model.configuration.hiddenSize, dtype: .float64)
        let batch = TokenBatch([[3, 4, 5, 6], [7, 8]], padding: .right, padID: 0)
        let hidden = withNoGrad { model.hiddenStates(batch) }
        let values = head(hidden)
        #expect(values.shape == [2, 4])
        let w = head.projection.weight, b = head.projection.bias!
        #expect(values.allClose(hidden.matmul(w.transposed(0, 1)).squeezed(-1) + b, rtol: 1e-12, atol: 1e-12))
        values.sum().backward()
        let analytic = w.grad!.doubles
        #expect(model.decoder.parameters().allSatisfy { $0.grad == nil })
        // d Σ values / d w_j = Σ over positions of hidden_j.
        let numeric = hidden.sum(dim: 0).sum(dim: 0).doubles
        expectClose(analytic, numeric, atol: 1e-10, rtol: 1e-10)
        expectClose(b.grad!.doubles, [8], atol: 1e-12, rtol: 0)
    }
}
