import Foundation

/// A JSON number, kept as the literal text it was written with so that integers of any size and decimals survive a
/// read/write round trip exactly.
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    /// The literal, e.g. `"42"`, `"-1.5e3"`.
    public let literal: String

    /// Creates a number from a literal; the caller guarantees it is valid JSON number syntax.
    public init(literal: String) { self.literal = literal }
    /// Creates a number from an integer.
    public init(_ value: Int) { self.literal = String(value) }
    /// Creates a number from a double (finite values only; others become `0`).
    public init(_ value: Double) {
        if value.isFinite {
            if value == value.rounded(), abs(value) < 1e15 { self.literal = String(Int(value)) } else { self.literal = "\(value)" }
        } else {
            self.literal = "0"
        }
    }

    /// The value when the literal is an integer that fits `Int` (`3` or `3.0` style literals with a zero fraction are
    /// not integers here), else `nil`.
    public var intValue: Int? { Int(literal) }
    /// The value as a `Double`.
    public var doubleValue: Double? { Double(literal) }
    public var description: String { literal }
}

/// One member of a JSON object: objects keep their members in file order.
public struct JSONMember: Sendable, Equatable {
    public var key: String
    public var value: JSONValue
    public init(_ key: String, _ value: JSONValue) {
        self.key = key
        self.value = value
    }
}

/// A parsed JSON document. Objects keep the order of their members (and duplicate keys), and strings keep their
/// Unicode scalars exactly as written: nothing is normalised.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object([JSONMember])

    /// The deepest nesting of arrays and objects the parser accepts.
    public static let maximumDepth = 256

    /// Parses a complete JSON document; `source` names the file in error messages.
    public static func parse(_ bytes: [UInt8], source: String = "JSON") throws(TokenizerError) -> JSONValue {
        var parser = TokenizerJSONParser(bytes: bytes, source: source)
        return try parser.parseDocument()
    }

    /// Parses a complete JSON document from a string.
    public static func parse(_ text: String, source: String = "JSON") throws(TokenizerError) -> JSONValue {
        try parse(Array(text.utf8), source: source)
    }

    /// Reads and parses a file.
    public static func parse(contentsOf url: URL) throws(TokenizerError) -> JSONValue {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            let reason = FileManager.default.fileExists(atPath: url.path) ? "cannot be read" : "no such file"
            throw TokenizerError("\(url.path): \(reason)")
        }
        return try parse([UInt8](data), source: url.path)
    }

    // MARK: Access

    /// The member named `key` of an object (the first one when the key is duplicated), else `nil`.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        // Compare UTF-8 bytes so that canonically equivalent keys are not conflated.
        for member in members where member.key.utf8.elementsEqual(key.utf8) { return member.value }
        return nil
    }

    /// The string payload, else `nil`.
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    /// The boolean payload, else `nil`.
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    /// The integer payload, else `nil`.
    public var intValue: Int? { if case .number(let n) = self { return n.intValue } else { return nil } }
    /// The numeric payload as a double, else `nil`.
    public var doubleValue: Double? { if case .number(let n) = self { return n.doubleValue } else { return nil } }
    /// The elements of an array, else `nil`.
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    /// The members of an object, else `nil`.
    public var objectValue: [JSONMember]? { if case .object(let o) = self { return o } else { return nil } }
    /// Whether this is `null`.
    public var isNull: Bool { if case .null = self { return true } else { return false } }

    /// A short name of the kind of value, for error messages.
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    // MARK: Writing

    /// Serialises the value. With `pretty`, objects and arrays are written one element a line, indented by two
    /// spaces (the layout `tokenizers` uses for `tokenizer.json`).
    public func serialized(pretty: Bool = false) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(1 << 16)
        write(to: &out, pretty: pretty, indent: 0)
        return String(decoding: out, as: UTF8.self)
    }

    private func write(to out: inout [UInt8], pretty: Bool, indent: Int) {
        switch self {
        case .null: out.append(contentsOf: Array("null".utf8))
        case .bool(let b): out.append(contentsOf: Array((b ? "true" : "false").utf8))
        case .number(let n): out.append(contentsOf: Array(n.literal.utf8))
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let elements):
            if elements.isEmpty { out.append(contentsOf: [0x5B, 0x5D]); return }
            out.append(0x5B)
            for (i, element) in elements.enumerated() {
                if i > 0 { out.append(0x2C) }
                if pretty { JSONValue.newline(&out, indent + 1) }
                element.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { JSONValue.newline(&out, indent) }
            out.append(0x5D)
        case .object(let members):
            if members.isEmpty { out.append(contentsOf: [0x7B, 0x7D]); return }
            out.append(0x7B)
            for (i, member) in members.enumerated() {
                if i > 0 { out.append(0x2C) }
                if pretty { JSONValue.newline(&out, indent + 1) }
                JSONValue.writeString(member.key, to: &out)
                out.append(0x3A)
                if pretty { out.append(0x20) }
                member.value.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { JSONValue.newline(&out, indent) }
            out.append(0x7D)
        }
    }

    private static func newline(_ out: inout [UInt8], _ indent: Int) {
        out.append(0x0A)
        out.append(contentsOf: repeatElement(0x20, count: indent * 2))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Writes a JSON string literal: `"` and `\` and control characters are escaped, everything else is raw UTF-8.
    static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        for byte in s.utf8 {
            switch byte {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: out.append(contentsOf: [0x5C, 0x72])
            case 0x09: out.append(contentsOf: [0x5C, 0x74])
            case 0x08: out.append(contentsOf: [0x5C, 0x62])
            case 0x0C: out.append(contentsOf: [0x5C, 0x66])
            case 0..<0x20:
                out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 15)]])
            default: out.append(byte)
            }
        }
        out.append(0x22)
    }
}

/// A recursive-descent JSON parser over UTF-8 bytes (RFC 8259), with bounded nesting and line/column errors.
struct TokenizerJSONParser {
    let bytes: [UInt8]
    let source: String
    var index = 0
    var depth = 0

    init(bytes: [UInt8], source: String) {
        self.bytes = bytes
        self.source = source
        // Skip a UTF-8 byte order mark.
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { index = 3 }
    }

    mutating func parseDocument() throws(TokenizerError) -> JSONValue {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        if index < bytes.count { throw error("unexpected content after the JSON value") }
        return value
    }

    func error(_ message: String, at position: Int? = nil) -> TokenizerError {
        let position = min(position ?? index, bytes.count)
        var line = 1
        var column = 1
        var i = 0
        while i < position {
            if bytes[i] == 0x0A {
                line += 1
                column = 1
            } else if bytes[i] & 0xC0 != 0x80 {
                column += 1
            }
            i += 1
        }
        return TokenizerError("\(source): invalid JSON at line \(line), column \(column): \(message)")
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func parseValue() throws(TokenizerError) -> JSONValue {
        guard index < bytes.count else { throw error("unexpected end of input") }
        switch bytes[index] {
        case 0x7B: return try parseObject()
        case 0x5B: return try parseArray()
        case 0x22: return .string(try parseString())
        case 0x74: try expectWord("true"); return .bool(true)
        case 0x66: try expectWord("false"); return .bool(false)
        case 0x6E: try expectWord("null"); return .null
        case 0x2D, 0x30...0x39: return .number(try parseNumber())
        default:
            throw error("unexpected character \(describe(byte: bytes[index]))")
        }
    }

    func describe(byte: UInt8) -> String {
        if byte >= 0x20 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x" + String(byte, radix: 16, uppercase: true)
    }

    mutating func expectWord(_ word: StaticString) throws(TokenizerError) {
        let start = index
        var wordIndex = 0
        let count = word.utf8CodeUnitCount
        let pointer = word.utf8Start
        while wordIndex < count {
            guard index < bytes.count, bytes[index] == pointer[wordIndex] else {
                throw error("invalid literal (expected \(word))", at: start)
            }
            index += 1
            wordIndex += 1
        }
    }

    mutating func enter() throws(TokenizerError) {
        depth += 1
        if depth > JSONValue.maximumDepth { throw error("nesting deeper than \(JSONValue.maximumDepth) levels") }
    }

    mutating func parseObject() throws(TokenizerError) -> JSONValue {
        try enter()
        index += 1
        var members: [JSONMember] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == 0x7D {
            index += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input inside an object") }
            guard bytes[index] == 0x22 else { throw error("expected a string key, found \(describe(byte: bytes[index]))") }
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == 0x3A else { throw error("expected ':' after an object key") }
            index += 1
            skipWhitespace()
            let value = try parseValue()
            members.append(JSONMember(key, value))
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input inside an object") }
            if bytes[index] == 0x2C { index += 1; continue }
            if bytes[index] == 0x7D { index += 1; break }
            throw error("expected ',' or '}' in an object, found \(describe(byte: bytes[index]))")
        }
        depth -= 1
        return .object(members)
    }

    mutating func parseArray() throws(TokenizerError) -> JSONValue {
        try enter()
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == 0x5D {
            index += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input inside an array") }
            if bytes[index] == 0x2C { index += 1; continue }
            if bytes[index] == 0x5D { index += 1; break }
            throw error("expected ',' or ']' in an array, found \(describe(byte: bytes[index]))")
        }
        depth -= 1
        return .array(elements)
    }

    mutating func parseNumber() throws(TokenizerError) -> JSONNumber {
        let start = index
        if bytes[index] == 0x2D { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number", at: start) }
        if bytes[index] == 0x30 {
            index += 1
            if index < bytes.count, isDigit(bytes[index]) { throw error("leading zeros are not allowed in numbers", at: start) }
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == 0x2E {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("expected a digit after '.'") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == 0x65 || bytes[index] == 0x45 {
            index += 1
            if index < bytes.count, bytes[index] == 0x2B || bytes[index] == 0x2D { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("expected a digit in the exponent") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        return JSONNumber(literal: String(decoding: bytes[start..<index], as: UTF8.self))
    }

    func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    func hexValue(_ b: UInt8) -> UInt32? {
        switch b {
        case 0x30...0x39: UInt32(b - 0x30)
        case 0x41...0x46: UInt32(b - 0x41 + 10)
        case 0x61...0x66: UInt32(b - 0x61 + 10)
        default: nil
        }
    }

    mutating func parseHex4() throws(TokenizerError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("incomplete \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = hexValue(bytes[index]) else { throw error("invalid hex digit in \\u escape") }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    /// Parses a string literal starting at the opening quote. The bytes are validated as UTF-8.
    mutating func parseString() throws(TokenizerError) -> String {
        let start = index
        index += 1
        var buffer: [UInt8] = []
        var runStart = index
        while true {
            guard index < bytes.count else { throw error("unterminated string", at: start) }
            let byte = bytes[index]
            if byte == 0x22 {
                buffer.append(contentsOf: bytes[runStart..<index])
                index += 1
                break
            }
            if byte < 0x20 { throw error("control character \(describe(byte: byte)) inside a string") }
            if byte != 0x5C { index += 1; continue }
            buffer.append(contentsOf: bytes[runStart..<index])
            index += 1
            guard index < bytes.count else { throw error("unterminated escape") }
            let escape = bytes[index]
            index += 1
            switch escape {
            case 0x22: buffer.append(0x22)
            case 0x5C: buffer.append(0x5C)
            case 0x2F: buffer.append(0x2F)
            case 0x62: buffer.append(0x08)
            case 0x66: buffer.append(0x0C)
            case 0x6E: buffer.append(0x0A)
            case 0x72: buffer.append(0x0D)
            case 0x74: buffer.append(0x09)
            case 0x75:
                var code = try parseHex4()
                if code >= 0xD800 && code < 0xDC00 {
                    guard index + 6 <= bytes.count, bytes[index] == 0x5C, bytes[index + 1] == 0x75 else {
                        throw error("unpaired surrogate \\u\(String(code, radix: 16, uppercase: true)) in a string")
                    }
                    index += 2
                    let low = try parseHex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw error("invalid low surrogate in a string") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if code >= 0xDC00 && code < 0xE000 {
                    throw error("unpaired surrogate \\u\(String(code, radix: 16, uppercase: true)) in a string")
                }
                guard let scalar = Unicode.Scalar(code) else { throw error("invalid \\u escape") }
                buffer.append(contentsOf: Array(String(Character(scalar)).utf8))
            default:
                throw error("invalid escape '\\\(describe(byte: escape))'")
            }
            runStart = index
        }
        guard let string = strictUTF8String(buffer) else {
            throw error("a string is not valid UTF-8", at: start)
        }
        return string
    }
}

/// Decodes UTF-8 bytes, or returns nil when they are not valid UTF-8 (no replacement characters).
func strictUTF8String<C: Collection>(_ bytes: C) -> String? where C.Element == UInt8 {
    var iterator = bytes.makeIterator()
    var decoder = UTF8()
    var view = String.UnicodeScalarView()
    while true {
        switch decoder.decode(&iterator) {
        case .scalarValue(let s): view.append(s)
        case .emptyInput: return String(view)
        case .error: return nil
        }
    }
}
