import Foundation
import LanguageModels
import Torch

/// The built-in `arithmetic` task: two-number additions such as `23+58=` with verifiable answers (`81`), as
/// prompt/completion rows. Generated locally from a seed. The held-out split shares no unordered pair {a, b} with
/// the training split, so held-out accuracy measures addition, not recall.
public struct ArithmeticTask: Sendable {
    /// Operands are drawn from `0...maximum` (99: up to two digits).
    public var maximum = 99
    /// The fraction of unordered pairs held out.
    public var heldOutFraction = 0.1
    public var seed: UInt64 = 0

    public init(maximum: Int = 99, heldOutFraction: Double = 0.1, seed: UInt64 = 0) {
        self.maximum = maximum
        self.heldOutFraction = heldOutFraction
        self.seed = seed
    }

    /// One problem.
    public struct Problem: Equatable, Sendable {
        public let a: Int, b: Int
        public var prompt: String { "\(a)+\(b)=" }
        public var answer: String { String(a + b) }
        /// The JSONL row, TRL's prompt/completion format.
        public var jsonLine: String { "{\"prompt\": \"\(prompt)\", \"completion\": \"\(answer)\"}" }
    }

    /// Every ordered problem, split by unordered pair: (train, held out), each in a seeded order.
    public func splits() -> (train: [Problem], heldOut: [Problem]) {
        var rng = SplitMix64(seed: seed &+ 0xA11)
        var pairs: [(Int, Int)] = []
        for a in 0...maximum { for b in a...maximum { pairs.append((a, b)) } }
        pairs.shuffle(using: &rng)
        let heldOutCount = Int((Double(pairs.count) * heldOutFraction).rounded())
        func problems(_ slice: ArraySlice<(Int, Int)>) -> [Problem] {
            var list: [Problem] = []
            for (a, b) in slice {
                list.append(Problem(a: a, b: b))
                if a != b { list.append(Problem(a: b, b: a)) }
            }
            list.shuffle(using: &rng)
            return list
        }
        return (problems(pairs.dropFirst(heldOutCount)), problems(pairs.prefix(heldOutCount)))
    }

    /// Whether `completion` answers `problem`: its leading digits equal the sum.
    public static func isCorrect(_ completion: String, for problem: Problem) -> Bool {
        String(completion.prefix { $0.isNumber }) == problem.answer
    }
}


extension ArithmeticTask {
    /// Exact-match accuracy of greedy answers on `problems`: the model completes each prompt (at most 5 tokens,
    /// stopping at EOS) and the completion's leading digits must equal the sum.
    public static func accuracy(of model: LanguageModel, on problems: [Problem], batchSize: Int = 256) throws -> Double {
        guard let tokenizer = model.tokenizer else { throw DataError("\(model.directory.path): the model has no tokenizer") }
        let wasTraining = model.decoder.isTraining
        model.decoder.eval()
        defer { model.decoder.train(wasTraining) }
        var correct = 0
        for start in stride(from: 0, to: problems.count, by: batchSize) {
            let chunk = Array(problems[start..<Swift.min(start + batchSize, problems.count)])
            let prompts = chunk.map { tokenizer.encode($0.prompt, addSpecialTokens: true) }
            let (sequences, _) = try withInferenceMode { try model.generate(prompts: prompts, parameters: .greedy(maxNewTokens: 5)) }
            for sequence in sequences where isCorrect(tokenizer.decode(sequence.tokens, skipSpecialTokens: true), for: chunk[sequence.promptIndex]) {
                correct += 1
            }
        }
        return Double(correct) / Double(Swift.max(1, problems.count))
    }
}
