import Foundation

/// Statistical rejection sampling from RSO (Liu et al., 2023, "Statistical Rejection Sampling Improves Preference
/// Optimization"), spec section 12.2.
///
/// RSO wants responses from the policy that is optimal for a reward r under a KL penalty of strength beta,
/// pi_r(y|x) ∝ pi_sft(y|x) exp(r(x, y) / beta), but can only sample the SFT policy. Given the rewards of N SFT samples
/// for one prompt, this keeps `sampleCount` of them, without replacement, so that the kept set approximates draws from
/// pi_r: in each round, candidate i (in sampling order) survives its uniform draw with probability
/// exp((r_i − r_max) / beta), where r_max is the largest reward among the candidates not yet accepted. The current
/// best always survives, so every round accepts at least one candidate. A large beta keeps candidates in sampling
/// order (plain SFT sampling); a small beta keeps only each round's best (best-of-N).
public struct RejectionSampler: Sendable {
    /// The KL strength of the target policy (`beta`, > 0; the paper's 0.5). Not the loss temperature of 12.1.
    public var beta: Double
    /// How many candidates to accept (`num_samples`, ≥ 1 and at most the number of candidates).
    public var sampleCount: Int

    public init(beta: Double = 0.5, sampleCount: Int = 8) throws {
        self.beta = beta
        self.sampleCount = sampleCount
        try validate()
    }

    /// The record of one run, round by round. `acceptanceProbabilities[k][j]` belongs to candidate
    /// `roundsExamined[k][j]`.
    public struct Outcome: Equatable, Sendable {
        /// Candidate indices in acceptance order.
        public var accepted: [Int]
        /// Uniform draws used: one per examined candidate.
        public var uniformsConsumed: Int
        public var roundsAccepted: [[Int]]
        /// The candidates each round scanned; the last round stops at the candidate that filled the quota.
        public var roundsExamined: [[Int]]
        public var acceptanceProbabilities: [[Double]]
    }

    /// Runs the sampler over `rewards` (one per candidate, in sampling order). `uniform` returns the next draw in
    /// [0, 1); it is called exactly once per examined candidate, and a candidate is accepted when its draw is below
    /// its acceptance probability. Throws when `sampleCount` exceeds the number of candidates or a reward is not
    /// finite, and passes on whatever `uniform` throws.
    public func sample(rewards: [Double], uniform: () throws -> Double) throws -> Outcome {
        try validate()
        guard sampleCount <= rewards.count else {
            throw DataError("num_samples (\(sampleCount)) must not exceed the number of candidates (\(rewards.count))")
        }
        if let bad = rewards.firstIndex(where: { !$0.isFinite }) {
            throw DataError("rewards[\(bad)] is \(rewards[bad]); rejection sampling needs finite rewards")
        }
        var outcome = Outcome(accepted: [], uniformsConsumed: 0, roundsAccepted: [], roundsExamined: [],
                              acceptanceProbabilities: [])
        var remaining = Array(rewards.indices)
        while outcome.accepted.count < sampleCount {
            // Fixed for the whole round, before the scan: acceptances within a round do not move the bound.
            let best = remaining.map { rewards[$0] }.max()!
            var examined: [Int] = [], probabilities: [Double] = [], acceptedNow: [Int] = []
            for i in remaining {
                let probability = exp((rewards[i] - best) / beta)
                examined.append(i)
                probabilities.append(probability)
                outcome.uniformsConsumed += 1
                guard try uniform() < probability else { continue }
                acceptedNow.append(i)
                outcome.accepted.append(i)
                if outcome.accepted.count == sampleCount { break }
            }
            let taken = Set(acceptedNow)
            remaining.removeAll { taken.contains($0) }
            outcome.roundsAccepted.append(acceptedNow)
            outcome.roundsExamined.append(examined)
            outcome.acceptanceProbabilities.append(probabilities)
        }
        return outcome
    }

    /// `sample(rewards:uniform:)` with draws from `generator`.
    public func sample(rewards: [Double], using generator: inout some RandomNumberGenerator) throws -> Outcome {
        try sample(rewards: rewards) { Double.random(in: 0..<1, using: &generator) }
    }

    private func validate() throws {
        guard beta > 0 else { throw DataError("beta must be > 0 for rejection sampling, got \(beta)") }
        guard sampleCount >= 1 else { throw DataError("num_samples must be at least 1, got \(sampleCount)") }
    }
}

/// How accepted responses are paired for training (spec 12.3).
public enum PairConstruction: String, CaseIterable, Codable, Sendable {
    /// RSO's default: neighbours in acceptance order, (a0, a1), (a2, a3), …; an odd last response is unused.
    case firstRound = "first_round"
    /// SLiC's knockout: the first round as above, then the winners, in order, paired the same way, round after round
    /// until one remains; an unpaired response advances without playing. n − 1 pairs, listed round by round.
    case tournament
}

/// Labelled [chosen, rejected] candidate-index pairs from `accepted` (in acceptance order), spec 12.3: the higher
/// reward is chosen, and on a tie the response earlier in the list. Every index must be valid for `rewards`.
public func rankedPairs(accepted: [Int], rewards: [Double],
                        construction: PairConstruction) -> [(chosen: Int, rejected: Int)] {
    var pairs: [(chosen: Int, rejected: Int)] = []
    var round = accepted
    while round.count > 1 {
        var winners: [Int] = []
        for k in stride(from: 0, to: round.count - 1, by: 2) {
            let (first, second) = (round[k], round[k + 1])
            let pair = rewards[second] > rewards[first] ? (chosen: second, rejected: first) : (chosen: first, rejected: second)
            pairs.append(pair)
            winners.append(pair.chosen)
        }
        if construction == .firstRound { break }
        if round.count % 2 == 1 { winners.append(round[round.count - 1]) }
        round = winners
    }
    return pairs
}
