import Foundation
import LanguageModels
import Torch

/// RSO's data step (Liu et al. 2023, spec 12): sample N candidate responses per prompt from the SFT policy, score them
/// with a reward model (or any judge), keep n of them by statistical rejection sampling — an estimate of draws from
/// the optimal policy π*(y|x) ∝ π_sft(y|x)·exp(r(x, y)/β) — and pair the accepted ones (higher reward chosen) for the
/// `rso_sigmoid_norm` / `rso_hinge_norm` losses.
public struct RSOPairBuilder {
    /// Candidates per prompt (the paper: 64).
    public var candidateCount = 64
    /// Accepted samples per prompt and the sampler's β (the paper: 8 and 0.5).
    public var sampler: RejectionSampler
    public var construction: PairConstruction = .firstRound
    /// Sampling of the candidates from the policy.
    public var temperature = 1.0
    public var maxNewTokens = 64
    public var seed: UInt64 = 0

    public init(sampler: RejectionSampler) { self.sampler = sampler }

    /// What one prompt gave: the accepted candidates (in acceptance order) and the pairs.
    public struct Result {
        public var rows: [PreferencePairRow]
        /// Candidates examined and accepted over all prompts, and the sampler's uniform draws.
        public var candidates = 0, accepted = 0, uniforms = 0
    }

    /// Samples `candidateCount` responses to each prompt from `policy`, scores them with `score` (prompts and
    /// responses, one score each; higher is better), and returns the labelled pairs of every prompt.
    public func pairs(prompts: [String], policy: LanguageModel, score: ([String], [String]) throws -> [Double]) throws -> Result {
        guard let tokenizer = policy.tokenizer else { throw DataError("\(policy.directory.path): the model has no tokenizer") }
        guard candidateCount >= sampler.sampleCount else {
            throw DataError("num_samples (\(sampler.sampleCount)) must not exceed the candidates per prompt (\(candidateCount))")
        }
        let wasTraining = policy.decoder.isTraining
        policy.decoder.eval()
        defer { policy.decoder.train(wasTraining) }
        var parameters = SamplingParameters(maxNewTokens: maxNewTokens, temperature: temperature, seed: seed)
        parameters.samplesPerPrompt = candidateCount
        var result = Result(rows: [])
        var uniforms = SplitMix64(seed: seed &+ 0x50_0001)
        for (k, prompt) in prompts.enumerated() {
            parameters.seed = seed &+ UInt64(k)
            let ids = tokenizer.encode(prompt, addSpecialTokens: true)
            let (sequences, _) = try withInferenceMode { try policy.generate(prompts: [ids], parameters: parameters) }
            let candidates = sequences.map { tokenizer.decode($0.tokens, skipSpecialTokens: true) }
            let rewards = try score([String](repeating: prompt, count: candidates.count), candidates)
            let outcome = try sampler.sample(rewards: rewards) { Double(uniforms.next() >> 11) * 0x1p-53 }
            for (chosen, rejected) in rankedPairs(accepted: outcome.accepted, rewards: rewards, construction: construction) {
                result.rows.append(PreferencePairRow(prompt: prompt, chosen: candidates[chosen], rejected: candidates[rejected],
                                                     chosenScore: rewards[chosen], rejectedScore: rewards[rejected]))
            }
            result.candidates += candidates.count
            result.accepted += outcome.accepted.count
            result.uniforms += outcome.uniformsConsumed
        }
        return result
    }
}
