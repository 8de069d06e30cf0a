import Foundation
import Testing
import TestSupport
@testable import LanguageModels
@testable import Alignment

/// The `rso_rejection_sampling` golden cases of the preference folder (PROXIMA_GOLDEN_DIR or Tests/Fixtures/golden).
func rejectionSamplingGoldenFiles() -> [URL] {
    let all = Fixtures.goldenFiles("preference")
    let cases = all.filter { $0.lastPathComponent.hasPrefix("rso_rejection_sampling__") }
    return cases.isEmpty ? [Fixtures.golden.appendingPathComponent("preference/\(Fixtures.noCasesPlaceholder)")] : cases
}

@Suite("RSO statistical rejection sampling and pair construction (spec 12.2, 12.3)")
struct RejectionSamplingTests {
    @Test("matches the golden cases: acceptances, rounds, draws consumed, probabilities and both pairings",
          arguments: rejectionSamplingGoldenFiles())
    func golden(_ url: URL) throws {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let params = try #require(object["params"] as? [String: Any])
        let inputs = try #require(object["inputs"] as? [String: Any])
        let expected = try #require(object["expected"] as? [String: Any])
        let tolerance = try #require(object["tolerance"] as? Double)
        let rewards = try #require(inputs["rewards"] as? [Double])
        let uniforms = try #require(inputs["uniforms"] as? [Double])

        let sampler = try RejectionSampler(beta: try #require(params["beta"] as? Double),
                                           sampleCount: try #require(params["num_samples"] as? Int))
        var next = 0
        let outcome = try sampler.sample(rewards: rewards) {
            defer { next += 1 }
            return uniforms[next]
        }
        #expect(outcome.accepted == expected["accepted_indices"] as? [Int])
        #expect(outcome.uniformsConsumed == expected["num_uniforms_consumed"] as? Int)
        #expect(next == outcome.uniformsConsumed)
        #expect(outcome.roundsAccepted == expected["rounds_accepted"] as? [[Int]])
        #expect(outcome.roundsExamined == expected["rounds_examined"] as? [[Int]])
        let probabilities = try #require(expected["acceptance_probabilities"] as? [[Double]])
        #expect(outcome.acceptanceProbabilities.map(\.count) == probabilities.map(\.count))
        for (got, want) in zip(outcome.acceptanceProbabilities.joined(), probabilities.joined()) {
            #expect(abs(got - want) <= tolerance * max(1, abs(want)), "probability \(got) vs \(want)")
        }
        for (construction, key) in [(PairConstruction.firstRound, "first_round_pairs"), (.tournament, "tournament_pairs")] {
            let pairs = rankedPairs(accepted: outcome.accepted, rewards: rewards, construction: construction)
            #expect(pairs.map { [$0.chosen, $0.rejected] } == expected[key] as? [[Int]], "\(key)")
        }
    }

    @Test("beta <= 0, num_samples < 1 and num_samples above the candidate count are refused, naming the setting")
    func invalidSettings() throws {
        #expect { try RejectionSampler(beta: 0) } throws: { "\($0)".contains("beta") }
        #expect { try RejectionSampler(beta: -.infinity) } throws: { "\($0)".contains("beta") }
        #expect { try RejectionSampler(sampleCount: 0) } throws: { "\($0)".contains("num_samples") }
        let sampler = try RejectionSampler(sampleCount: 3)
        #expect { try sampler.sample(rewards: [1, 2]) { 0 } } throws: { "\($0)".contains("num_samples") }
        #expect { try sampler.sample(rewards: [1, .nan, 2]) { 0 } } throws: { "\($0)".contains("finite") }
    }

    @Test("a tiny beta keeps the top n in order of reward; a huge beta keeps the first n in sampling order")
    func betaLimits() throws {
        let rewards = [0.3, 2.0, -1.0, 1.5, 0.9]
        var rng = SplitMix64(seed: 7)
        #expect(try RejectionSampler(beta: 1e-6, sampleCount: 3).sample(rewards: rewards, using: &rng).accepted == [1, 3, 4])
        #expect(try RejectionSampler(beta: 1e9, sampleCount: 3).sample(rewards: rewards, using: &rng).accepted == [0, 1, 2])
    }

    @Test("pairing: higher reward chosen, ties to the earlier response, odd leftovers unused or given a bye")
    func pairing() {
        let rewards = [0.0, 1.0, 1.0, 5.0, 2.0]
        let accepted = [0, 1, 2, 3, 4]
        let first = rankedPairs(accepted: accepted, rewards: rewards, construction: .firstRound)
        #expect(first.map { [$0.chosen, $0.rejected] } == [[1, 0], [3, 2]])
        let tournament = rankedPairs(accepted: accepted, rewards: rewards, construction: .tournament)
        #expect(tournament.map { [$0.chosen, $0.rejected] } == [[1, 0], [3, 2], [3, 1], [3, 4]])
        #expect(rankedPairs(accepted: [1, 2], rewards: rewards, construction: .firstRound).map(\.chosen) == [1])
        #expect(rankedPairs(accepted: [4], rewards: rewards, construction: .tournament).isEmpty)
        #expect(rankedPairs(accepted: [], rewards: rewards, construction: .tournament).isEmpty)
    }
}

@Suite("RSO pairs from a policy's samples")
struct RSOPairBuilderTests {
    @Test("N candidates per prompt, n accepted by the sampler, ⌊n/2⌋ first-round pairs (n − 1 tournament pairs), the higher score chosen; seeded")
    func pairsFromSamples() throws {
        let model = try LanguageModel(directory: gpt2Directory)
        var builder = RSOPairBuilder(sampler: try RejectionSampler(beta: 0.5, sampleCount: 4))
        builder.candidateCount = 8
        builder.maxNewTokens = 6
        builder.seed = 3
        let prompts = ["abcd=", "efgh=", "ijkl="]
        let score: ([String], [String]) throws -> [Double] = { prompts, responses in
            zip(prompts, responses).map { OraclePreferenceTask.oracleScore(prompt: $0, response: $1) }
        }
        let first = try builder.pairs(prompts: prompts, policy: model, score: score)
        #expect(first.candidates == 24 && first.accepted == 12 && first.rows.count == 3 * 2)
        #expect(first.rows.allSatisfy { ($0.chosenScore ?? 0) >= ($0.rejectedScore ?? 0) })
        #expect(first.uniforms >= 12)
        let again = try builder.pairs(prompts: prompts, policy: model, score: score)
        #expect(again.rows == first.rows)
        builder.construction = .tournament
        #expect(try builder.pairs(prompts: prompts, policy: model, score: score).rows.count == 3 * 3)
        builder.candidateCount = 2
        #expect(throws: DataError.self) { _ = try builder.pairs(prompts: prompts, policy: model, score: score) }
    }
}
