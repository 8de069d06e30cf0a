import Foundation

// Rows and prompt splits shared by the built-in preference tasks (`oracle-preference`, `intransitive`). The rows are
// `Codable` with TRL's field names, so encoding one per line gives a dataset TRL's trainers read.

/// Which side of a task's train/held-out partition to draw prompts from.
public enum PromptSplit: String, CaseIterable, Codable, Sendable {
    case train
    case heldOut = "held_out"

    /// The share of all possible prompts that is held out.
    public static let heldOutFraction = 0.1

    /// The split `prompt` belongs to: a fixed function of its text (FNV-1a, then SplitMix64's finaliser), the same
    /// for every seed and count, so the two splits never share a prompt.
    public static func of(_ prompt: String) -> PromptSplit {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in prompt.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        hash = (hash ^ (hash >> 30)) &* 0xBF58_476D_1CE4_E5B9
        hash = (hash ^ (hash >> 27)) &* 0x94D0_49BB_1331_11EB
        hash ^= hash >> 31
        return Double(hash >> 11) / Double(1 << 53) < heldOutFraction ? .heldOut : .train
    }
}

/// Draws prompts from `make` until `count` of them fall in `split` (in draw order; with `distinct`, repeats are
/// skipped). `make` must be able to produce prompts of both splits.
func drawPrompts(count: Int, in split: PromptSplit, distinct: Bool, rng: inout SplitMix64,
             make: (inout SplitMix64) -> String) -> [String] {
    var list: [String] = [], seen: Set<String> = []
    while list.count < count {
        let prompt = make(&rng)
        guard PromptSplit.of(prompt) == split, !distinct || seen.insert(prompt).inserted else { continue }
        list.append(prompt)
    }
    return list
}

/// A supervised row, TRL's prompt/completion format.
public struct PromptCompletionRow: Codable, Equatable, Sendable {
    public var prompt: String
    public var completion: String
}

/// A labelled pair, TRL's preference format, with the oracle's scores where the task has them.
public struct PreferencePairRow: Codable, Equatable, Sendable {
    public var prompt: String
    public var chosen: String
    public var rejected: String
    public var chosenScore: Double?
    public var rejectedScore: Double?

    enum CodingKeys: String, CodingKey {
        case prompt, chosen, rejected
        case chosenScore = "chosen_score", rejectedScore = "rejected_score"
    }
}

/// K responses to one prompt, best first, with their scores (for listwise objectives).
public struct RankedListRow: Codable, Equatable, Sendable {
    public var prompt: String
    public var responses: [String]
    public var scores: [Double]
}

/// A single response marked desirable or not, TRL's unpaired-preference (KTO) format.
public struct UnpairedRow: Codable, Equatable, Sendable {
    public var prompt: String
    public var completion: String
    public var label: Bool
}

/// A random lowercase letter.
func randomLowercaseLetter(using rng: inout SplitMix64) -> Character {
    Character(Unicode.Scalar(UInt8(ascii: "a") + UInt8(Int.random(in: 0..<26, using: &rng))))
}
