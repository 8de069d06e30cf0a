import Foundation
import Testing
@testable import Alignment

/// Every ordering of `0..<n`.
func permutations(_ n: Int) -> [[Int]] {
    guard n > 0 else { return [[]] }
    return permutations(n - 1).flatMap { p in (0...p.count).map { k in var q = p; q.insert(n - 1, at: k); return q } }
}

@Suite("intransitive task: cyclic preferences no scalar reward can represent")
struct IntransitiveTests {
    @Test("the majority preferences of the generated pairs form a cycle: no ordering of the classes agrees with them")
    func noConsistentOrdering() throws {
        let task = try IntransitiveTask(seed: 3)
        var wins = [[Int]](repeating: [Int](repeating: 0, count: 3), count: 3)
        for row in task.preferencePairs(count: 3_000) {
            let c = try #require(task.responseClass(prompt: row.prompt, response: row.chosen))
            let r = try #require(task.responseClass(prompt: row.prompt, response: row.rejected))
            #expect(c != r)
            wins[c][r] += 1
        }
        let majority = { (i: Int, j: Int) in wins[i][j] > wins[j][i] }
        #expect(majority(0, 1) && majority(1, 2) && majority(2, 0))
        let consistent = permutations(3).filter { order in
            order.indices.allSatisfy { k in order[(k + 1)...].allSatisfy { majority(order[k], $0) } }
        }
        #expect(consistent.isEmpty)
    }

    @Test("with five classes each beats two and loses to two, so no ordering fits either")
    func fiveClasses() throws {
        let task = try IntransitiveTask(classCount: 5)
        for i in 0..<5 {
            #expect((0..<5).filter { task.classPreference(i, $0) > 0.5 }.count == 2)
            for j in 0..<5 { #expect(task.classPreference(i, j) + task.classPreference(j, i) == 1) }
        }
        let consistent = permutations(5).filter { order in
            order.indices.allSatisfy { k in order[(k + 1)...].allSatisfy { task.classPreference(order[k], $0) > 0.5 } }
        }
        #expect(consistent.isEmpty)
    }

    @Test("preference reads classes from the prompt: rock-paper-scissors, invalid responses lose, ties are even")
    func preferenceFunction() throws {
        let task = try IntransitiveTask(winProbability: 0.8)
        let prompt = "qbx="
        #expect(task.responseClass(prompt: prompt, response: "b") == 1)
        #expect(task.responseClass(prompt: prompt, response: "xqq") == 2)
        #expect(task.responseClass(prompt: prompt, response: "=") == nil)
        #expect(task.responseClass(prompt: prompt, response: "") == nil)
        #expect(abs(task.preference(prompt: prompt, a: "q", b: "b") - 0.8) < 1e-12)
        #expect(abs(task.preference(prompt: prompt, a: "b", b: "x") - 0.8) < 1e-12)
        #expect(abs(task.preference(prompt: prompt, a: "x", b: "q") - 0.8) < 1e-12)
        #expect(abs(task.preference(prompt: prompt, a: "q", b: "x") - 0.2) < 1e-12)
        #expect(task.preference(prompt: prompt, a: "q", b: "q") == 0.5)
        #expect(task.preference(prompt: prompt, a: "z", b: "b") == 0)
        #expect(task.preference(prompt: prompt, a: "z", b: "m") == 0.5)
        #expect((0..<3).map { task.response(prompt: prompt, class: $0) } == ["q", "b", "x"])
        // The uniform mixture (the Nash equilibrium) wins exactly half the time against every class.
        for j in 0..<3 {
            let winRate: Double = (0..<3).map { task.classPreference($0, j) }.reduce(0, +) / 3
            #expect(abs(winRate - 0.5) < 1e-12)
        }
    }

    @Test("prompts: distinct letters and '=', deterministic for a seed, held-out prompts never in train")
    func prompts() throws {
        let task = try IntransitiveTask(seed: 9)
        let train = task.prompts(count: 5_000)
        for prompt in train.prefix(200) {
            #expect(prompt.count == 4 && prompt.last == "=")
            #expect(Set(prompt.dropLast()).count == 3)
        }
        #expect(train == (try IntransitiveTask(seed: 9)).prompts(count: 5_000))
        #expect(task.preferencePairs(count: 100) == (try IntransitiveTask(seed: 9)).preferencePairs(count: 100))
        #expect(Set(train).isDisjoint(with: task.prompts(count: 1_000, split: .heldOut)))
    }

    @Test("invalid settings are refused")
    func invalidSettings() {
        #expect(throws: DataError.self) { try IntransitiveTask(classCount: 4) }
        #expect(throws: DataError.self) { try IntransitiveTask(classCount: 27) }
        #expect(throws: DataError.self) { try IntransitiveTask(winProbability: 0.5) }
    }
}
