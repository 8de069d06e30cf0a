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

extension TemplateValue {
    /// Parses JSON text with the package's JSON reader, keeping object key order (as Python's `json.loads`
    /// does): integers become `.int`, numbers with a fraction or exponent (or beyond 64 bits) `.double`. Throws a
    /// `ChatTemplateError` named `<json>` for malformed input.
    public init(json: String) throws {
        try self.init(jsonBytes: Array(json.utf8))
    }

    /// Parses JSON bytes (UTF-8), keeping object key order.
    public init(jsonData: Data) throws {
        try self.init(jsonBytes: [UInt8](jsonData))
    }

    private init(jsonBytes: [UInt8]) throws {
        do { self.init(try JSONValue.parse(jsonBytes, source: "<json>")) } catch {
            throw ChatTemplateError(message: error.description, line: 0, column: 0, templateName: "<json>")
        }
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
