import Foundation

/// A JSON value as the safetensors header parser reads it. Objects keep their members in order, so a name given twice
/// is visible (JSONSerialization silently keeps one), and numbers that are exact non-negative integers stay exact
/// instead of passing through a Double.
indirect enum HeaderJSON {
    case object([(key: String, value: HeaderJSON)])
    case array([HeaderJSON])
    case string(String)
    /// A number written as digits only that fits in 64 bits.
    case integer(UInt64)
    /// Any other number: negative, fractional, with an exponent, or too large.
    case otherNumber
    case bool(Bool)
    case null
}

/// Where and why the header's JSON is malformed.
struct HeaderJSONError: Error {
    let offset: Int
    let reason: String
}

/// A strict RFC 8259 parser over the header bytes: one value, surrounded only by whitespace (the writer pads the
/// header with spaces).
struct HeaderJSONParser {
    private let bytes: UnsafeRawBufferPointer
    private var position = 0
    private var depth = 0
    /// Deeper nesting than any header needs is refused rather than recursed into.
    private static let maximumDepth = 64

    static func parse(_ bytes: UnsafeRawBufferPointer) throws -> HeaderJSON {
        var parser = HeaderJSONParser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.value()
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw parser.error("unexpected text after the JSON value") }
        return value
    }

    private init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    private func error(_ reason: String) -> HeaderJSONError { HeaderJSONError(offset: position, reason: reason) }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while let c = current, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { position += 1 }
    }

    private mutating func expect(_ literal: String, _ result: HeaderJSON) throws -> HeaderJSON {
        for byte in literal.utf8 {
            guard current == byte else { throw error("expected '\(literal)'") }
            position += 1
        }
        return result
    }

    private mutating func value() throws -> HeaderJSON {
        guard let c = current else { throw error("unexpected end of the header") }
        switch c {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected character '\(Character(Unicode.Scalar(c)))'")
        }
    }

    private mutating func nested<T>(_ body: (inout HeaderJSONParser) throws -> T) throws -> T {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth else { throw error("nested more than \(Self.maximumDepth) levels deep") }
        return try body(&self)
    }

    private mutating func object() throws -> HeaderJSON {
        try nested { p in
            p.position += 1
            var members: [(key: String, value: HeaderJSON)] = []
            p.skipWhitespace()
            if p.current == UInt8(ascii: "}") {
                p.position += 1
                return .object(members)
            }
            while true {
                p.skipWhitespace()
                guard p.current == UInt8(ascii: "\"") else { throw p.error("expected a member name in quotes") }
                let key = try p.string()
                p.skipWhitespace()
                guard p.current == UInt8(ascii: ":") else { throw p.error("expected ':' after a member name") }
                p.position += 1
                p.skipWhitespace()
                members.append((key, try p.value()))
                p.skipWhitespace()
                switch p.current {
                case UInt8(ascii: ","): p.position += 1
                case UInt8(ascii: "}"):
                    p.position += 1
                    return .object(members)
                default: throw p.error("expected ',' or '}' in an object")
                }
            }
        }
    }

    private mutating func array() throws -> HeaderJSON {
        try nested { p in
            p.position += 1
            var elements: [HeaderJSON] = []
            p.skipWhitespace()
            if p.current == UInt8(ascii: "]") {
                p.position += 1
                return .array(elements)
            }
            while true {
                p.skipWhitespace()
                elements.append(try p.value())
                p.skipWhitespace()
                switch p.current {
                case UInt8(ascii: ","): p.position += 1
                case UInt8(ascii: "]"):
                    p.position += 1
                    return .array(elements)
                default: throw p.error("expected ',' or ']' in an array")
                }
            }
        }
    }

    private mutating func hexDigits() throws -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let c = current else { throw error("unterminated \\u escape") }
            let digit: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("invalid hexadecimal digit in a \\u escape")
            }
            value = value * 16 + digit
            position += 1
        }
        return value
    }

    private mutating func string() throws -> String {
        position += 1
        var utf8: [UInt8] = []
        while true {
            guard let c = current else { throw error("unterminated string") }
            position += 1
            switch c {
            case UInt8(ascii: "\""):
                guard let text = String(bytes: utf8, encoding: .utf8) else { throw error("string is not valid UTF-8") }
                return text
            case UInt8(ascii: "\\"):
                guard let e = current else { throw error("unterminated escape") }
                position += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(e)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hexDigits()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard current == UInt8(ascii: "\\") else { throw error("unpaired surrogate in a \\u escape") }
                        position += 1
                        guard current == UInt8(ascii: "u") else { throw error("unpaired surrogate in a \\u escape") }
                        position += 1
                        let low = try hexDigits()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in a \\u escape") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw error("unpaired surrogate in a \\u escape") }
                    utf8.append(contentsOf: Array(String(Character(unicode)).utf8))
                default: throw error("invalid escape '\\\(Character(Unicode.Scalar(e)))'")
                }
            case 0..<0x20: throw error("control character in a string")
            default: utf8.append(c)
            }
        }
    }

    private mutating func number() throws -> HeaderJSON {
        var negative = false
        if current == UInt8(ascii: "-") {
            negative = true
            position += 1
        }
        let integerStart = position
        while let c = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) { position += 1 }
        let integerDigits = position - integerStart
        guard integerDigits > 0 else { throw error("a number needs digits") }
        guard !(integerDigits > 1 && bytes[integerStart] == UInt8(ascii: "0")) else {
            throw error("numbers must not have leading zeros")
        }
        var exact = !negative
        if current == UInt8(ascii: ".") {
            exact = false
            position += 1
            let fractionStart = position
            while let c = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) { position += 1 }
            guard position > fractionStart else { throw error("a fraction needs digits") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            exact = false
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            let exponentStart = position
            while let c = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) { position += 1 }
            guard position > exponentStart else { throw error("an exponent needs digits") }
        }
        guard exact else { return .otherNumber }
        var value: UInt64 = 0
        for i in integerStart..<(integerStart + integerDigits) {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(bytes[i] - UInt8(ascii: "0")))
            if o1 || o2 { return .otherNumber }
            value = sum
        }
        return .integer(value)
    }
}
