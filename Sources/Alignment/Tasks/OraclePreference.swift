import Foundation

/// The built-in `oracle-preference` task: a synthetic preference problem whose true reward is known, so a trained
/// policy or reward model can be scored exactly. Generated locally from a seed.
///
/// Text format. A prompt is 8–16 random lowercase letters followed by `=`, for example `qzkfmbta=` (compare the
/// arithmetic task's `23+58=`); every prompt this type emits, in every row, has that form. Responses (completions,
/// chosen, rejected) are bare lowercase letters, never the separator. `letters(ofPrompt:)` strips the separator, and
/// `oracleScore` strips it itself, so it accepts a prompt in either form.
///
/// The oracle. `oracleScore` rewards a response for using the prompt's letters and for matching its length: the
/// fraction of the response's characters that occur among the prompt's letters (repeats count each time), minus
/// 0.05 per character of length difference. A rearrangement of the prompt scores 1.
///
/// The data. SFT completions come from a noisy copying process: the prompt's letters shuffled, then each position
/// replaced by a different random letter with a probability drawn per row from [0, 0.5], so a model fitted to them
/// answers with varied quality. Preference pairs, ranked lists and unpaired rows are samples of that same process,
/// labelled with the oracle (pairs and unpaired rows through Bradley-Terry draws at temperature 0.1).
///
/// Splits. Prompts are assigned to train or held out by a hash of their text (`PromptSplit.of`), so the held-out
/// prompts never occur in training data. Every generator takes its rows' prompts, in order, from
/// `prompts(count:split:)` and draws from its own seeded stream, so each is deterministic given the seed and a longer
/// request extends a shorter one.
public struct OraclePreferenceTask: Sendable {
    /// Ends every prompt.
    public static let separator: Character = "="
    /// How many letters a prompt has.
    public static let letterCounts = 8...16
    /// The SFT process's per-row substitution rate is uniform in [0, this].
    public static let maximumSubstitutionRate = 0.5
    /// The score lost per character of length difference between response and prompt.
    public static let lengthPenalty = 0.05
    /// Bradley-Terry temperature of the labeller.
    public static let temperature = 0.1

    public var seed: UInt64

    public init(seed: UInt64 = 0) { self.seed = seed }

    /// The prompt's letters: `prompt` without a trailing separator.
    public static func letters(ofPrompt prompt: String) -> String {
        prompt.last == separator ? String(prompt.dropLast()) : prompt
    }

    /// The prompt text for `letters`: the letters followed by the separator.
    public static func promptText(letters: String) -> String { letters + String(separator) }

    /// The true reward of `response` to `prompt` (prompt text or bare letters): the fraction of the response's
    /// characters that occur in the prompt (0 for an empty response) minus 0.05 × |response length − prompt length|,
    /// lengths in characters. The response is taken as given: cut it at the end-of-sequence token first.
    public static func oracleScore(prompt: String, response: String) -> Double {
        let letters = letters(ofPrompt: prompt)
        let alphabet = Set(letters)
        let length = response.count
        let matching = response.reduce(0) { $0 + (alphabet.contains($1) ? 1 : 0) }
        let fraction = length == 0 ? 0 : Double(matching) / Double(length)
        return fraction - lengthPenalty * Double(abs(length - letters.count))
    }

    /// The probability that the labeller prefers a response scoring `first` to one scoring `second`:
    /// sigmoid((first − second) / 0.1).
    public static func preferenceProbability(_ first: Double, over second: Double) -> Double {
        1 / (1 + exp(-(first - second) / temperature))
    }

    /// Labels two responses to `prompt` with one Bradley-Terry draw: `first` is chosen with probability
    /// `preferenceProbability(score(first), over: score(second))`, so equal scores are a fair coin.
    public static func labelPair(prompt: String, _ first: String, _ second: String,
                                 using generator: inout some RandomNumberGenerator) -> PreferencePairRow {
        let s1 = oracleScore(prompt: prompt, response: first), s2 = oracleScore(prompt: prompt, response: second)
        let firstWins = Double.random(in: 0..<1, using: &generator) < preferenceProbability(s1, over: s2)
        return firstWins
            ? PreferencePairRow(prompt: prompt, chosen: first, rejected: second, chosenScore: s1, rejectedScore: s2)
            : PreferencePairRow(prompt: prompt, chosen: second, rejected: first, chosenScore: s2, rejectedScore: s1)
    }

    /// `count` distinct prompt texts of `split`, in a seeded order.
    public func prompts(count: Int, split: PromptSplit = .train) -> [String] {
        var rng = SplitMix64(seed: seed &+ (split == .train ? 0x0AC1_E001 : 0x0AC1_E002))
        return drawPrompts(count: count, in: split, distinct: true, rng: &rng) { rng in
            let length = Int.random(in: Self.letterCounts, using: &rng)
            return Self.promptText(letters: String((0..<length).map { _ in randomLowercaseLetter(using: &rng) }))
        }
    }

    /// Supervised rows: each prompt with one sample of the SFT process as its completion.
    public func sftRows(count: Int, split: PromptSplit = .train) -> [PromptCompletionRow] {
        var rng = SplitMix64(seed: seed &+ 0x0AC1_E003)
        return prompts(count: count, split: split).map {
            PromptCompletionRow(prompt: $0, completion: Self.sftSample(prompt: $0, using: &rng))
        }
    }

    /// Preference rows: two independent SFT-process samples per prompt, labelled by `labelPair`.
    public func preferencePairs(count: Int, split: PromptSplit = .train) -> [PreferencePairRow] {
        var rng = SplitMix64(seed: seed &+ 0x0AC1_E004)
        return prompts(count: count, split: split).map { prompt in
            let first = Self.sftSample(prompt: prompt, using: &rng), second = Self.sftSample(prompt: prompt, using: &rng)
            return Self.labelPair(prompt: prompt, first, second, using: &rng)
        }
    }

    /// Listwise rows: `listSize` (≥ 1) SFT-process samples per prompt, best oracle score first (ties keep sampling
    /// order), with their scores.
    public func rankedLists(count: Int, listSize: Int, split: PromptSplit = .train) -> [RankedListRow] {
        precondition(listSize >= 1, "listSize must be at least 1, got \(listSize)")
        var rng = SplitMix64(seed: seed &+ 0x0AC1_E005)
        return prompts(count: count, split: split).map { prompt in
            let responses = (0..<listSize).map { _ in Self.sftSample(prompt: prompt, using: &rng) }
            let scores = responses.map { Self.oracleScore(prompt: prompt, response: $0) }
            let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
            return RankedListRow(prompt: prompt, responses: order.map { responses[$0] }, scores: order.map { scores[$0] })
        }
    }

    /// Unpaired (KTO) rows: one SFT-process sample per prompt, desirable when a Bradley-Terry draw prefers it to a
    /// fresh sample of the same process (so it is desirable with probability ≈ its win rate against the SFT data).
    public func unpairedRows(count: Int, split: PromptSplit = .train) -> [UnpairedRow] {
        var rng = SplitMix64(seed: seed &+ 0x0AC1_E006)
        return prompts(count: count, split: split).map { prompt in
            let response = Self.sftSample(prompt: prompt, using: &rng), opponent = Self.sftSample(prompt: prompt, using: &rng)
            let p = Self.preferenceProbability(Self.oracleScore(prompt: prompt, response: response),
                                               over: Self.oracleScore(prompt: prompt, response: opponent))
            return UnpairedRow(prompt: prompt, completion: response, label: Double.random(in: 0..<1, using: &rng) < p)
        }
    }

    /// One draw of the SFT process for `prompt`: its letters shuffled, then each position, with a probability drawn
    /// once per call uniformly from [0, 0.5], replaced by a different random lowercase letter.
    static func sftSample(prompt: String, using rng: inout SplitMix64) -> String {
        let rate = Double.random(in: 0...maximumSubstitutionRate, using: &rng)
        let shuffled = Array(letters(ofPrompt: prompt).unicodeScalars).shuffled(using: &rng)
        let a = UInt8(ascii: "a")
        return String(String.UnicodeScalarView(shuffled.map { letter in
            guard Double.random(in: 0..<1, using: &rng) < rate else { return letter }
            // Drawing from the other 25 letters makes every substitution a real change.
            let other = UInt8(Int.random(in: 0..<25, using: &rng))
            let current = UInt8(letter.value) - a
            return Unicode.Scalar(a + (other < current ? other : other + 1))
        }))
    }
}
