/// Python's `str()` and `repr()` for template values, which is how Jinja prints them.
enum PyFormat {
    /// Deepest nesting printed before giving up (Python would hit its recursion limit).
    static let maxDepth = 512

    /// `str(value)` as Jinja prints it; `undefined` prints as nothing.
    static func str(_ v: TemplateValue) throws -> String {
        switch v {
        case .undefined: return ""
        case .string(let s): return s
        default:
            var out = ""
            try repr(v, into: &out, depth: 0)
            return out
        }
    }

    /// `repr(value)`.
    static func repr(_ v: TemplateValue) throws -> String {
        var out = ""
        try repr(v, into: &out, depth: 0)
        return out
    }

    static func repr(_ v: TemplateValue, into out: inout String, depth: Int) throws {
        if depth > maxDepth { throw TemplateFailure("value is nested too deeply to print") }
        try PyOps.checkedSize(out.utf8.count)
        switch v {
        case .undefined: out += "Undefined"
        case .none: out += "None"
        case .bool(let b): out += b ? "True" : "False"
        case .int(let i): out += String(i)
        case .double(let d): out += floatRepr(d)
        case .string(let s):
            try PyOps.checkedSize(out.utf8.count + s.utf8.count)
            stringRepr(s, into: &out)
        case .list(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += ", " }
                try repr(item, into: &out, depth: depth + 1)
            }
            out += "]"
        case .tuple(let items):
            out += "("
            for (i, item) in items.enumerated() {
                if i > 0 { out += ", " }
                try repr(item, into: &out, depth: depth + 1)
            }
            if items.count == 1 { out += "," }
            out += ")"
        case .dictionary(let d):
            out += "{"
            for (i, e) in d.entries.enumerated() {
                if i > 0 { out += ", " }
                try repr(e.key, into: &out, depth: depth + 1)
                out += ": "
                try repr(e.value, into: &out, depth: depth + 1)
            }
            out += "}"
        case .object(let o):
            if case .sequence(let seq) = o.kind {
                try sequenceRepr(seq, into: &out, depth: depth)
            } else {
                out += objectRepr(o, depth: depth)
            }
        }
    }

    static func sequenceRepr(_ seq: TemplateSequenceState, into out: inout String, depth: Int) throws {
        switch seq.flavor {
        case .generator, .reverseIterator:
            // Python prints `<generator object ... at 0x...>`: an address, never meaningful output.
            throw TemplateFailure("cannot print a \(seq.typeName) object (Jinja would print its memory address)")
        case .range(let start, let stop, let step):
            out += step == 1 ? "range(\(start), \(stop))" : "range(\(start), \(stop), \(step))"
        case .dictKeys, .dictValues, .dictItems:
            out += seq.typeName + "("
            try repr(.list(seq.items), into: &out, depth: depth + 1)
            out += ")"
        }
    }

    /// Python's `repr(float)`: shortest round-trip digits, exponent form outside 1e-4 ..< 1e16.
    static func floatRepr(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        // Swift's description gives the same shortest digits; it switches to exponent form at 2^53 where
        // Python waits until 1e16, so the integral values in between are written out here.
        let magnitude = Swift.abs(d)
        if magnitude >= 9_007_199_254_740_992, magnitude < 1e16 { return String(Int64(d)) + ".0" }
        return d.description
    }

    /// Python's `repr(str)`.
    static func stringRepr(_ s: String, into out: inout String) {
        // One pass over the bytes: which quotes occur, and whether anything needs escaping.
        var hasSingle = false
        var hasDouble = false
        var special = false
        var copy = s
        copy.withUTF8 { bytes in
            for b in bytes {
                if b == UInt8(ascii: "'") {
                    hasSingle = true
                } else if b == UInt8(ascii: "\"") {
                    hasDouble = true
                } else if b < 0x20 || b >= 0x7F || b == UInt8(ascii: "\\") {
                    special = true
                }
            }
        }
        let quote: Unicode.Scalar = (hasSingle && !hasDouble) ? "\"" : "'"
        out.unicodeScalars.append(quote)
        if !special && !(hasSingle && hasDouble) {
            // Printable ASCII without the quote character: copied as is.
            out += s
            out.unicodeScalars.append(quote)
            return
        }
        for c in s.unicodeScalars {
            switch c {
            case quote, "\\":
                out += "\\"
                out.unicodeScalars.append(c)
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default:
                if c.value < 0x20 || c.value == 0x7F {
                    out += "\\x" + hex(c.value, width: 2)
                } else if c.value < 0x7F || isPrintable(c) {
                    out.unicodeScalars.append(c)
                } else if c.value <= 0xFF {
                    out += "\\x" + hex(c.value, width: 2)
                } else if c.value <= 0xFFFF {
                    out += "\\u" + hex(c.value, width: 4)
                } else {
                    out += "\\U" + hex(c.value, width: 8)
                }
            }
        }
        out.unicodeScalars.append(quote)
    }

    /// Python's `str.isprintable()` for one code point.
    static func isPrintable(_ c: Unicode.Scalar) -> Bool {
        if c == " " { return true }
        switch c.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator,
            .spaceSeparator:
            return false
        default:
            return true
        }
    }

    static func hex(_ v: UInt32, width: Int) -> String {
        let s = String(v, radix: 16)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    static func objectRepr(_ o: TemplateObject, depth: Int = 0) -> String {
        switch o.kind {
        case .namespace:
            var inner = ""
            try? repr(.dictionary(o.attributes), into: &inner, depth: depth + 1)
            return "<Namespace \(inner)>"
        case .function(let f): return "<function \(f.name)>"
        case .method(let receiver, let name): return "<built-in method \(name) of \(typeName(receiver)) object>"
        case .macro(let m): return "<Macro '\(m.definition.name)'>"
        case .loop(let l): return "<LoopContext \(l.index0 + 1)/\(l.items.count)>"
        case .sequence(let s): return "<\(s.typeName) object>"
        }
    }

    /// The Python type name of a value, for error messages.
    static func typeName(_ v: TemplateValue) -> String {
        switch v {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dictionary: return "dict"
        case .object(let o):
            switch o.kind {
            case .namespace: return "Namespace"
            case .function: return "function"
            case .method: return "builtin_function_or_method"
            case .macro: return "Macro"
            case .loop: return "LoopContext"
            case .sequence(let s): return s.typeName
            }
        }
    }
}
