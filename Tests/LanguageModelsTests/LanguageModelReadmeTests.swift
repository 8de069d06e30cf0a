import Foundation
import Testing
import TestSupport
import Torch
import LanguageModels

/// The README's language-model example, kept compiling and checked for what it claims.
@Suite struct LanguageModelReadmeTests {
    @Test("the README's language-model snippet: tokenize, generate greedily, score the completion")
    func readmeExample() throws {
        let directory = Fixtures.huggingFace.appendingPathComponent("tiny-llama")
        // As in the README:
        let model = try LanguageModel(directory: directory)
        let tokenizer = model.tokenizer!
        let prompt = tokenizer.encode("The quick brown")
        let (sequences, statistics) = try model.generate(prompts: [prompt], parameters: .greedy(maxNewTokens: 12))
        let text = tokenizer.decode(sequences[0].tokens, skipSpecialTokens: true)
        let batch = CompletionBatch(prompts: [prompt], completions: [sequences[0].tokens], padID: model.padTokenID)
        let scored = withInferenceMode { model.decoder.completionLogProbabilities(batch) }
        // What it says: greedy tokens of the fixture, their summed log-probability equal to what generation recorded.
        #expect(statistics.newTokens == sequences[0].tokens.count && !text.isEmpty)
        let recorded = sequences[0].logProbabilities.reduce(0, +)
        #expect(Swift.abs(scored.sums.doubles[0] - recorded) < 1e-4, "\(scored.sums.doubles[0]) vs \(recorded)")
    }
}
