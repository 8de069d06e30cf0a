import Foundation

/// Python's `json.dumps`, as transformers' `tojson` filter calls it.
struct TemplateJSONDumper {
    var ensureASCII = false
    /// `nil` for compact output; otherwise the text repeated per nesting level.
    var indent: String? = nil
    var itemSeparator = ", "
    var keySeparator = ": "
    var sortKeys = false

    func dump(_ v: TemplateValue) throws -> String {
        var out = ""
        try write(v, into: &out, level: 0)
        return out
    }

    /// The newline and indentation before an item at `level`.
    private func lineBreak(_ level: Int) throws -> String? {
        guard let indent else { return nil }
        let (size, overflow) = indent.utf8.count.multipliedReportingOverflow(by: level)
        if overflow { throw TemplateFailure("tojson result too large") }
        try PyOps.checkedSize(size * 2)
        return "\n" + PyStr.repeated(indent, level)
    }

    private func write(_ v: TemplateValue, into out: inout String, level: Int) throws {
        if level > PyFormat.maxDepth { throw TemplateFailure("value is nested too deeply for tojson") }
        try PyOps.checkedSize(out.utf8.count)
        switch v {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += TemplateJSONDumper.floatString(d)
        case .string(let s):
            try PyOps.checkedSize(out.utf8.count + s.utf8.count)
            writeString(s, into: &out)
        case .list(let items), .tuple(let items):
            if items.isEmpty {
                out += "[]"
                return
            }
            out += "["
            let newline = try lineBreak(level + 1)
            if let newline { out += newline }
            for (i, item) in items.enumerated() {
                if i > 0 {
                    out += itemSeparator
                    if let newline { out += newline }
                    try PyOps.checkedSize(out.utf8.count)
                }
                try write(item, into: &out, level: level + 1)
            }
            if let closing = try lineBreak(level) { out += closing }
            out += "]"
        case .dictionary(let d):
            if d.isEmpty {
                out += "{}"
                return
            }
            var entries = d.entries
            if sortKeys {
                var failure: TemplateFailure?
                entries.sort { a, b in
                    do { return try PyOps.less(a.key, b.key) } catch {
                        failure = error as? TemplateFailure ?? TemplateFailure("cannot sort keys")
                        return false
                    }
                }
                if let failure { throw failure }
            }
            out += "{"
            let newline = try lineBreak(level + 1)
            if let newline { out += newline }
            for (i, e) in entries.enumerated() {
                if i > 0 {
                    out += itemSeparator
                    if let newline { out += newline }
                    try PyOps.checkedSize(out.utf8.count)
                }
                writeString(try TemplateJSONDumper.keyString(e.key), into: &out)
                out += keySeparator
                try write(e.value, into: &out, level: level + 1)
            }
            if let closing = try lineBreak(level) { out += closing }
            out += "}"
        case .undefined, .object:
            throw TemplateFailure("Object of type \(PyFormat.typeName(v)) is not JSON serializable")
        }
    }

    static func floatString(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        return PyFormat.floatRepr(d)
    }

    static func keyString(_ k: TemplateValue) throws -> String {
        switch k {
        case .string(let s): return s
        case .double(let d): return floatString(d)
        case .bool(let b): return b ? "true" : "false"
        case .none: return "null"
        case .int(let i): return String(i)
        default:
            throw TemplateFailure("keys must be str, int, float, bool or None, not \(PyFormat.typeName(k))")
        }
    }

    private func writeString(_ s: String, into out: inout String) {
        out += "\""
        var plain = true
        var copy = s
        let asciiOnly = ensureASCII
        copy.withUTF8 { bytes in
            for b in bytes where b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") || (asciiOnly && b >= 0x7F) {
                plain = false
                break
            }
        }
        if plain {
            out += s
            out += "\""
            return
        }
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if c.value < 0x20 {
                    out += "\\u" + PyFormat.hex(c.value, width: 4)
                } else if ensureASCII && c.value > 0x7E {
                    if c.value > 0xFFFF {
                        let v = c.value - 0x10000
                        out += "\\u" + PyFormat.hex(0xD800 + (v >> 10), width: 4)
                        out += "\\u" + PyFormat.hex(0xDC00 + (v & 0x3FF), width: 4)
                    } else {
                        out += "\\u" + PyFormat.hex(c.value, width: 4)
                    }
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        out += "\""
    }
}

/// An order-preserving JSON reader (Python `json.loads` semantics: integers stay integers,
/// numbers with a fraction or exponent become floats, object key order is kept).
struct TemplateJSONReader {
    let bytes: [UInt8]
    var pos = 0
    var depth = 0
    static let maxDepth = 512

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func parseDocument() throws -> TemplateValue {
        skipSpace()
        let v = try parseValue()
        skipSpace()
        if pos != bytes.count { throw fail("extra data after the JSON value") }
        return v
    }

    func fail(_ message: String) -> ChatTemplateError {
        var line = 1
        var col = 1
        for i in 0..<min(pos, bytes.count) {
            if bytes[i] == 0x0A {
                line += 1
                col = 1
            } else if bytes[i] & 0xC0 != 0x80 {
                col += 1
            }
        }
        return ChatTemplateError(message: message, line: line, column: col, templateName: "<json>")
    }

    mutating func skipSpace() {
        while pos < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[pos]) { pos += 1 }
    }

    mutating func parseValue() throws -> TemplateValue {
        guard pos < bytes.count else { throw fail("unexpected end of JSON") }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .none)
        case UInt8(ascii: "N"): return try literal("NaN", .double(.nan))
        case UInt8(ascii: "I"): return try literal("Infinity", .double(.infinity))
        default: return try parseNumber()
        }
    }

    mutating func literal(_ word: String, _ value: TemplateValue) throws -> TemplateValue {
        let w = Array(word.utf8)
        guard pos + w.count <= bytes.count, Array(bytes[pos..<(pos + w.count)]) == w else {
            throw fail("invalid JSON value")
        }
        pos += w.count
        return value
    }

    mutating func enter() throws {
        depth += 1
        if depth > TemplateJSONReader.maxDepth { throw fail("JSON nested too deeply") }
    }

    mutating func parseObject() throws -> TemplateValue {
        try enter()
        defer { depth -= 1 }
        pos += 1
        var dict = OrderedDict()
        skipSpace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") {
            pos += 1
            return .dictionary(dict)
        }
        while true {
            skipSpace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try parseString()
            skipSpace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            pos += 1
            skipSpace()
            dict[key] = try parseValue()
            skipSpace()
            guard pos < bytes.count else { throw fail("unexpected end of JSON") }
            if bytes[pos] == UInt8(ascii: ",") {
                pos += 1
                continue
            }
            if bytes[pos] == UInt8(ascii: "}") {
                pos += 1
                return .dictionary(dict)
            }
            throw fail("expected ',' or '}'")
        }
    }

    mutating func parseArray() throws -> TemplateValue {
        try enter()
        defer { depth -= 1 }
        pos += 1
        var items: [TemplateValue] = []
        skipSpace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") {
            pos += 1
            return .list(items)
        }
        while true {
            skipSpace()
            items.append(try parseValue())
            skipSpace()
            guard pos < bytes.count else { throw fail("unexpected end of JSON") }
            if bytes[pos] == UInt8(ascii: ",") {
                pos += 1
                continue
            }
            if bytes[pos] == UInt8(ascii: "]") {
                pos += 1
                return .list(items)
            }
            throw fail("expected ',' or ']'")
        }
    }

    mutating func hex4() throws -> UInt32 {
        guard pos + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[pos]
            let d: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(b - UInt8(ascii: "A") + 10)
            default: throw fail("invalid \\u escape")
            }
            v = v * 16 + d
            pos += 1
        }
        return v
    }

    mutating func parseString() throws -> String {
        pos += 1
        var out: [UInt8] = []
        while true {
            guard pos < bytes.count else { throw fail("unterminated string") }
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                pos += 1
                break
            }
            if b < 0x20 { throw fail("control character in string") }
            if b != UInt8(ascii: "\\") {
                out.append(b)
                pos += 1
                continue
            }
            pos += 1
            guard pos < bytes.count else { throw fail("unterminated string") }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code), pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"),
                    bytes[pos + 1] == UInt8(ascii: "u")
                {
                    let save = pos
                    pos += 2
                    let low = try hex4()
                    if (0xDC00..<0xE000).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        pos = save
                    }
                }
                // A lone surrogate cannot live in a Swift string; it becomes U+FFFD.
                let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default:
                throw fail("invalid escape in string")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    mutating func parseNumber() throws -> TemplateValue {
        let start = pos
        var isFloat = false
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "-") {
            pos += 1
            if pos + 8 <= bytes.count, Array(bytes[pos..<(pos + 8)]) == Array("Infinity".utf8) {
                pos += 8
                return .double(-.infinity)
            }
        }
        func digits() -> Int {
            let s = pos
            while pos < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[pos]) { pos += 1 }
            return pos - s
        }
        if digits() == 0 { throw fail("invalid JSON value") }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
            pos += 1
            isFloat = true
            if digits() == 0 { throw fail("invalid number") }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            pos += 1
            isFloat = true
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            if digits() == 0 { throw fail("invalid number") }
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if !isFloat, let i = Int(text) { return .int(i) }
        guard let d = Double(text) else { throw fail("invalid number") }
        return .double(d)
    }
}

extension TemplateValue {
    /// Parses JSON text, keeping object key order (as Python's `json.loads` does). Integers
    /// become `.int`, numbers with a fraction or exponent `.double`. Throws a
    /// `ChatTemplateError` named `<json>` for malformed input.
    public init(json: String) throws {
        var reader = TemplateJSONReader(Array(json.utf8))
        self = try reader.parseDocument()
    }

    /// Parses JSON bytes (UTF-8), keeping object key order.
    public init(jsonData: Data) throws {
        var reader = TemplateJSONReader([UInt8](jsonData))
        self = try reader.parseDocument()
    }

    /// Serialises like Python's `json.dumps(value, ensure_ascii=False, indent=indent,
    /// sort_keys=sortKeys)` (what a template's `tojson` produces). Throws for values JSON
    /// cannot hold (undefined, runtime objects).
    public func jsonString(indent: Int? = nil, sortKeys: Bool = false) throws -> String {
        var dumper = TemplateJSONDumper()
        if let indent {
            dumper.indent = PyStr.repeated(" ", indent)
            dumper.itemSeparator = ","
        }
        dumper.sortKeys = sortKeys
        do { return try dumper.dump(self) } catch let f as TemplateFailure {
            throw ChatTemplateError(message: f.message, line: 0, column: 0, templateName: "<json>")
        }
    }
}
