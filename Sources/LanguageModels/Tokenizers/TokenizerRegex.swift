/// A regular expression in the Oniguruma (Ruby) dialect that Hugging Face `tokenizers` uses for `Split`, `Replace`
/// and friends, matched over Unicode scalars (never grapheme clusters).
///
/// Supported: literals and escapes (`\n \r \t \f \v \e \a \0 \xHH \x{H…} \uHHHH`), `.` (anything but `\n`),
/// classes `[...]` with ranges, negation, nesting and escapes inside, `\s \S \d \D \w \W \h \H`, `\p{…}`/`\P{…}`/`\p{^…}`
/// with general categories (short or long names) and `Alpha`, `Space`, `Digit`, `Word`, `Alnum`, `Upper`, `Lower`,
/// `Any`, `ASCII`; groups `(…)`, `(?:…)`, `(?<name>…)`, flag groups `(?i:…)`, `(?-i:…)`, `(?i)`; look-around `(?=…)`,
/// `(?!…)`, `(?<=…)`, `(?<!…)`; atomic groups `(?>…)`; quantifiers `* + ? {n} {n,} {n,m}` with lazy `?` and possessive
/// `+` forms; anchors `^ $` (line anchors, as in Ruby), `\A \z \Z \b \B`.
///
/// The matcher is a backtracking machine with an explicit stack, so long inputs cannot overflow the call stack, and
/// it never revisits a (branch, position) state within one attempt, so no pattern takes exponential time.
public struct TokenizerRegex: Sendable {
    /// The pattern as written.
    public let pattern: String
    let programs: [[TokenizerRegexInstruction]]
    let classes: [ScalarClass]

    /// Compiles a pattern; errors name the pattern and the problem.
    public init(_ pattern: String) throws(TokenizerError) {
        self.pattern = pattern
        var parser = TokenizerRegexParser(pattern: Array(pattern.unicodeScalars), text: pattern)
        let tree = try parser.parseWhole()
        var compiler = TokenizerRegexCompiler()
        compiler.classes = parser.classes
        let main = try compiler.compileProgram(tree)
        var programs = compiler.programs
        programs[0] = main
        self.programs = programs
        self.classes = compiler.classes
    }

    /// A pattern that matches `literal` exactly.
    public init(literal: String) {
        self.pattern = literal
        var program: [TokenizerRegexInstruction] = literal.unicodeScalars.map { .scalar($0) }
        program.append(.match)
        self.programs = [program]
        self.classes = []
    }

    /// The first (leftmost, then by priority) match starting at or after `start`.
    public func firstMatch(in input: [Unicode.Scalar], from start: Int = 0) -> Range<Int>? {
        var machine = TokenizerRegexMachine(regex: self, input: input)
        var position = start
        while position <= input.count {
            if let end = machine.run(program: 0, at: position) { return position..<end }
            position += 1
        }
        return nil
    }

    /// Whether the pattern matches at exactly `position` (anchored), returning the end of that match.
    public func match(in input: [Unicode.Scalar], at position: Int) -> Int? {
        var machine = TokenizerRegexMachine(regex: self, input: input)
        return machine.run(program: 0, at: position)
    }

    /// All successive non-overlapping matches, with the iteration rule of the `onig` crate: an empty match directly
    /// at the end of the previous match is skipped (the search moves one scalar on).
    public func matches(in input: [Unicode.Scalar]) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var machine = TokenizerRegexMachine(regex: self, input: input)
        var searchStart = 0
        var lastMatchEnd: Int? = nil
        while searchStart <= input.count {
            var found: Range<Int>? = nil
            var position = searchStart
            while position <= input.count {
                if let end = machine.run(program: 0, at: position) { found = position..<end; break }
                position += 1
            }
            guard let match = found else { break }
            if match.isEmpty && lastMatchEnd == match.upperBound {
                searchStart = match.upperBound + 1
                continue
            }
            result.append(match)
            searchStart = match.upperBound
            lastMatchEnd = match.upperBound
        }
        return result
    }
}

// MARK: - Character classes

/// A Unicode property test used by classes and escapes.
enum ScalarProperty: Sendable, Equatable {
    case categories(Set<Unicode.GeneralCategory>)
    case whitespace        // White_Space
    case onigWord          // Alphabetic, marks, decimal numbers, connector punctuation (Oniguruma's \w in a class)
    case onigWordOutsideClass // the same plus ¹²³¼½¾ (Oniguruma's \w outside a class uses its Latin-1 table there)
    case decimalDigit      // Nd
    case hexDigit          // [0-9A-Fa-f]
    case alphabetic
    case alphanumeric
    case uppercase
    case lowercase
    case any
    case ascii

    func contains(_ c: Unicode.Scalar) -> Bool {
        switch self {
        case .categories(let set): return set.contains(c.properties.generalCategory)
        case .whitespace: return c.properties.isWhitespace
        case .onigWord: return ScalarProperty.isOnigWord(c)
        case .onigWordOutsideClass:
            switch c.value {
            case 0xB2, 0xB3, 0xB9, 0xBC, 0xBD, 0xBE: return true
            default: return ScalarProperty.isOnigWord(c)
            }
        case .decimalDigit: return c.properties.generalCategory == .decimalNumber
        case .hexDigit:
            let v = c.value
            return (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x46) || (v >= 0x61 && v <= 0x66)
        case .alphabetic: return c.properties.isAlphabetic
        case .alphanumeric: return c.properties.isAlphabetic || ScalarProperty.isNumber(c)
        case .uppercase: return c.properties.isUppercase
        case .lowercase: return c.properties.isLowercase
        case .any: return true
        case .ascii: return c.value < 0x80
        }
    }

    static func isNumber(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    static func isOnigWord(_ c: Unicode.Scalar) -> Bool {
        if c.value < 0x80 {
            let v = c.value
            return (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) || v == 0x5F
        }
        if c.properties.isAlphabetic { return true }
        switch c.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    static let letters: Set<Unicode.GeneralCategory> = [.uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter]
    static let numbers: Set<Unicode.GeneralCategory> = [.decimalNumber, .letterNumber, .otherNumber]
    static let marks: Set<Unicode.GeneralCategory> = [.nonspacingMark, .spacingMark, .enclosingMark]
    static let punctuation: Set<Unicode.GeneralCategory> = [.connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation, .finalPunctuation, .otherPunctuation]
    static let symbols: Set<Unicode.GeneralCategory> = [.mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol]
    static let separators: Set<Unicode.GeneralCategory> = [.spaceSeparator, .lineSeparator, .paragraphSeparator]
    static let others: Set<Unicode.GeneralCategory> = [.control, .format, .surrogate, .privateUse, .unassigned]

    /// Resolves a `\p{…}` name (case-insensitive, ignoring spaces, `-` and `_`).
    static func named(_ raw: String) -> ScalarProperty? {
        let name = String(raw.lowercased().unicodeScalars.filter { $0 != " " && $0 != "_" && $0 != "-" })
        let single: [String: Unicode.GeneralCategory] = [
            "lu": .uppercaseLetter, "uppercaseletter": .uppercaseLetter,
            "ll": .lowercaseLetter, "lowercaseletter": .lowercaseLetter,
            "lt": .titlecaseLetter, "titlecaseletter": .titlecaseLetter,
            "lm": .modifierLetter, "modifierletter": .modifierLetter,
            "lo": .otherLetter, "otherletter": .otherLetter,
            "mn": .nonspacingMark, "nonspacingmark": .nonspacingMark,
            "mc": .spacingMark, "spacingmark": .spacingMark,
            "me": .enclosingMark, "enclosingmark": .enclosingMark,
            "nd": .decimalNumber, "decimalnumber": .decimalNumber,
            "nl": .letterNumber, "letternumber": .letterNumber,
            "no": .otherNumber, "othernumber": .otherNumber,
            "pc": .connectorPunctuation, "connectorpunctuation": .connectorPunctuation,
            "pd": .dashPunctuation, "dashpunctuation": .dashPunctuation,
            "ps": .openPunctuation, "openpunctuation": .openPunctuation,
            "pe": .closePunctuation, "closepunctuation": .closePunctuation,
            "pi": .initialPunctuation, "initialpunctuation": .initialPunctuation,
            "pf": .finalPunctuation, "finalpunctuation": .finalPunctuation,
            "po": .otherPunctuation, "otherpunctuation": .otherPunctuation,
            "sm": .mathSymbol, "mathsymbol": .mathSymbol,
            "sc": .currencySymbol, "currencysymbol": .currencySymbol,
            "sk": .modifierSymbol, "modifiersymbol": .modifierSymbol,
            "so": .otherSymbol, "othersymbol": .otherSymbol,
            "zs": .spaceSeparator, "spaceseparator": .spaceSeparator,
            "zl": .lineSeparator, "lineseparator": .lineSeparator,
            "zp": .paragraphSeparator, "paragraphseparator": .paragraphSeparator,
            "cc": .control, "control": .control,
            "cf": .format, "format": .format,
            "cs": .surrogate, "surrogate": .surrogate,
            "co": .privateUse, "privateuse": .privateUse,
            "cn": .unassigned, "unassigned": .unassigned,
        ]
        if let category = single[name] { return .categories([category]) }
        switch name {
        case "l", "letter": return .categories(letters)
        case "lc", "casedletter": return .categories([.uppercaseLetter, .lowercaseLetter, .titlecaseLetter])
        case "m", "mark", "combiningmark": return .categories(marks)
        case "n", "number": return .categories(numbers)
        case "p", "punct", "punctuation": return .categories(punctuation)
        case "s", "symbol": return .categories(symbols)
        case "z", "separator": return .categories(separators)
        case "c", "other": return .categories(others)
        case "alpha", "alphabetic": return .alphabetic
        case "space", "whitespace", "whitespaceproperty": return .whitespace
        case "digit": return .decimalDigit
        case "word": return .onigWord
        case "alnum": return .alphanumeric
        case "upper", "uppercase": return .uppercase
        case "lower", "lowercase": return .lowercase
        case "any": return .any
        case "ascii": return .ascii
        case "xdigit": return .hexDigit
        default: return nil
        }
    }
}

/// One element of a bracketed class.
indirect enum ScalarClassItem: Sendable {
    case range(UInt32, UInt32)
    case property(ScalarProperty, negated: Bool)
    case nested(ScalarClass)
}

/// A set of scalars: the union of its items, optionally negated; case-insensitive classes also accept the case
/// variants of a scalar. Membership of ASCII scalars is precomputed.
struct ScalarClass: Sendable {
    var items: [ScalarClassItem] = []
    var negated = false
    var caseInsensitive = false
    var asciiLow: UInt64 = 0
    var asciiHigh: UInt64 = 0

    mutating func finalize() {
        asciiLow = 0
        asciiHigh = 0
        for v in UInt32(0)..<128 {
            // Scalars below 128 always exist.
            let c = Unicode.Scalar(UInt8(v))
            if slowContains(c) {
                if v < 64 { asciiLow |= 1 << UInt64(v) } else { asciiHigh |= 1 << UInt64(v - 64) }
            }
        }
    }

    @inline(__always)
    func contains(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if v < 64 { return asciiLow & (1 << UInt64(v)) != 0 }
        if v < 128 { return asciiHigh & (1 << UInt64(v - 64)) != 0 }
        return slowContains(c)
    }

    func slowContains(_ c: Unicode.Scalar) -> Bool {
        if caseInsensitive {
            for variant in regexCaseVariants(c) where rawContains(variant) { return !negated }
            return negated
        }
        return rawContains(c) != negated
    }

    func rawContains(_ c: Unicode.Scalar) -> Bool {
        for item in items {
            switch item {
            case .range(let lo, let hi): if c.value >= lo && c.value <= hi { return true }
            case .property(let property, let negatedProperty): if property.contains(c) != negatedProperty { return true }
            case .nested(let inner): if inner.slowContains(c) { return true }
            }
        }
        return false
    }
}

/// `c` and its simple upper, lower and folded forms.
func regexCaseVariants(_ c: Unicode.Scalar) -> [Unicode.Scalar] {
    var result = [c]
    for mapped in [c.properties.lowercaseMapping, c.properties.uppercaseMapping] {
        let scalars = mapped.unicodeScalars
        if scalars.count == 1, let first = scalars.first, !result.contains(first) { result.append(first) }
    }
    let folded = regexCaseFold(c)
    if !result.contains(folded) { result.append(folded) }
    return result
}

/// A simple case fold: the lowercase of the uppercase of `c` where both are single scalars (so `ſ` folds to `s`
/// and the Kelvin sign to `k`).
func regexCaseFold(_ c: Unicode.Scalar) -> Unicode.Scalar {
    if c.value < 0x80 {
        if c.value >= 0x41 && c.value <= 0x5A { return Unicode.Scalar(UInt8(c.value + 32)) }
        return c
    }
    var result = c
    let upper = c.properties.uppercaseMapping.unicodeScalars
    if upper.count == 1, let u = upper.first { result = u }
    let lower = result.properties.lowercaseMapping.unicodeScalars
    if lower.count == 1, let l = lower.first { return l }
    return c
}

// MARK: - Syntax tree

indirect enum TokenizerRegexNode {
    case empty
    case scalar(Unicode.Scalar, caseInsensitive: Bool)
    case classRef(Int)
    case anyButNewline
    case concat([TokenizerRegexNode])
    case alternation([TokenizerRegexNode])
    case repetition(TokenizerRegexNode, min: Int, max: Int?, greedy: Bool, possessive: Bool)
    case look(TokenizerRegexNode, ahead: Bool, negative: Bool)
    case atomic(TokenizerRegexNode)
    case assertion(TokenizerRegexAssertion)
}

enum TokenizerRegexAssertion: Sendable {
    case lineStart, lineEnd, textStart, textEnd, textEndBeforeNewline, wordBoundary, notWordBoundary
}

struct TokenizerRegexParser {
    let pattern: [Unicode.Scalar]
    let text: String
    var index = 0
    var classes: [ScalarClass] = []
    var caseInsensitive = false
    var depth = 0

    init(pattern: [Unicode.Scalar], text: String) {
        self.pattern = pattern
        self.text = text
    }

    func error(_ message: String) -> TokenizerError {
        TokenizerError("regex \"\(text)\": \(message) at position \(index)")
    }

    mutating func parseWhole() throws(TokenizerError) -> TokenizerRegexNode {
        let node = try parseAlternation()
        if index < pattern.count { throw error("unbalanced ')'") }
        return node
    }

    var atEnd: Bool { index >= pattern.count }
    func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        index + offset < pattern.count ? pattern[index + offset] : nil
    }

    mutating func parseAlternation() throws(TokenizerError) -> TokenizerRegexNode {
        depth += 1
        defer { depth -= 1 }
        if depth > 200 { throw error("groups nested too deeply") }
        let savedFlag = caseInsensitive
        defer { caseInsensitive = savedFlag }
        var branches = [try parseConcatenation()]
        while let c = peek(), c == "|" {
            index += 1
            branches.append(try parseConcatenation())
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    mutating func parseConcatenation() throws(TokenizerError) -> TokenizerRegexNode {
        var items: [TokenizerRegexNode] = []
        while let c = peek(), c != "|", c != ")" {
            if c == "(", peek(1) == "?", peek(2) == "i" || peek(2) == "-", let flagged = try parseInlineFlags() {
                if flagged { continue }
            }
            var atom = try parseAtom()
            atom = try parseQuantifiers(atom)
            items.append(atom)
        }
        if items.isEmpty { return .empty }
        return items.count == 1 ? items[0] : .concat(items)
    }

    /// Handles `(?i)` / `(?-i)` (returns true, flag changed for the rest of the group); returns false when the
    /// group is a scoped `(?i:…)` form, left to `parseAtom`.
    mutating func parseInlineFlags() throws(TokenizerError) -> Bool? {
        var j = index + 2
        var on = true
        var value = caseInsensitive
        while j < pattern.count {
            let c = pattern[j]
            if c == "-" { on = false } else if c == "i" { value = on } else if c == "m" || c == "x" {
                throw error("flag '\(c)' is not supported")
            } else { break }
            j += 1
        }
        guard j < pattern.count else { throw error("unterminated group") }
        if pattern[j] == ")" {
            caseInsensitive = value
            index = j + 1
            return true
        }
        return false
    }

    mutating func parseQuantifiers(_ atom: TokenizerRegexNode) throws(TokenizerError) -> TokenizerRegexNode {
        var node = atom
        while let c = peek() {
            var minCount = 0
            var maxCount: Int? = nil
            if c == "*" { index += 1 } else if c == "+" { minCount = 1; index += 1 } else if c == "?" {
                maxCount = 1; index += 1
            } else if c == "{", let (lo, hi, length) = scanBraces() {
                minCount = lo
                maxCount = hi
                index += length
            } else {
                break
            }
            var greedy = true
            var possessive = false
            if let next = peek() {
                if next == "?" { greedy = false; index += 1 } else if next == "+" && c != "{" { possessive = true; index += 1 }
            }
            if let hi = maxCount, hi < minCount { throw error("quantifier {\(minCount),\(hi)} has min above max") }
            if minCount > 1000 || (maxCount ?? 0) > 1000 { throw error("repetition counts above 1000 are not supported") }
            node = .repetition(node, min: minCount, max: maxCount, greedy: greedy, possessive: possessive)
        }
        return node
    }

    /// Reads `{n}`, `{n,}`, `{n,m}` (or `{,m}`) at the current position; anything else is a literal `{`.
    func scanBraces() -> (Int, Int?, Int)? {
        var j = index + 1
        func number() -> Int? {
            var value = 0
            var digits = 0
            while j < pattern.count, let d = Int(String(pattern[j])), pattern[j].value < 0x80, digits < 6 {
                value = value * 10 + d
                j += 1
                digits += 1
            }
            return digits > 0 ? value : nil
        }
        let lo = number()
        guard j < pattern.count else { return nil }
        if pattern[j] == "}" {
            guard let lo else { return nil }
            return (lo, lo, j + 1 - index)
        }
        guard pattern[j] == "," else { return nil }
        j += 1
        let hi = number()
        guard j < pattern.count, pattern[j] == "}", lo != nil || hi != nil else { return nil }
        return (lo ?? 0, hi, j + 1 - index)
    }

    mutating func parseAtom() throws(TokenizerError) -> TokenizerRegexNode {
        guard let c = peek() else { throw error("unexpected end of pattern") }
        switch c {
        case "(":
            index += 1
            return try parseGroup()
        case "[":
            index += 1
            var cls = try parseClassBody()
            cls.caseInsensitive = caseInsensitive
            cls.finalize()
            classes.append(cls)
            return .classRef(classes.count - 1)
        case ".":
            index += 1
            return .anyButNewline
        case "^":
            index += 1
            return .assertion(.lineStart)
        case "$":
            index += 1
            return .assertion(.lineEnd)
        case "\\":
            index += 1
            return try parseEscape()
        case "*", "+", "?":
            throw error("quantifier '\(c)' without an operand")
        default:
            index += 1
            return literal(c)
        }
    }

    func literal(_ c: Unicode.Scalar) -> TokenizerRegexNode {
        if caseInsensitive && regexCaseVariants(c).count > 1 { return .scalar(regexCaseFold(c), caseInsensitive: true) }
        return .scalar(c, caseInsensitive: false)
    }

    mutating func parseGroup() throws(TokenizerError) -> TokenizerRegexNode {
        var kind = 0 // 0 plain, 1 lookahead, 2 neg lookahead, 3 lookbehind, 4 neg lookbehind, 5 atomic
        let saved = caseInsensitive
        if peek() == "?" {
            index += 1
            guard let c = peek() else { throw error("unterminated group") }
            switch c {
            case ":": index += 1
            case "=": kind = 1; index += 1
            case "!": kind = 2; index += 1
            case ">": kind = 5; index += 1
            case "<":
                if peek(1) == "=" { kind = 3; index += 2 } else if peek(1) == "!" { kind = 4; index += 2 } else {
                    index += 1
                    while let n = peek(), n != ">" { index += 1 }
                    guard peek() == ">" else { throw error("unterminated group name") }
                    index += 1
                }
            case "i", "-":
                var on = true
                while let f = peek(), f == "i" || f == "-" {
                    if f == "-" { on = false } else { caseInsensitive = on }
                    index += 1
                }
                guard peek() == ":" else { throw error("unsupported group flags") }
                index += 1
            default:
                throw error("unsupported group syntax '(?\(c)'")
            }
        }
        let inner = try parseAlternation()
        caseInsensitive = saved
        guard peek() == ")" else { throw error("missing ')'") }
        index += 1
        switch kind {
        case 1: return .look(inner, ahead: true, negative: false)
        case 2: return .look(inner, ahead: true, negative: true)
        case 3: return .look(inner, ahead: false, negative: false)
        case 4: return .look(inner, ahead: false, negative: true)
        case 5: return .atomic(inner)
        default: return inner
        }
    }

    mutating func parseHex(maxDigits: Int) throws(TokenizerError) -> UInt32 {
        var value: UInt32 = 0
        var digits = 0
        while digits < maxDigits, let c = peek(), let d = c.value < 0x80 ? UInt32(String(c), radix: 16) : nil {
            value = value &* 16 &+ d
            index += 1
            digits += 1
        }
        if digits == 0 { throw error("expected hex digits") }
        return value
    }

    mutating func scalarFromCode(_ code: UInt32) throws(TokenizerError) -> Unicode.Scalar {
        guard let s = Unicode.Scalar(code) else { throw error("invalid code point \(code)") }
        return s
    }

    /// Parses an escape (after the backslash) that stands for one scalar, or returns nil.
    mutating func parseScalarEscape(_ c: Unicode.Scalar) throws(TokenizerError) -> Unicode.Scalar? {
        switch c {
        case "n": return "\n"
        case "r": return "\r"
        case "t": return "\t"
        case "f": return "\u{0C}"
        case "v": return "\u{0B}"
        case "e": return "\u{1B}"
        case "a": return "\u{07}"
        case "0": return "\u{00}"
        case "x":
            if peek() == "{" {
                index += 1
                let code = try parseHex(maxDigits: 8)
                guard peek() == "}" else { throw error("missing '}' in \\x{…}") }
                index += 1
                return try scalarFromCode(code)
            }
            return try scalarFromCode(try parseHex(maxDigits: 2))
        case "u":
            return try scalarFromCode(try parseHex(maxDigits: 4))
        default:
            if c.properties.isAlphabetic || (c.value >= 0x30 && c.value <= 0x39) { return nil }
            return c
        }
    }

    /// Parses a class escape (`\s`, `\p{L}`, …) after the backslash, or returns nil.
    mutating func parsePropertyEscape(_ c: Unicode.Scalar, inClass: Bool = false) throws(TokenizerError) -> ScalarClassItem? {
        switch c {
        case "w" where !inClass: return .property(.onigWordOutsideClass, negated: false)
        case "W" where !inClass: return .property(.onigWordOutsideClass, negated: true)
        case "s": return .property(.whitespace, negated: false)
        case "S": return .property(.whitespace, negated: true)
        case "d": return .property(.decimalDigit, negated: false)
        case "D": return .property(.decimalDigit, negated: true)
        case "w": return .property(.onigWord, negated: false)
        case "W": return .property(.onigWord, negated: true)
        case "h": return .property(.hexDigit, negated: false)
        case "H": return .property(.hexDigit, negated: true)
        case "p", "P":
            var negated = c == "P"
            guard peek() == "{" else { throw error("expected '{' after \\\(c)") }
            index += 1
            if peek() == "^" { negated.toggle(); index += 1 }
            var name = ""
            while let n = peek(), n != "}" { name.unicodeScalars.append(n); index += 1 }
            guard peek() == "}" else { throw error("missing '}' in \\\(c){…}") }
            index += 1
            guard let property = ScalarProperty.named(name) else { throw error("unsupported property \\p{\(name)}") }
            return .property(property, negated: negated)
        default:
            return nil
        }
    }

    mutating func parseEscape() throws(TokenizerError) -> TokenizerRegexNode {
        guard let c = peek() else { throw error("trailing backslash") }
        index += 1
        switch c {
        case "A": return .assertion(.textStart)
        case "z": return .assertion(.textEnd)
        case "Z": return .assertion(.textEndBeforeNewline)
        case "b": return .assertion(.wordBoundary)
        case "B": return .assertion(.notWordBoundary)
        default: break
        }
        if let item = try parsePropertyEscape(c) {
            var cls = ScalarClass(items: [item])
            cls.finalize()
            classes.append(cls)
            return .classRef(classes.count - 1)
        }
        if let scalar = try parseScalarEscape(c) { return literal(scalar) }
        throw error("unsupported escape '\\\(c)'")
    }

    /// Parses the inside of `[...]` after the opening bracket, through the closing one.
    mutating func parseClassBody() throws(TokenizerError) -> ScalarClass {
        var cls = ScalarClass()
        if peek() == "^" { cls.negated = true; index += 1 }
        var first = true
        while true {
            guard let c = peek() else { throw error("unterminated character class") }
            if c == "]" && !first { index += 1; break }
            first = false
            if c == "[" {
                if peek(1) == ":" { throw error("POSIX bracket classes are not supported") }
                index += 1
                var inner = try parseClassBody()
                inner.finalize()
                cls.items.append(.nested(inner))
                continue
            }
            if c == "&" && peek(1) == "&" { throw error("class intersection '&&' is not supported") }
            var low: Unicode.Scalar
            index += 1
            if c == "\\" {
                guard let e = peek() else { throw error("trailing backslash") }
                index += 1
                if let item = try parsePropertyEscape(e, inClass: true) { cls.items.append(item); continue }
                if e == "b" { low = "\u{08}" } else if let s = try parseScalarEscape(e) { low = s } else {
                    throw error("unsupported escape '\\\(e)' in a class")
                }
            } else {
                low = c
            }
            if peek() == "-", let after = peek(1), after != "]" {
                index += 1
                var high: Unicode.Scalar
                index += 1
                if after == "\\" {
                    guard let e = peek() else { throw error("trailing backslash") }
                    index += 1
                    guard let s = try parseScalarEscape(e) else { throw error("invalid range end in a class") }
                    high = s
                } else {
                    high = after
                }
                guard high.value >= low.value else { throw error("class range out of order") }
                cls.items.append(.range(low.value, high.value))
            } else {
                cls.items.append(.range(low.value, low.value))
            }
        }
        return cls
    }
}

// MARK: - Program

enum TokenizerRegexInstruction: Sendable {
    case scalar(Unicode.Scalar)
    case foldedScalar(Unicode.Scalar)
    case classRef(Int)
    case anyButNewline
    case split(Int, Int)
    case jump(Int)
    case assertion(TokenizerRegexAssertion)
    case look(program: Int, ahead: Bool, negative: Bool)
    case atomic(program: Int)
    case match
}

struct TokenizerRegexCompiler {
    var programs: [[TokenizerRegexInstruction]] = [[]]
    var classes: [ScalarClass] = []

    mutating func compileProgram(_ node: TokenizerRegexNode) throws(TokenizerError) -> [TokenizerRegexInstruction] {
        var code: [TokenizerRegexInstruction] = []
        try emit(node, into: &code)
        code.append(.match)
        if code.count > 200_000 { throw TokenizerError("regex: the compiled pattern is too large") }
        return code
    }

    mutating func subprogram(_ node: TokenizerRegexNode) throws(TokenizerError) -> Int {
        let code = try compileProgram(node)
        programs.append(code)
        return programs.count - 1
    }

    mutating func emit(_ node: TokenizerRegexNode, into code: inout [TokenizerRegexInstruction]) throws(TokenizerError) {
        switch node {
        case .empty: break
        case .scalar(let s, let ci): code.append(ci ? .foldedScalar(s) : .scalar(s))
        case .classRef(let i): code.append(.classRef(i))
        case .anyButNewline: code.append(.anyButNewline)
        case .assertion(let a): code.append(.assertion(a))
        case .concat(let items): for item in items { try emit(item, into: &code) }
        case .alternation(let branches):
            var jumps: [Int] = []
            for (i, branch) in branches.enumerated() {
                if i < branches.count - 1 {
                    let splitAt = code.count
                    code.append(.split(0, 0))
                    try emit(branch, into: &code)
                    jumps.append(code.count)
                    code.append(.jump(0))
                    code[splitAt] = .split(splitAt + 1, code.count)
                } else {
                    try emit(branch, into: &code)
                }
            }
            for j in jumps { code[j] = .jump(code.count) }
        case .look(let inner, let ahead, let negative):
            let p = try subprogram(inner)
            code.append(.look(program: p, ahead: ahead, negative: negative))
        case .atomic(let inner):
            let p = try subprogram(inner)
            code.append(.atomic(program: p))
        case .repetition(let inner, let minCount, let maxCount, let greedy, let possessive):
            if possessive {
                let p = try subprogram(.repetition(inner, min: minCount, max: maxCount, greedy: true, possessive: false))
                code.append(.atomic(program: p))
                return
            }
            for _ in 0..<minCount { try emit(inner, into: &code) }
            if let maxCount {
                // Optional copies: each one may be skipped, skipping all later ones too.
                var exits: [Int] = []
                for _ in minCount..<maxCount {
                    exits.append(code.count)
                    code.append(.split(0, 0))
                    try emit(inner, into: &code)
                }
                let end = code.count
                for e in exits { code[e] = greedy ? .split(e + 1, end) : .split(end, e + 1) }
            } else {
                let loop = code.count
                code.append(.split(0, 0))
                try emit(inner, into: &code)
                code.append(.jump(loop))
                let end = code.count
                code[loop] = greedy ? .split(loop + 1, end) : .split(end, loop + 1)
            }
        }
    }
}

/// Runs a compiled regex over one input with reusable scratch storage.
struct TokenizerRegexMachine {
    let regex: TokenizerRegex
    let input: [Unicode.Scalar]
    var stack: [(pc: Int, position: Int)] = []
    var visited = Set<Int>()

    init(regex: TokenizerRegex, input: [Unicode.Scalar]) {
        self.regex = regex
        self.input = input
    }

    func isWord(_ position: Int) -> Bool {
        position >= 0 && position < input.count && ScalarProperty.onigWordOutsideClass.contains(input[position])
    }

    func check(_ assertion: TokenizerRegexAssertion, at position: Int) -> Bool {
        let n = input.count
        switch assertion {
        case .textStart: return position == 0
        case .textEnd: return position == n
        case .textEndBeforeNewline: return position == n || (position == n - 1 && input[position] == "\n")
        case .lineStart: return position == 0 || input[position - 1] == "\n"
        case .lineEnd: return position == n || input[position] == "\n"
        case .wordBoundary: return isWord(position - 1) != isWord(position)
        case .notWordBoundary: return isWord(position - 1) == isWord(position)
        }
    }

    /// Runs `program` anchored at `start`; returns the end of the first match in priority order.
    mutating func run(program: Int, at start: Int) -> Int? {
        execute(program: program, at: start)
    }

    mutating func execute(program: Int, at start: Int) -> Int? {
        let code = regex.programs[program]
        stack.removeAll(keepingCapacity: true)
        visited.removeAll(keepingCapacity: true)
        stack.append((0, start))
        let n = input.count
        let width = n + 1
        while let (startPC, startPosition) = stack.popLast() {
            var pc = startPC
            var position = startPosition
            thread: while true {
                switch code[pc] {
                case .match:
                    return position
                case .scalar(let s):
                    guard position < n, input[position] == s else { break thread }
                    position += 1
                    pc += 1
                case .foldedScalar(let s):
                    guard position < n, regexCaseFold(input[position]) == s else { break thread }
                    position += 1
                    pc += 1
                case .classRef(let i):
                    guard position < n, regex.classes[i].contains(input[position]) else { break thread }
                    position += 1
                    pc += 1
                case .anyButNewline:
                    guard position < n, input[position] != "\n" else { break thread }
                    position += 1
                    pc += 1
                case .jump(let target):
                    pc = target
                case .split(let first, let second):
                    let key = pc &* width &+ position
                    if !visited.insert(key).inserted { break thread }
                    stack.append((second, position))
                    pc = first
                case .assertion(let a):
                    guard check(a, at: position) else { break thread }
                    pc += 1
                case .look(let sub, let ahead, let negative):
                    var nested = TokenizerRegexMachine(regex: regex, input: input)
                    var found = false
                    if ahead {
                        found = nested.execute(program: sub, at: position) != nil
                    } else {
                        var from = position
                        while from >= 0 {
                            if nested.executeEnding(program: sub, at: from, end: position) { found = true; break }
                            from -= 1
                        }
                    }
                    guard found != negative else { break thread }
                    pc += 1
                case .atomic(let sub):
                    var nested = TokenizerRegexMachine(regex: regex, input: input)
                    guard let end = nested.execute(program: sub, at: position) else { break thread }
                    position = end
                    pc += 1
                }
            }
        }
        return nil
    }

    /// Whether `program` can match exactly `start..<end` (used for look-behind).
    mutating func executeEnding(program: Int, at start: Int, end: Int) -> Bool {
        let sliced = Array(input[0..<end])
        var nested = TokenizerRegexMachine(regex: regex, input: sliced)
        // A match that must end at `end`: append an end-of-text requirement by checking every priority-ordered
        // candidate; the simple way is to require the match to consume to the end of the sliced input.
        return nested.executeToEnd(program: program, at: start)
    }

    mutating func executeToEnd(program: Int, at start: Int) -> Bool {
        let code = regex.programs[program]
        var stack: [(Int, Int)] = [(0, start)]
        var seen = Set<Int>()
        let n = input.count
        while let (startPC, startPosition) = stack.popLast() {
            var pc = startPC
            var position = startPosition
            thread: while true {
                let key = pc &* (n + 1) &+ position
                if !seen.insert(key).inserted { break thread }
                switch code[pc] {
                case .match:
                    if position == n { return true }
                    break thread
                case .scalar(let s):
                    guard position < n, input[position] == s else { break thread }
                    position += 1; pc += 1
                case .foldedScalar(let s):
                    guard position < n, regexCaseFold(input[position]) == s else { break thread }
                    position += 1; pc += 1
                case .classRef(let i):
                    guard position < n, regex.classes[i].contains(input[position]) else { break thread }
                    position += 1; pc += 1
                case .anyButNewline:
                    guard position < n, input[position] != "\n" else { break thread }
                    position += 1; pc += 1
                case .jump(let target): pc = target
                case .split(let first, let second):
                    stack.append((second, position))
                    pc = first
                case .assertion(let a):
                    guard check(a, at: position) else { break thread }
                    pc += 1
                case .look(let sub, let ahead, let negative):
                    var nested = TokenizerRegexMachine(regex: regex, input: input)
                    let found = ahead ? nested.execute(program: sub, at: position) != nil
                        : (0...position).contains { nested.executeEnding(program: sub, at: $0, end: position) }
                    guard found != negative else { break thread }
                    pc += 1
                case .atomic(let sub):
                    var nested = TokenizerRegexMachine(regex: regex, input: input)
                    guard let end = nested.execute(program: sub, at: position) else { break thread }
                    position = end; pc += 1
                }
            }
        }
        return false
    }
}
