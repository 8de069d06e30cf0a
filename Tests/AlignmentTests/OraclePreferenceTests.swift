import Foundation
import Testing
@testable import Alignment

@Suite("oracle-preference task: oracle, SFT data, labelled pairs, ranked lists, unpaired rows")
struct OraclePreferenceTests {
    let task = OraclePreferenceTask(seed: 42)

    @Test("the oracle: fraction of characters in the prompt minus 0.05 per character of length difference")
    func oracleByHand() {
        let score = OraclePreferenceTask.oracleScore
        #expect(score("abcdefgh=", "hgfedcba") == 1)
        #expect(score("abcdefgh", "hgfedcba") == 1)                                // bare letters work too
        #expect(abs(score("abcdefgh=", "abcdefgz") - 0.875) < 1e-12)               // 7 of 8 letters
        #expect(abs(score("abcdefgh=", "abcd") - 0.8) < 1e-12)                     // 1 − 0.05·4
        #expect(abs(score("abcdefgh=", "") - -0.4) < 1e-12)                        // 0 − 0.05·8
        #expect(abs(score("abcdefgh=", "zzzzzzzzzz") - -0.1) < 1e-12)              // 0 − 0.05·2
        #expect(abs(score("abcdefgh=", "aaaaaaaaaaaa") - 0.8) < 1e-12)             // repeats count: 1 − 0.05·4
        #expect(abs(score("aabbccddee=", "abxyz=") - (2.0 / 6 - 0.2)) < 1e-12)    // 10 letters; "=" is not one
    }

    @Test("prompts are 8–16 lowercase letters and '='; SFT completions are shuffled, substituted, separator-free")
    func rowShapes() {
        let rows = task.sftRows(count: 2000)
        var scores: [Double] = []
        for row in rows {
            let letters = OraclePreferenceTask.letters(ofPrompt: row.prompt)
            #expect(row.prompt == letters + "=")
            #expect(OraclePreferenceTask.letterCounts.contains(letters.count))
            #expect(letters.allSatisfy { ("a"..."z").contains($0) })
            #expect(row.completion.count == letters.count)
            #expect(row.completion.allSatisfy { ("a"..."z").contains($0) })
            scores.append(OraclePreferenceTask.oracleScore(prompt: row.prompt, response: row.completion))
        }
        let mean = scores.reduce(0, +) / Double(scores.count)
        #expect(mean > 0.75 && mean < 0.95, "mean SFT score \(mean)")
        #expect(scores.contains(1) && scores.contains { $0 < 0.7 }, "SFT quality should vary")
        #expect(Set(rows.map(\.prompt)).count == rows.count)
    }

    @Test("every generator is deterministic for a seed, and longer requests extend shorter ones")
    func determinism() {
        let again = OraclePreferenceTask(seed: 42)
        #expect(task.prompts(count: 50) == again.prompts(count: 50))
        #expect(task.sftRows(count: 50) == again.sftRows(count: 50))
        #expect(task.preferencePairs(count: 50) == again.preferencePairs(count: 50))
        #expect(task.rankedLists(count: 20, listSize: 4) == again.rankedLists(count: 20, listSize: 4))
        #expect(task.unpairedRows(count: 50) == again.unpairedRows(count: 50))
        #expect(Array(task.sftRows(count: 80).prefix(50)) == task.sftRows(count: 50))
        #expect(task.prompts(count: 50) != OraclePreferenceTask(seed: 43).prompts(count: 50))
    }

    @Test("held-out prompts never occur in training data")
    func disjointSplits() {
        let train = Set(task.prompts(count: 20_000, split: .train))
        let heldOut = task.prompts(count: 2_000, split: .heldOut)
        #expect(heldOut.count == 2_000)
        #expect(train.isDisjoint(with: heldOut))
        #expect(heldOut.allSatisfy { PromptSplit.of($0) == .heldOut })
        #expect(task.preferencePairs(count: 10, split: .heldOut).map(\.prompt) == Array(heldOut.prefix(10)))
    }

    @Test("labelling a fixed pair picks the first response at the Bradley-Terry rate sigmoid((s1 − s2) / 0.1)")
    func bradleyTerryFrequency() {
        let prompt = "abcdefgh=", better = "hgfedcba", worse = "abcdefgz"          // scores 1 and 0.875
        let expected = 1 / (1 + exp(-1.25))
        #expect(abs(OraclePreferenceTask.preferenceProbability(1, over: 0.875) - expected) < 1e-12)
        var rng = SplitMix64(seed: 1)
        let draws = 20_000
        var firstChosen = 0
        for _ in 0..<draws {
            let row = OraclePreferenceTask.labelPair(prompt: prompt, better, worse, using: &rng)
            #expect(row.chosenScore! >= 0.875 && row.rejectedScore! <= 1)
            if row.chosen == better { firstChosen += 1 }
        }
        // The standard error is about 0.003; 0.02 is a generous bound.
        #expect(abs(Double(firstChosen) / Double(draws) - expected) < 0.02)
    }

    @Test("generated pairs: the higher-scored response is chosen as often as Bradley-Terry predicts")
    func pairLabelsFollowBradleyTerry() {
        let rows = task.preferencePairs(count: 5_000)
        var predicted = 0.0, observed = 0.0, counted = 0.0
        for row in rows {
            #expect(row.chosenScore == OraclePreferenceTask.oracleScore(prompt: row.prompt, response: row.chosen))
            #expect(row.rejectedScore == OraclePreferenceTask.oracleScore(prompt: row.prompt, response: row.rejected))
            let (c, r) = (row.chosenScore!, row.rejectedScore!)
            guard c != r else { continue }
            counted += 1
            predicted += OraclePreferenceTask.preferenceProbability(max(c, r), over: min(c, r))
            if c > r { observed += 1 }
        }
        #expect(counted > 3_000)
        #expect(abs(observed / counted - predicted / counted) < 0.03)
    }

    @Test("ranked lists hold K samples, best oracle score first, with their scores")
    func rankedLists() {
        for row in task.rankedLists(count: 200, listSize: 5) {
            #expect(row.responses.count == 5)
            #expect(row.scores == row.responses.map { OraclePreferenceTask.oracleScore(prompt: row.prompt, response: $0) })
            #expect(zip(row.scores, row.scores.dropFirst()).allSatisfy { $0 >= $1 })
        }
    }

    @Test("unpaired rows: desirable samples score higher on average, and both labels occur")
    func unpairedRows() {
        let rows = task.unpairedRows(count: 3_000)
        let score = { (row: UnpairedRow) in OraclePreferenceTask.oracleScore(prompt: row.prompt, response: row.completion) }
        let good = rows.filter(\.label).map(score), bad = rows.filter { !$0.label }.map(score)
        #expect(good.count > 900 && bad.count > 900)
        let goodMean: Double = good.reduce(0, +) / Double(good.count), badMean: Double = bad.reduce(0, +) / Double(bad.count)
        #expect(goodMean > badMean + 0.03)
    }

    @Test("rows encode with TRL's field names")
    func encoding() throws {
        let row = PreferencePairRow(prompt: "ab=", chosen: "ba", rejected: "bz", chosenScore: 1, rejectedScore: 0.5)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(row), as: UTF8.self)
        #expect(json == #"{"chosen":"ba","chosen_score":1,"prompt":"ab=","rejected":"bz","rejected_score":0.5}"#)
        let bare = PreferencePairRow(prompt: "ab=", chosen: "a", rejected: "b")
        #expect(String(decoding: try encoder.encode(bare), as: UTF8.self) == #"{"chosen":"a","prompt":"ab=","rejected":"b"}"#)
        #expect(try JSONDecoder().decode(PreferencePairRow.self, from: try encoder.encode(row)) == row)
    }
}
