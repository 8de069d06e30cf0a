import Foundation
import LanguageModels
import Torch

// Judging one model's responses against another's: win rates with ties counting half and a 95% Wilson interval,
// responses decoded from prompts, and how well a policy's implicit reward orders pairs.

/// Wins, ties and losses of a candidate against a baseline.
public struct WinRate: Sendable, Equatable {
    public var wins = 0, ties = 0, losses = 0
    public init(wins: Int = 0, ties: Int = 0, losses: Int = 0) {
        self.wins = wins; self.ties = ties; self.losses = losses
    }

    public var comparisons: Int { wins + ties + losses }
    /// (wins + ties / 2) / comparisons.
    public var rate: Double { comparisons == 0 ? 0 : (Double(wins) + Double(ties) / 2) / Double(comparisons) }

    /// The 95% Wilson score interval of `rate` (ties counted as half a success).
    public var interval: (low: Double, high: Double) {
        let n = Double(comparisons)
        guard n > 0 else { return (0, 1) }
        let z = 1.959963984540054, p = rate
        let centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        let half = z * ((p * (1 - p) + z * z / (4 * n)) / n).squareRoot() / (1 + z * z / n)
        return (Swift.max(0, centre - half), Swift.min(1, centre + half))
    }

    /// Counts one comparison of scores (higher is better; equal is a tie).
    public mutating func record(candidate: Double, baseline: Double) {
        if candidate > baseline { wins += 1 } else if candidate < baseline { losses += 1 } else { ties += 1 }
    }

    /// "0.712 (95% CI 0.645–0.771; 142 wins, 9 ties, 49 losses)".
    public var summary: String {
        let (low, high) = interval
        return String(format: "%.3f (95%% CI %.3f–%.3f; %d wins, %d ties, %d losses)", rate, low, high, wins, ties, losses)
    }
}

/// Responses of `model` to text prompts: each prompt tokenised with the tokenizer's special tokens, decoded
/// greedily (or sampled at `temperature` with `seed`) up to `maxNewTokens` or EOS, special tokens dropped.
public func modelResponses(_ model: LanguageModel, prompts: [String], maxNewTokens: Int, temperature: Double = 0, seed: UInt64 = 0,
                           batchSize: Int = 128) throws -> [String] {
    guard let tokenizer = model.tokenizer else { throw DataError("\(model.directory.path): the model has no tokenizer") }
    let wasTraining = model.decoder.isTraining
    model.decoder.eval()
    defer { model.decoder.train(wasTraining) }
    var responses = [String](repeating: "", count: prompts.count)
    let parameters: SamplingParameters = temperature == 0 ? .greedy(maxNewTokens: maxNewTokens)
        : SamplingParameters(maxNewTokens: maxNewTokens, temperature: temperature, seed: seed)
    for start in stride(from: 0, to: prompts.count, by: batchSize) {
        let chunk = Array(prompts[start..<Swift.min(start + batchSize, prompts.count)])
        let ids = chunk.map { tokenizer.encode($0, addSpecialTokens: true) }
        let (sequences, _) = try withInferenceMode { try model.generate(prompts: ids, parameters: parameters) }
        for sequence in sequences { responses[start + sequence.promptIndex] = tokenizer.decode(sequence.tokens, skipSpecialTokens: true) }
    }
    return responses
}

extension PreferenceTrainer {
    /// The fraction of `pairs` whose implicit rewards, β·(log π − log π_ref) under `policy` and `reference`, order
    /// the two responses as `truth` does (pairs where `truth` ties are left out). Returns the fraction and the
    /// pairs counted.
    public static func implicitRewardAccuracy(policy: LanguageModel, reference: LanguageModel, pairs: PreferenceDataset,
                                              truth: (Int) -> (chosen: Double, rejected: Double), batchSize: Int = 64) -> (accuracy: Double, counted: Int) {
        let policyTable = referenceLogProbabilities(of: pairs, under: policy, batchSize: batchSize)
        let referenceTable = referenceLogProbabilities(of: pairs, under: reference, batchSize: batchSize)
        var agree = 0, counted = 0
        for i in 0..<pairs.count {
            let (chosen, rejected) = truth(i)
            guard chosen != rejected else { continue }
            let margin = (policyTable.values[i][0] - referenceTable.values[i][0]) - (policyTable.values[i][1] - referenceTable.values[i][1])
            counted += 1
            if (margin > 0) == (chosen > rejected) { agree += 1 }
        }
        return (Double(agree) / Double(Swift.max(1, counted)), counted)
    }
}
