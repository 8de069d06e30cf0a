/// The broad class of a scalar as the GPT-2 / Llama-3 split patterns see it.
enum SplitScalarKind: UInt8 {
    case letter = 0      // \p{L}
    case number = 1      // \p{N}
    case space = 2       // \s (White_Space)
    case other = 3       // [^\s\p{L}\p{N}]
}

/// Classification of ASCII scalars, precomputed.
private let asciiKinds: [SplitScalarKind] = (0..<128).map { v -> SplitScalarKind in
    let c = Unicode.Scalar(UInt8(v))
    return classifySlow(c)
}

private func classifySlow(_ c: Unicode.Scalar) -> SplitScalarKind {
    if c.properties.isWhitespace { return .space }
    switch c.properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
    case .decimalNumber, .letterNumber, .otherNumber: return .number
    default: return .other
    }
}

@inline(__always)
func splitScalarKind(_ c: Unicode.Scalar) -> SplitScalarKind {
    c.value < 128 ? asciiKinds[Int(c.value)] : classifySlow(c)
}

/// Finds the successive matches of a split pattern over Unicode scalars.
///
/// The GPT-2 pattern and the Llama-3 / Qwen2 patterns (recognised by their exact text) are matched by hand-written
/// scanners; every other pattern goes through ``TokenizerRegex``. Both paths give the same matches (tested).
public struct PatternScanner: Sendable {
    enum Kind: Sendable {
        case gpt2
        case llama3(maxDigits: Int)
        case regex(TokenizerRegex)
        case literal([Unicode.Scalar])
    }

    let kind: Kind

    /// The GPT-2 pre-tokenisation pattern (also what `ByteLevel` with `use_regex` uses).
    public static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    /// The Llama-3 pattern (digits in runs of up to three).
    public static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    /// The Qwen2 pattern (the Llama-3 one with single digits).
    public static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// A scanner for a regular expression; recognised patterns get a hand-written scanner unless `forceGeneral`.
    public init(regex pattern: String, forceGeneral: Bool = false) throws(TokenizerError) {
        if !forceGeneral && pattern == PatternScanner.gpt2Pattern {
            kind = .gpt2
        } else if !forceGeneral && pattern == PatternScanner.llama3Pattern {
            kind = .llama3(maxDigits: 3)
        } else if !forceGeneral && pattern == PatternScanner.qwen2Pattern {
            kind = .llama3(maxDigits: 1)
        } else {
            kind = .regex(try TokenizerRegex(pattern))
        }
    }

    /// A scanner that finds a literal string.
    public init(literal: String) {
        kind = .literal(Array(literal.unicodeScalars))
    }

    /// Whether a hand-written scanner is used.
    public var isSpecialized: Bool {
        switch kind {
        case .gpt2, .llama3: return true
        default: return false
        }
    }

    /// The successive non-overlapping matches in `input` (possibly empty ranges for patterns that match empty).
    public func matches(in input: [Unicode.Scalar]) -> [Range<Int>] {
        switch kind {
        case .gpt2: return PatternScanner.partition(input, PatternScanner.gpt2End)
        case .llama3(let maxDigits):
            return PatternScanner.partition(input) { PatternScanner.llama3End($0, $1, maxDigits: maxDigits) }
        case .regex(let regex): return regex.matches(in: input)
        case .literal(let needle):
            guard !needle.isEmpty else { return [] }
            var result: [Range<Int>] = []
            var i = 0
            let first = needle[0]
            while i + needle.count <= input.count {
                if input[i] == first {
                    var j = 1
                    while j < needle.count && input[i + j] == needle[j] { j += 1 }
                    if j == needle.count {
                        result.append(i..<(i + needle.count))
                        i += needle.count
                        continue
                    }
                }
                i += 1
            }
            return result
        }
    }

    /// For patterns whose alternatives always match a non-empty prefix: the matches tile the input.
    @inline(__always)
    static func partition(_ s: [Unicode.Scalar], _ end: ([Unicode.Scalar], Int) -> Int) -> [Range<Int>] {
        var result: [Range<Int>] = []
        result.reserveCapacity(s.count / 4 + 1)
        var i = 0
        while i < s.count {
            let e = end(s, i)
            result.append(i..<e)
            i = e
        }
        return result
    }

    @inline(__always)
    static func run(_ s: [Unicode.Scalar], from i: Int, _ kind: SplitScalarKind) -> Int {
        var j = i
        while j < s.count && splitScalarKind(s[j]) == kind { j += 1 }
        return j
    }

    /// `\s+(?!\S)|\s+` at `i` (a whitespace scalar).
    @inline(__always)
    static func whitespaceEnd(_ s: [Unicode.Scalar], _ i: Int) -> Int {
        let j = run(s, from: i, .space)
        if j == s.count { return j }
        return j - i >= 2 ? j - 1 : j
    }

    /// The end of the GPT-2 match starting at `i`.
    static func gpt2End(_ s: [Unicode.Scalar], _ i: Int) -> Int {
        let n = s.count
        let c = s[i]
        if c == "'" && i + 1 < n {
            let a = s[i + 1]
            if a == "s" || a == "t" || a == "m" || a == "d" { return i + 2 }
            if i + 2 < n {
                let b = s[i + 2]
                if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { return i + 3 }
            }
        }
        var start = i
        var kind = splitScalarKind(c)
        if c == " " && i + 1 < n {
            let next = splitScalarKind(s[i + 1])
            if next != .space {
                start = i + 1
                kind = next
            }
        }
        switch kind {
        case .letter, .number, .other: return run(s, from: start, kind)
        case .space: return whitespaceEnd(s, i)
        }
    }

    @inline(__always)
    static func folds(_ c: Unicode.Scalar, to lower: Unicode.Scalar) -> Bool {
        if c == lower { return true }
        if c.value < 128 { return c.value + 32 == lower.value }
        return regexCaseFold(c) == lower
    }

    @inline(__always)
    static func isLineBreak(_ c: Unicode.Scalar) -> Bool { c == "\n" || c == "\r" }

    /// The end of the Llama-3 / Qwen2 match starting at `i`.
    static func llama3End(_ s: [Unicode.Scalar], _ i: Int, maxDigits: Int) -> Int {
        let n = s.count
        let c = s[i]
        if c == "'" && i + 1 < n {
            let a = s[i + 1]
            if folds(a, to: "s") || folds(a, to: "t") || folds(a, to: "m") || folds(a, to: "d") { return i + 2 }
            if i + 2 < n {
                let b = s[i + 2]
                if (folds(a, to: "r") && folds(b, to: "e")) || (folds(a, to: "v") && folds(b, to: "e"))
                    || (folds(a, to: "l") && folds(b, to: "l")) { return i + 3 }
            }
        }
        let kind = splitScalarKind(c)
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if kind == .letter { return run(s, from: i, .letter) }
        if kind != .number && !isLineBreak(c) && i + 1 < n && splitScalarKind(s[i + 1]) == .letter {
            return run(s, from: i + 1, .letter)
        }
        // \p{N}{1,maxDigits}
        if kind == .number {
            var j = i + 1
            while j < n && j - i < maxDigits && splitScalarKind(s[j]) == .number { j += 1 }
            return j
        }
        //  ?[^\s\p{L}\p{N}]+[\r\n]*
        var otherStart = -1
        if kind == .other { otherStart = i } else if c == " " && i + 1 < n && splitScalarKind(s[i + 1]) == .other {
            otherStart = i + 1
        }
        if otherStart >= 0 {
            var j = run(s, from: otherStart, .other)
            while j < n && isLineBreak(s[j]) { j += 1 }
            return j
        }
        // Here c is whitespace. \s*[\r\n]+ : up to and including the last line break of the whitespace run.
        let j = run(s, from: i, .space)
        var k = j - 1
        while k >= i && !isLineBreak(s[k]) { k -= 1 }
        if k >= i { return k + 1 }
        // \s+(?!\S)|\s+
        if j == n { return j }
        return j - i >= 2 ? j - 1 : j
    }
}
