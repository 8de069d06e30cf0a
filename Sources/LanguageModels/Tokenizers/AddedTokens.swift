/// A token of `added_tokens`: matched in the text before the model runs.
public struct AddedToken: Sendable, Equatable {
    public var id: Int
    public var content: String
    /// Only match when not inside a word.
    public var singleWord: Bool
    /// Swallow whitespace on the left / right of a match.
    public var lstrip: Bool
    public var rstrip: Bool
    /// Match in normalised text (after the normaliser) rather than in the raw text.
    public var normalized: Bool
    /// A special token (skipped by `decode(_:skipSpecialTokens: true)`).
    public var special: Bool

    public init(id: Int, content: String, singleWord: Bool = false, lstrip: Bool = false, rstrip: Bool = false,
                normalized: Bool = false, special: Bool = true) {
        self.id = id
        self.content = content
        self.singleWord = singleWord
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.normalized = normalized
        self.special = special
    }

    init(json: TokenizerJSONField) throws(TokenizerError) {
        let special = try json.bool("special", default: false)
        self.init(id: try json.required("id").int(), content: try json.string("content"),
                  singleWord: try json.bool("single_word", default: false), lstrip: try json.bool("lstrip", default: false),
                  rstrip: try json.bool("rstrip", default: false), normalized: try json.bool("normalized", default: !special),
                  special: special)
        guard id >= 0 else { throw json.error("id must not be negative") }
    }

    func json() -> JSONValue {
        .object([
            JSONMember("id", .number(JSONNumber(id))),
            JSONMember("content", .string(content)),
            JSONMember("single_word", .bool(singleWord)),
            JSONMember("lstrip", .bool(lstrip)),
            JSONMember("rstrip", .bool(rstrip)),
            JSONMember("normalized", .bool(normalized)),
            JSONMember("special", .bool(special)),
        ])
    }
}

/// A stretch of text after added-token splitting: either plain text, or an added token's id with the matched text.
enum AddedSplit {
    case text(Range<Int>)
    case token(id: Int, Range<Int>)
}

/// Finds added tokens in text: leftmost match first, longest among those starting at the same place.
struct AddedTokenMatcher: Sendable {
    struct Candidate: Sendable {
        var scalars: [Unicode.Scalar]
        var token: AddedToken
    }
    /// Candidates by first scalar, longest first.
    var byFirst: [Unicode.Scalar: [Candidate]] = [:]

    var isEmpty: Bool { byFirst.isEmpty }

    init(_ tokens: [(pattern: [Unicode.Scalar], token: AddedToken)]) {
        for (pattern, token) in tokens {
            guard let first = pattern.first else { continue }
            byFirst[first, default: []].append(Candidate(scalars: pattern, token: token))
        }
        for key in byFirst.keys { byFirst[key]?.sort { $0.scalars.count > $1.scalars.count } }
    }

    /// The longest candidate matching at `i`.
    func match(_ s: [Unicode.Scalar], at i: Int) -> Candidate? {
        guard let list = byFirst[s[i]] else { return nil }
        outer: for candidate in list where i + candidate.scalars.count <= s.count {
            for (k, c) in candidate.scalars.enumerated() where s[i + k] != c { continue outer }
            return candidate
        }
        return nil
    }

    /// Splits `s` into plain stretches and added-token matches, honouring single_word / lstrip / rstrip.
    func split(_ s: [Unicode.Scalar]) -> [AddedSplit] {
        if isEmpty || s.isEmpty { return [.text(0..<s.count)] }
        var splits: [AddedSplit] = []
        var startOffset = 0
        var i = 0
        while i < s.count {
            guard let candidate = match(s, at: i) else { i += 1; continue }
            var start = i
            var stop = i + candidate.scalars.count
            i = stop
            let token = candidate.token
            if token.singleWord {
                let startSpace = start == 0 || !PreTokenizer.isRustWord(s[start - 1])
                let stopSpace = stop == s.count || !PreTokenizer.isRustWord(s[stop])
                if !startSpace || !stopSpace { continue }
            }
            if token.lstrip {
                var newStart = start
                while newStart > 0 && s[newStart - 1].properties.isWhitespace { newStart -= 1 }
                start = max(newStart, startOffset)
            }
            if token.rstrip {
                while stop < s.count && s[stop].properties.isWhitespace { stop += 1 }
                i = stop
            }
            if startOffset < start { splits.append(.text(startOffset..<start)) }
            splits.append(.token(id: token.id, start..<stop))
            startOffset = stop
        }
        if startOffset < s.count { splits.append(.text(startOffset..<s.count)) }
        return splits
    }
}
