/// A piece of text on its way to the model: its scalars, and whether it begins at the very start of the input
/// (what `Metaspace`'s `prepend_scheme: "first"` looks at).
public struct TextPiece: Sendable, Equatable {
    public var scalars: [Unicode.Scalar]
    public var atOrigin: Bool
    public init(_ scalars: [Unicode.Scalar], atOrigin: Bool) {
        self.scalars = scalars
        self.atOrigin = atOrigin
    }
}

/// How `Split`-like pre-tokenisers treat the delimiters they find.
public enum SplitBehavior: String, Sendable {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"

    init(json: TokenizerJSONField) throws(TokenizerError) {
        let name = try json.string()
        guard let b = SplitBehavior(rawValue: name) else {
            throw json.error("\"\(name)\" is not supported (supported: Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)")
        }
        self = b
    }
}

/// When `Metaspace` prepends its replacement character.
public enum PrependScheme: String, Sendable {
    case always, first, never
}

/// The GPT-2 byte-to-character table: every byte maps to a printable scalar.
public enum ByteLevelAlphabet {
    /// `byteToScalar[b]` is the scalar that stands for byte `b`.
    public static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
            if printable {
                table[b] = Unicode.Scalar(UInt8(b))
            } else {
                table[b] = Unicode.Scalar(next) ?? " "
                next += 1
            }
        }
        return table
    }()

    /// The inverse table indexed by scalar value (below 0x144); -1 where a scalar stands for no byte.
    static let scalarToByte: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (b, s) in byteToScalar.enumerated() { table[Int(s.value)] = Int16(b) }
        return table
    }()

    /// The byte a scalar stands for, if any.
    @inline(__always)
    public static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let v = Int(scalar.value)
        guard v < scalarToByte.count else { return nil }
        let b = scalarToByte[v]
        return b < 0 ? nil : UInt8(b)
    }

    /// Maps text to its byte-level form (each UTF-8 byte becomes its scalar).
    public static func encode(_ scalars: some Sequence<Unicode.Scalar>) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.underestimatedCount)
        let t = byteToScalar
        for c in scalars {
            let v = Int(c.value)
            if v < 0x80 {
                out.append(t[v])
            } else if v < 0x800 {
                out.append(t[0xC0 | (v >> 6)])
                out.append(t[0x80 | (v & 0x3F)])
            } else if v < 0x10000 {
                out.append(t[0xE0 | (v >> 12)])
                out.append(t[0x80 | ((v >> 6) & 0x3F)])
                out.append(t[0x80 | (v & 0x3F)])
            } else {
                out.append(t[0xF0 | (v >> 18)])
                out.append(t[0x80 | ((v >> 12) & 0x3F)])
                out.append(t[0x80 | ((v >> 6) & 0x3F)])
                out.append(t[0x80 | (v & 0x3F)])
            }
        }
        return out
    }
}

/// A pre-tokeniser of `tokenizer.json` (`pre_tokenizer`): splits normalised text into the pieces the model sees.
public indirect enum PreTokenizer: Sendable {
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(PatternScanner, behavior: SplitBehavior, invert: Bool)
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme, split: Bool)
    case digits(individual: Bool)
    case whitespace
    case whitespaceSplit
    case punctuation(SplitBehavior)
    case bert
    case sequence([PreTokenizer])

    static let supportedTypes = ["ByteLevel", "Split", "Metaspace", "Digits", "Whitespace", "WhitespaceSplit", "Punctuation", "BertPreTokenizer", "Sequence"]

    /// The shared GPT-2 scanner used by `ByteLevel` with `use_regex`.
    static let gpt2Scanner: PatternScanner = {
        do { return try PatternScanner(regex: PatternScanner.gpt2Pattern) } catch { fatalError("GPT-2 pattern: \(error)") }
    }()

    init(json: TokenizerJSONField) throws(TokenizerError) {
        switch try json.type(supported: PreTokenizer.supportedTypes) {
        case "ByteLevel":
            self = .byteLevel(addPrefixSpace: try json.bool("add_prefix_space", default: true), useRegex: try json.bool("use_regex", default: true))
        case "Split":
            self = .split(try json.required("pattern").pattern(), behavior: try SplitBehavior(json: json.required("behavior")),
                          invert: try json.bool("invert", default: false))
        case "Metaspace":
            let replacement = try json.singleScalar("replacement")
            var scheme = PrependScheme.always
            if let s = json.nonNull("prepend_scheme") {
                let name = try s.string()
                guard let parsed = PrependScheme(rawValue: name) else {
                    throw s.error("\"\(name)\" is not supported (supported: always, first, never)")
                }
                scheme = parsed
            }
            if let add = json.nonNull("add_prefix_space"), try add.bool() == false {
                if json.nonNull("prepend_scheme") != nil && scheme != .never {
                    throw add.error("false does not match prepend_scheme \"\(scheme.rawValue)\"")
                }
                scheme = .never
            }
            self = .metaspace(replacement: replacement, prependScheme: scheme, split: try json.bool("split", default: true))
        case "Digits": self = .digits(individual: try json.bool("individual_digits", default: false))
        case "Whitespace": self = .whitespace
        case "WhitespaceSplit": self = .whitespaceSplit
        case "BertPreTokenizer": self = .bert
        case "Punctuation":
            self = .punctuation(try json.nonNull("behavior").map { f throws(TokenizerError) in try SplitBehavior(json: f) } ?? .isolated)
        default:
            var list: [PreTokenizer] = []
            for item in try json.required("pretokenizers").array() { list.append(try PreTokenizer(json: item)) }
            self = .sequence(list)
        }
    }

    /// Splits pieces further (empty pieces are dropped).
    public func preTokenize(_ pieces: [TextPiece]) -> [TextPiece] {
        switch self {
        case .sequence(let list):
            var current = pieces
            for p in list { current = p.preTokenize(current) }
            return current
        default:
            var out: [TextPiece] = []
            out.reserveCapacity(pieces.count)
            for piece in pieces { apply(piece, into: &out) }
            return out
        }
    }

    func apply(_ piece: TextPiece, into out: inout [TextPiece]) {
        let s = piece.scalars
        switch self {
        case .byteLevel(let addPrefixSpace, let useRegex):
            var text = s
            if addPrefixSpace && text.first != " " { text.insert(" ", at: 0) }
            if useRegex {
                let ranges = PreTokenizer.gpt2Scanner.matches(in: text)
                let marked = PreTokenizer.markMatches(ranges, count: text.count)
                PreTokenizer.emit(text, PreTokenizer.resolve(marked, .isolated), atOrigin: piece.atOrigin, into: &out) {
                    ByteLevelAlphabet.encode($0)
                }
            } else if !text.isEmpty {
                out.append(TextPiece(ByteLevelAlphabet.encode(text), atOrigin: piece.atOrigin))
            }
        case .split(let scanner, let behavior, let invert):
            var marked = PreTokenizer.markMatches(scanner.matches(in: s), count: s.count)
            if invert { marked = marked.map { ($0.0, !$0.1) } }
            PreTokenizer.emit(s, PreTokenizer.resolve(marked, behavior), atOrigin: piece.atOrigin, into: &out)
        case .metaspace(let replacement, let scheme, let split):
            var text = s.map { $0 == " " ? replacement : $0 }
            switch scheme {
            case .always: if text.first != replacement { text.insert(replacement, at: 0) }
            case .first: if text.first != replacement && piece.atOrigin { text.insert(replacement, at: 0) }
            case .never: break
            }
            if split {
                let marked = PreTokenizer.markScalars(text) { $0 == replacement }
                PreTokenizer.emit(text, PreTokenizer.resolve(marked, .mergedWithNext), atOrigin: piece.atOrigin, into: &out)
            } else if !text.isEmpty {
                out.append(TextPiece(text, atOrigin: piece.atOrigin))
            }
        case .digits(let individual):
            let marked = PreTokenizer.markScalars(s, ScalarProperty.isNumber)
            PreTokenizer.emit(s, PreTokenizer.resolve(marked, individual ? .isolated : .contiguous), atOrigin: piece.atOrigin, into: &out)
        case .whitespace:
            // \w+|[^\w\s]+ (Rust regex classes), keeping the matches only.
            var ranges: [Range<Int>] = []
            var i = 0
            while i < s.count {
                let c = s[i]
                if PreTokenizer.isRustWord(c) {
                    var j = i + 1
                    while j < s.count && PreTokenizer.isRustWord(s[j]) { j += 1 }
                    ranges.append(i..<j)
                    i = j
                } else if !c.properties.isWhitespace {
                    var j = i + 1
                    while j < s.count && !PreTokenizer.isRustWord(s[j]) && !s[j].properties.isWhitespace { j += 1 }
                    ranges.append(i..<j)
                    i = j
                } else {
                    i += 1
                }
            }
            PreTokenizer.emit(s, ranges, atOrigin: piece.atOrigin, into: &out)
        case .whitespaceSplit:
            let marked = PreTokenizer.markScalars(s) { $0.properties.isWhitespace }
            PreTokenizer.emit(s, PreTokenizer.resolve(marked, .removed), atOrigin: piece.atOrigin, into: &out)
        case .punctuation(let behavior):
            let marked = PreTokenizer.markScalars(s, PreTokenizer.isPunctuation)
            PreTokenizer.emit(s, PreTokenizer.resolve(marked, behavior), atOrigin: piece.atOrigin, into: &out)
        case .bert:
            var first: [TextPiece] = []
            let marked = PreTokenizer.markScalars(s) { $0.properties.isWhitespace }
            PreTokenizer.emit(s, PreTokenizer.resolve(marked, .removed), atOrigin: piece.atOrigin, into: &first)
            for p in first {
                let m = PreTokenizer.markScalars(p.scalars, PreTokenizer.isPunctuation)
                PreTokenizer.emit(p.scalars, PreTokenizer.resolve(m, .isolated), atOrigin: p.atOrigin, into: &out)
            }
        case .sequence:
            out.append(contentsOf: preTokenize([piece]))
        }
    }

    /// Rust's `\w`: Alphabetic, marks, decimal numbers, connector punctuation and join controls.
    static func isRustWord(_ c: Unicode.Scalar) -> Bool {
        if c.value < 0x80 {
            let v = c.value
            return (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) || v == 0x5F
        }
        if c.properties.isAlphabetic || c.value == 0x200C || c.value == 0x200D { return true }
        switch c.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    /// ASCII punctuation or a Unicode punctuation category (what `tokenizers` calls punctuation).
    static func isPunctuation(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if v < 0x80 {
            return (v >= 0x21 && v <= 0x2F) || (v >= 0x3A && v <= 0x40) || (v >= 0x5B && v <= 0x60) || (v >= 0x7B && v <= 0x7E)
        }
        return ScalarProperty.punctuation.contains(c.properties.generalCategory)
    }

    /// Turns a list of matches into the full tiling of `0..<count` with match flags (as `tokenizers` does; an empty
    /// input gives one empty non-match).
    static func markMatches(_ matches: [Range<Int>], count: Int) -> [(Range<Int>, Bool)] {
        if count == 0 { return [(0..<0, false)] }
        var out: [(Range<Int>, Bool)] = []
        out.reserveCapacity(matches.count * 2 + 1)
        var previous = 0
        for m in matches {
            if previous != m.lowerBound { out.append((previous..<m.lowerBound, false)) }
            out.append((m, true))
            previous = m.upperBound
        }
        if previous != count { out.append((previous..<count, false)) }
        return out
    }

    /// Marks each scalar satisfying `predicate` as its own match.
    static func markScalars(_ s: [Unicode.Scalar], _ predicate: (Unicode.Scalar) -> Bool) -> [(Range<Int>, Bool)] {
        if s.isEmpty { return [(0..<0, false)] }
        var out: [(Range<Int>, Bool)] = []
        var last = 0
        for (i, c) in s.enumerated() where predicate(c) {
            if last < i { out.append((last..<i, false)) }
            out.append((i..<(i + 1), true))
            last = i + 1
        }
        if last < s.count { out.append((last..<s.count, false)) }
        return out
    }

    /// Applies a delimiter behaviour to a tiling, giving the ranges to keep.
    static func resolve(_ marked: [(Range<Int>, Bool)], _ behavior: SplitBehavior) -> [Range<Int>] {
        switch behavior {
        case .isolated:
            return marked.map { $0.0 }
        case .removed:
            return marked.compactMap { $0.1 ? nil : $0.0 }
        case .contiguous:
            var out: [Range<Int>] = []
            var previousMatch = false
            for (r, isMatch) in marked {
                if isMatch == previousMatch, let last = out.last {
                    out[out.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    out.append(r)
                }
                previousMatch = isMatch
            }
            return out
        case .mergedWithPrevious:
            var out: [Range<Int>] = []
            var previousMatch = false
            for (r, isMatch) in marked {
                if isMatch && !previousMatch, let last = out.last {
                    out[out.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    out.append(r)
                }
                previousMatch = isMatch
            }
            return out
        case .mergedWithNext:
            var reversed: [Range<Int>] = []
            var previousMatch = false
            for (r, isMatch) in marked.reversed() {
                if isMatch && !previousMatch, let last = reversed.last {
                    reversed[reversed.count - 1] = r.lowerBound..<last.upperBound
                } else {
                    reversed.append(r)
                }
                previousMatch = isMatch
            }
            return reversed.reversed()
        }
    }

    /// Appends the non-empty ranges of `s` as pieces.
    static func emit(_ s: [Unicode.Scalar], _ ranges: [Range<Int>], atOrigin: Bool, into out: inout [TextPiece],
                     transform: (ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] = { Array($0) }) {
        for r in ranges where !r.isEmpty {
            out.append(TextPiece(transform(s[r]), atOrigin: atOrigin && r.lowerBound == 0))
        }
    }
}
