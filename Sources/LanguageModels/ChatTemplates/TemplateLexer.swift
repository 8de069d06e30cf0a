/// Tokens of the template language.
enum TemplateTokenKind: Equatable {
    /// Literal template text between tags (whitespace control already applied).
    case data(String)
    case variableBegin, variableEnd, blockBegin, blockEnd
    case name(String)
    case string(String)
    case integer(Int)
    case float(Double)
    case op(String)
    case eof
}

struct TemplateToken {
    var kind: TemplateTokenKind
    var loc: TemplateSourceLoc

    var isEOF: Bool { kind == .eof }

    /// How the token is named in syntax errors.
    var describe: String {
        switch kind {
        case .data: return "template data"
        case .variableBegin: return "begin of print statement"
        case .variableEnd: return "end of print statement"
        case .blockBegin: return "begin of statement block"
        case .blockEnd: return "end of statement block"
        case .name(let n): return n
        case .string: return "string"
        case .integer: return "integer"
        case .float: return "float"
        case .op(let o): return o
        case .eof: return "end of template"
        }
    }
}

/// Splits a template into tokens the way Jinja's lexer does with transformers' settings:
/// `trim_blocks=True` (the first newline after a block or comment tag is dropped),
/// `lstrip_blocks=True` (spaces and tabs before a block or comment tag at the start of a line
/// are dropped), `keep_trailing_newline=False` (one trailing newline of the template is
/// dropped), newlines normalised to `\n`, and `-` / `+` whitespace control on tags.
struct TemplateLexer {
    private let src: [UInt8]
    private var pos = 0
    private var tokens: [TemplateToken] = []
    // Monotonic cursor used to turn byte offsets into line/column.
    private var cursorOffset = 0
    private var cursorLine = 1
    private var cursorColumn = 1

    init(source: String) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(source.utf8.count)
        var previousCR = false
        for b in source.utf8 {
            if b == 0x0D {
                bytes.append(0x0A)
                previousCR = true
                continue
            }
            if b == 0x0A && previousCR {
                previousCR = false
                continue
            }
            previousCR = false
            bytes.append(b)
        }
        if bytes.last == 0x0A { bytes.removeLast() }
        src = bytes
    }

    static func tokenize(_ source: String) throws -> [TemplateToken] {
        var lexer = TemplateLexer(source: source)
        try lexer.run()
        return lexer.tokens
    }

    // MARK: locations

    private mutating func loc(_ offset: Int) -> TemplateSourceLoc {
        if offset < cursorOffset {
            cursorOffset = 0
            cursorLine = 1
            cursorColumn = 1
        }
        let end = min(offset, src.count)
        while cursorOffset < end {
            let b = src[cursorOffset]
            if b == 0x0A {
                cursorLine += 1
                cursorColumn = 1
            } else if b & 0xC0 != 0x80 {
                cursorColumn += 1
            }
            cursorOffset += 1
        }
        return TemplateSourceLoc(line: cursorLine, column: cursorColumn)
    }

    private mutating func fail(_ message: String, at offset: Int) -> TemplateLocatedFailure {
        TemplateLocatedFailure(message: message, loc: loc(offset))
    }

    // MARK: helpers

    private func byte(_ i: Int) -> UInt8? { i < src.count ? src[i] : nil }

    private func matches(_ s: String, at i: Int) -> Bool {
        var j = i
        for b in s.utf8 {
            guard j < src.count, src[j] == b else { return false }
            j += 1
        }
        return true
    }

    /// Decodes the scalar starting at byte `i`, with its length in bytes.
    private func scalar(at i: Int) -> (Unicode.Scalar, Int)? {
        guard i < src.count else { return nil }
        let b0 = src[i]
        if b0 < 0x80 { return (Unicode.Scalar(b0), 1) }
        var len = 0
        var value: UInt32 = 0
        if b0 & 0xE0 == 0xC0 {
            len = 2
            value = UInt32(b0 & 0x1F)
        } else if b0 & 0xF0 == 0xE0 {
            len = 3
            value = UInt32(b0 & 0x0F)
        } else if b0 & 0xF8 == 0xF0 {
            len = 4
            value = UInt32(b0 & 0x07)
        } else {
            return nil
        }
        guard i + len <= src.count else { return nil }
        for k in 1..<len { value = (value << 6) | UInt32(src[i + k] & 0x3F) }
        guard let s = Unicode.Scalar(value) else { return nil }
        return (s, len)
    }

    /// Skips Unicode whitespace (Python's `\s*`) from `i`.
    private func skipSpace(from i: Int) -> Int {
        var j = i
        while let (c, len) = scalar(at: j), PyStr.isSpace(c) { j += len }
        return j
    }

    private func text(_ range: Range<Int>) -> String {
        String(decoding: src[range], as: UTF8.self)
    }

    /// The next `{{`, `{%` or `{#` at or after `from`.
    private func nextTagStart(from: Int) -> Int? {
        var i = from
        while i + 1 < src.count {
            if src[i] == UInt8(ascii: "{") {
                let n = src[i + 1]
                if n == UInt8(ascii: "{") || n == UInt8(ascii: "%") || n == UInt8(ascii: "#") { return i }
            }
            i += 1
        }
        return nil
    }

    /// Applies `-` and `lstrip_blocks` to the text that precedes a tag.
    private func stripLeading(_ raw: String, sign: UInt8?, isVariable: Bool, lineStarting: Bool) -> String {
        if sign == UInt8(ascii: "-") {
            return PyStr.strip(raw, chars: nil, leading: false, trailing: true)
        }
        if sign == UInt8(ascii: "+") || isVariable { return raw }
        let bytes = Array(raw.utf8)
        var lpos = 0
        if let nl = bytes.lastIndex(of: 0x0A) { lpos = nl + 1 }
        guard lpos > 0 || lineStarting, lpos < bytes.count else { return raw }
        let tail = String(decoding: bytes[lpos...], as: UTF8.self)
        if tail.unicodeScalars.allSatisfy(PyStr.isSpace) {
            return String(decoding: bytes[..<lpos], as: UTF8.self)
        }
        return raw
    }

    private mutating func emitData(_ s: String, at offset: Int) {
        if !s.isEmpty { tokens.append(TemplateToken(kind: .data(s), loc: loc(offset))) }
    }

    /// After `%}` / `#}`: `-` eats following whitespace, `+` keeps it, otherwise one newline goes.
    private func afterBlockEnd(_ i: Int, sign: UInt8?) -> Int {
        if sign == UInt8(ascii: "-") { return skipSpace(from: i) }
        if sign == UInt8(ascii: "+") { return i }
        return byte(i) == 0x0A ? i + 1 : i
    }

    /// Matches `{%[-+]? raw [-]?%}` at `i`; returns the offset after it.
    private func rawBegin(at i: Int) -> Int? {
        var j = i + 2
        if let b = byte(j), b == UInt8(ascii: "-") || b == UInt8(ascii: "+") { j += 1 }
        j = skipSpace(from: j)
        guard matches("raw", at: j) else { return nil }
        j += 3
        j = skipSpace(from: j)
        if matches("-%}", at: j) { return skipSpace(from: j + 3) }
        if matches("%}", at: j) { return j + 2 }
        return nil
    }

    // MARK: main loop

    private mutating func run() throws {
        while pos < src.count {
            guard let tag = nextTagStart(from: pos) else {
                emitData(text(pos..<src.count), at: pos)
                pos = src.count
                break
            }
            let kind = src[tag + 1]
            var sign: UInt8?
            if let b = byte(tag + 2), b == UInt8(ascii: "-") || b == UInt8(ascii: "+") { sign = b }
            let lineStarting = pos == 0 || src[pos - 1] == 0x0A
            let before = stripLeading(
                text(pos..<tag), sign: sign, isVariable: kind == UInt8(ascii: "{"), lineStarting: lineStarting)
            emitData(before, at: pos)

            if kind == UInt8(ascii: "%"), let afterRaw = rawBegin(at: tag) {
                try lexRaw(tagStart: tag, contentStart: afterRaw)
                continue
            }
            let inner = tag + 2 + (sign == nil ? 0 : 1)
            switch kind {
            case UInt8(ascii: "#"):
                try lexComment(tagStart: tag, contentStart: inner)
            case UInt8(ascii: "%"):
                tokens.append(TemplateToken(kind: .blockBegin, loc: loc(tag)))
                pos = inner
                try lexTag(isBlock: true)
            default:
                tokens.append(TemplateToken(kind: .variableBegin, loc: loc(tag)))
                pos = inner
                try lexTag(isBlock: false)
            }
        }
        tokens.append(TemplateToken(kind: .eof, loc: loc(src.count)))
    }

    private mutating func lexComment(tagStart: Int, contentStart: Int) throws {
        var i = contentStart
        while i + 1 < src.count {
            if src[i] == UInt8(ascii: "#") && src[i + 1] == UInt8(ascii: "}") {
                var endSign: UInt8?
                if i - 1 >= contentStart, src[i - 1] == UInt8(ascii: "-") || src[i - 1] == UInt8(ascii: "+") {
                    endSign = src[i - 1]
                }
                pos = afterBlockEnd(i + 2, sign: endSign)
                return
            }
            i += 1
        }
        throw fail("missing end of comment tag", at: tagStart)
    }

    private mutating func lexRaw(tagStart: Int, contentStart: Int) throws {
        // Find `{%[-+]? endraw [-+]?%}`.
        var i = contentStart
        while let t = nextTagStart(from: i) {
            if src[t + 1] == UInt8(ascii: "%") {
                var j = t + 2
                var sign: UInt8?
                if let b = byte(j), b == UInt8(ascii: "-") || b == UInt8(ascii: "+") {
                    sign = b
                    j += 1
                }
                j = skipSpace(from: j)
                if matches("endraw", at: j) {
                    j = skipSpace(from: j + 6)
                    var endSign: UInt8?
                    if let b = byte(j), b == UInt8(ascii: "-") || b == UInt8(ascii: "+") {
                        endSign = b
                        j += 1
                    }
                    if matches("%}", at: j) {
                        let lineStarting = contentStart == 0 || src[contentStart - 1] == 0x0A
                        let body = stripLeading(
                            text(contentStart..<t), sign: sign, isVariable: false, lineStarting: lineStarting)
                        emitData(body, at: contentStart)
                        pos = afterBlockEnd(j + 2, sign: endSign)
                        return
                    }
                }
            }
            i = t + 1
        }
        throw fail("missing end of raw directive", at: tagStart)
    }

    private mutating func lexTag(isBlock: Bool) throws {
        var balance: [UInt8] = []
        while pos < src.count {
            if balance.isEmpty {
                if isBlock {
                    if matches("+%}", at: pos) {
                        tokens.append(TemplateToken(kind: .blockEnd, loc: loc(pos)))
                        pos += 3
                        return
                    }
                    if matches("-%}", at: pos) {
                        tokens.append(TemplateToken(kind: .blockEnd, loc: loc(pos)))
                        pos = skipSpace(from: pos + 3)
                        return
                    }
                    if matches("%}", at: pos) {
                        tokens.append(TemplateToken(kind: .blockEnd, loc: loc(pos)))
                        pos = afterBlockEnd(pos + 2, sign: nil)
                        return
                    }
                } else {
                    if matches("-}}", at: pos) {
                        tokens.append(TemplateToken(kind: .variableEnd, loc: loc(pos)))
                        pos = skipSpace(from: pos + 3)
                        return
                    }
                    if matches("}}", at: pos) {
                        tokens.append(TemplateToken(kind: .variableEnd, loc: loc(pos)))
                        pos += 2
                        return
                    }
                }
            }
            guard let (c, len) = scalar(at: pos) else {
                throw fail("invalid UTF-8 in template", at: pos)
            }
            if PyStr.isSpace(c) {
                pos = skipSpace(from: pos)
                continue
            }
            let start = pos
            if let (value, end) = scanFloat(at: pos) {
                tokens.append(TemplateToken(kind: .float(value), loc: loc(start)))
                pos = end
                continue
            }
            if let (end, digits, radix) = scanInteger(at: pos) {
                guard let value = Int(digits, radix: radix) else {
                    throw fail("integer literal too large", at: start)
                }
                tokens.append(TemplateToken(kind: .integer(value), loc: loc(start)))
                pos = end
                continue
            }
            if isNameStart(c) {
                var j = pos + len
                while let (d, l) = scalar(at: j), isNameContinue(d) { j += l }
                tokens.append(TemplateToken(kind: .name(text(pos..<j)), loc: loc(start)))
                pos = j
                continue
            }
            if c == "'" || c == "\"" {
                let (value, end) = try scanString(at: pos)
                tokens.append(TemplateToken(kind: .string(value), loc: loc(start)))
                pos = end
                continue
            }
            if let op = scanOperator(at: pos) {
                switch op {
                case "{": balance.append(UInt8(ascii: "}"))
                case "(": balance.append(UInt8(ascii: ")"))
                case "[": balance.append(UInt8(ascii: "]"))
                case "}", ")", "]":
                    guard let expected = balance.popLast() else { throw fail("unexpected '\(op)'", at: start) }
                    if expected != op.utf8.first {
                        throw fail("unexpected '\(op)', expected '\(Character(Unicode.Scalar(expected)))'", at: start)
                    }
                default: break
                }
                tokens.append(TemplateToken(kind: .op(op), loc: loc(start)))
                pos += op.utf8.count
                continue
            }
            throw fail("unexpected char \(PyFormat.repr(c))", at: start)
        }
    }

    // MARK: literals

    private func isDigit(_ b: UInt8?) -> Bool {
        guard let b else { return false }
        return b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")
    }

    /// `(\d+_)*\d+` from `i`; returns the end offset.
    private func scanDigitRun(at i: Int) -> Int? {
        guard isDigit(byte(i)) else { return nil }
        var j = i
        while true {
            while isDigit(byte(j)) { j += 1 }
            if byte(j) == UInt8(ascii: "_") && isDigit(byte(j + 1)) {
                j += 1
                continue
            }
            return j
        }
    }

    private func scanFloat(at i: Int) -> (Double, Int)? {
        if i > 0 && src[i - 1] == UInt8(ascii: ".") { return nil }
        guard var j = scanDigitRun(at: i) else { return nil }
        var isFloat = false
        if byte(j) == UInt8(ascii: "."), let f = scanDigitRun(at: j + 1) {
            j = f
            isFloat = true
        }
        if let e = byte(j), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            var k = j + 1
            if let s = byte(k), s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { k += 1 }
            if let x = scanDigitRun(at: k) {
                j = x
                isFloat = true
            }
        }
        guard isFloat else { return nil }
        let literal = String(decoding: src[i..<j].filter { $0 != UInt8(ascii: "_") }, as: UTF8.self)
        guard let value = Double(literal) else { return nil }
        return (value, j)
    }

    private func scanInteger(at i: Int) -> (Int, String, Int)? {
        guard isDigit(byte(i)) else { return nil }
        if src[i] == UInt8(ascii: "0"), let p = byte(i + 1) {
            let radix: Int?
            switch p {
            case UInt8(ascii: "b"), UInt8(ascii: "B"): radix = 2
            case UInt8(ascii: "o"), UInt8(ascii: "O"): radix = 8
            case UInt8(ascii: "x"), UInt8(ascii: "X"): radix = 16
            default: radix = nil
            }
            if let radix {
                func isRadixDigit(_ b: UInt8?) -> Bool {
                    guard let b else { return false }
                    let v: Int
                    switch b {
                    case UInt8(ascii: "0")...UInt8(ascii: "9"): v = Int(b - UInt8(ascii: "0"))
                    case UInt8(ascii: "a")...UInt8(ascii: "f"): v = Int(b - UInt8(ascii: "a")) + 10
                    case UInt8(ascii: "A")...UInt8(ascii: "F"): v = Int(b - UInt8(ascii: "A")) + 10
                    default: return false
                    }
                    return v < radix
                }
                var j = i + 2
                var digits = ""
                while true {
                    if isRadixDigit(byte(j)) {
                        digits.unicodeScalars.append(Unicode.Scalar(src[j]))
                        j += 1
                    } else if byte(j) == UInt8(ascii: "_") && isRadixDigit(byte(j + 1)) {
                        j += 1
                    } else {
                        break
                    }
                }
                if !digits.isEmpty { return (j, digits, radix) }
            }
        }
        var j = i
        var digits = ""
        if src[i] == UInt8(ascii: "0") {
            // `0(_?0)*`: leading zeros only form the number zero.
            while true {
                if byte(j) == UInt8(ascii: "0") {
                    j += 1
                } else if byte(j) == UInt8(ascii: "_") && byte(j + 1) == UInt8(ascii: "0") {
                    j += 1
                } else {
                    break
                }
            }
            return (j, "0", 10)
        }
        while true {
            if isDigit(byte(j)) {
                digits.unicodeScalars.append(Unicode.Scalar(src[j]))
                j += 1
            } else if byte(j) == UInt8(ascii: "_") && isDigit(byte(j + 1)) {
                j += 1
            } else {
                break
            }
        }
        return (j, digits, 10)
    }

    private func isNameStart(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII {
            return (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_"
        }
        return c.properties.isXIDStart
    }

    private func isNameContinue(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII {
            return (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "_"
        }
        return c.properties.isXIDContinue
    }

    private func scanOperator(at i: Int) -> String? {
        for op in ["//", "**", "==", "!=", ">=", "<="] where matches(op, at: i) { return op }
        guard let b = byte(i) else { return nil }
        switch b {
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "/"), UInt8(ascii: "*"), UInt8(ascii: "%"),
            UInt8(ascii: "~"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "("), UInt8(ascii: ")"),
            UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: ">"), UInt8(ascii: "<"), UInt8(ascii: "="),
            UInt8(ascii: "."), UInt8(ascii: ":"), UInt8(ascii: "|"), UInt8(ascii: ","), UInt8(ascii: ";"):
            return String(Unicode.Scalar(b))
        default:
            return nil
        }
    }

    /// A quoted string literal, decoded like Python's `unicode_escape` codec.
    private mutating func scanString(at i: Int) throws -> (String, Int) {
        let quote = src[i]
        var j = i + 1
        var out = String.UnicodeScalarView()
        var pendingHighSurrogate: UInt32?
        func flushSurrogate() throws {
            if pendingHighSurrogate != nil {
                throw TemplateFailure("lone surrogate escape in string literal")
            }
        }
        func append(code: UInt32) throws {
            if (0xD800..<0xDC00).contains(code) {
                try flushSurrogate()
                pendingHighSurrogate = code
                return
            }
            if (0xDC00..<0xE000).contains(code) {
                guard let high = pendingHighSurrogate else {
                    throw TemplateFailure("lone surrogate escape in string literal")
                }
                pendingHighSurrogate = nil
                let combined = 0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00)
                if let s = Unicode.Scalar(combined) { out.append(s) }
                return
            }
            try flushSurrogate()
            guard let s = Unicode.Scalar(code) else { throw TemplateFailure("illegal Unicode character") }
            out.append(s)
        }
        do {
            while true {
                guard j < src.count else { throw TemplateFailure("unterminated string literal") }
                let b = src[j]
                if b == quote {
                    try flushSurrogate()
                    return (String(out), j + 1)
                }
                if b != UInt8(ascii: "\\") {
                    guard let (c, len) = scalar(at: j) else { throw TemplateFailure("invalid UTF-8 in template") }
                    try flushSurrogate()
                    out.append(c)
                    j += len
                    continue
                }
                guard let e = byte(j + 1) else { throw TemplateFailure("unterminated string literal") }
                j += 2
                switch e {
                case 0x0A: break  // backslash-newline continues the line
                case UInt8(ascii: "\\"): try append(code: 0x5C)
                case UInt8(ascii: "'"): try append(code: 0x27)
                case UInt8(ascii: "\""): try append(code: 0x22)
                case UInt8(ascii: "a"): try append(code: 0x07)
                case UInt8(ascii: "b"): try append(code: 0x08)
                case UInt8(ascii: "f"): try append(code: 0x0C)
                case UInt8(ascii: "n"): try append(code: 0x0A)
                case UInt8(ascii: "r"): try append(code: 0x0D)
                case UInt8(ascii: "t"): try append(code: 0x09)
                case UInt8(ascii: "v"): try append(code: 0x0B)
                case UInt8(ascii: "0")...UInt8(ascii: "7"):
                    var v = UInt32(e - UInt8(ascii: "0"))
                    var k = 0
                    while k < 2, let d = byte(j), d >= UInt8(ascii: "0"), d <= UInt8(ascii: "7") {
                        v = v * 8 + UInt32(d - UInt8(ascii: "0"))
                        j += 1
                        k += 1
                    }
                    try append(code: v)
                case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
                    let width = e == UInt8(ascii: "x") ? 2 : (e == UInt8(ascii: "u") ? 4 : 8)
                    var v: UInt32 = 0
                    for _ in 0..<width {
                        guard let d = byte(j), let h = hexValue(d) else {
                            throw TemplateFailure(
                                "truncated \\\(Character(Unicode.Scalar(e)))\(String(repeating: "X", count: width)) escape")
                        }
                        v = v &* 16 &+ h
                        j += 1
                    }
                    if v > 0x10FFFF { throw TemplateFailure("illegal Unicode character") }
                    try append(code: v)
                case UInt8(ascii: "N"):
                    throw TemplateFailure("\\N{...} escapes are not supported")
                default:
                    // Unknown escapes keep their backslash, as Python does.
                    try append(code: 0x5C)
                    j -= 1
                }
            }
        } catch let f as TemplateFailure {
            throw fail(f.message, at: i)
        }
    }

    private func hexValue(_ b: UInt8) -> UInt32? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(b - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(b - UInt8(ascii: "A")) + 10
        default: return nil
        }
    }
}

extension PyFormat {
    /// `repr` of a single character, for lexer messages.
    static func repr(_ c: Unicode.Scalar) -> String {
        var out = ""
        stringRepr(String(c), into: &out)
        return out
    }
}
