import Foundation

/// The built-in `intransitive` task: rock-paper-scissors preferences, which no scalar reward can represent, for the
/// Nash-equilibrium methods (a policy can only be good against others, not good outright). Generated locally from a
/// seed.
///
/// Text format. A prompt is `classCount` distinct random lowercase letters followed by `=`, for example `qbx=`. A
/// response names one of them: its class is the position in the prompt of its first character (`q` → 0, `b` → 1,
/// `x` → 2), so the classes mean something different in every prompt; a response that does not start with a prompt
/// letter is invalid. `response(prompt:class:)` writes the canonical response of a class, the letter alone.
///
/// The preference. Classes sit on a circle and each beats the next (classCount − 1)/2 around it, with probability
/// `winProbability`: for three classes 0 ≻ 1 ≻ 2 ≻ 0. Any valid response beats an invalid one outright; the same
/// class, or two invalid responses, is a coin flip.
///
/// Why no reward fits. A reward model says a beats b more often than not exactly when r(a) > r(b) (Bradley-Terry,
/// or any link that is increasing in r(a) − r(b)). Here that would need r(0) > r(1) > r(2) > r(0), which no real
/// numbers satisfy; with more classes every class beats as many as beat it, so no class can come first. What exists
/// instead is the game's Nash equilibrium, the uniform mixture over classes: it wins exactly half its comparisons
/// against any valid response and all of them against invalid ones.
public struct IntransitiveTask: Sendable {
    /// The number of response classes: odd, 3 to 25.
    public let classCount: Int
    /// The probability that a class beats one it dominates, in (0.5, 1].
    public let winProbability: Double
    public var seed: UInt64

    public init(seed: UInt64 = 0, classCount: Int = 3, winProbability: Double = 0.9) throws {
        guard classCount >= 3, classCount <= 25, classCount % 2 == 1 else {
            throw DataError("classCount must be odd and between 3 and 25, got \(classCount)")
        }
        guard winProbability > 0.5, winProbability <= 1 else {
            throw DataError("winProbability must be in (0.5, 1], got \(winProbability)")
        }
        self.seed = seed
        self.classCount = classCount
        self.winProbability = winProbability
    }

    /// The class of `response` to `prompt`, or nil when it is invalid.
    public func responseClass(prompt: String, response: String) -> Int? {
        let letters = Array(OraclePreferenceTask.letters(ofPrompt: prompt))
        guard let first = response.first, let index = letters.firstIndex(of: first), index < classCount else { return nil }
        return index
    }

    /// The canonical response of class `index` (0 ..< classCount) to `prompt`: that prompt letter alone.
    public func response(prompt: String, class index: Int) -> String {
        String(Array(prompt)[index])
    }

    /// The probability that response `a` beats response `b` to `prompt`; `preference(a, b) + preference(b, a) = 1`.
    public func preference(prompt: String, a: String, b: String) -> Double {
        switch (responseClass(prompt: prompt, response: a), responseClass(prompt: prompt, response: b)) {
        case let (i?, j?): return classPreference(i, j)
        case (_?, nil): return 1
        case (nil, _?): return 0
        case (nil, nil): return 0.5
        }
    }

    /// The probability that class `i` beats class `j`.
    public func classPreference(_ i: Int, _ j: Int) -> Double {
        let step = ((j - i) % classCount + classCount) % classCount
        if step == 0 { return 0.5 }
        return step <= (classCount - 1) / 2 ? winProbability : 1 - winProbability
    }

    /// `count` prompt texts of `split`, in a seeded order. There are only 26!/(26 − classCount)! prompts (15,600 for
    /// three classes), so prompts may repeat.
    public func prompts(count: Int, split: PromptSplit = .train) -> [String] {
        var rng = SplitMix64(seed: seed &+ (split == .train ? 0x1A7_0001 : 0x1A7_0002))
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz")
        return drawPrompts(count: count, in: split, distinct: false, rng: &rng) { rng in
            OraclePreferenceTask.promptText(letters: String(alphabet.shuffled(using: &rng).prefix(classCount)))
        }
    }

    /// Preference rows: for each prompt two different classes drawn uniformly, their canonical responses, and one
    /// draw of `preference` deciding which is chosen.
    public func preferencePairs(count: Int, split: PromptSplit = .train) -> [PreferencePairRow] {
        var rng = SplitMix64(seed: seed &+ 0x1A7_0003)
        return prompts(count: count, split: split).map { prompt in
            let i = Int.random(in: 0..<classCount, using: &rng)
            let j = (i + Int.random(in: 1..<classCount, using: &rng)) % classCount
            let (a, b) = (response(prompt: prompt, class: i), response(prompt: prompt, class: j))
            let aWins = Double.random(in: 0..<1, using: &rng) < classPreference(i, j)
            return PreferencePairRow(prompt: prompt, chosen: aWins ? a : b, rejected: aWins ? b : a)
        }
    }
}
