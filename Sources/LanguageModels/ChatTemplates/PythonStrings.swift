/// Python `str` behaviour on Swift strings. Python counts and indexes Unicode code points and
/// compares them without normalisation, so everything here works on Unicode scalars.
enum PyStr {
    typealias Scalars = [Unicode.Scalar]

    /// `str.isspace()` for one code point.
    static func isSpace(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x09...0x0D, 0x1C...0x1F, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F,
            0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// Line boundaries used by `str.splitlines()`.
    static func isLineBreak(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }

    static func scalars(_ s: String) -> Scalars { Array(s.unicodeScalars) }

    /// `s * n` (much faster than `String(repeating:count:)` for large counts).
    static func repeated(_ s: String, _ n: Int) -> String {
        guard n > 0, !s.isEmpty else { return "" }
        let unit = Array(s.utf8)
        if unit.count == 1 { return String(decoding: [UInt8](repeating: unit[0], count: n), as: UTF8.self) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(unit.count * n)
        for _ in 0..<n { bytes.append(contentsOf: unit) }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func string(_ s: some Sequence<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: s)
        return String(view)
    }

    /// Number of code points (Python `len`).
    static func length(_ s: String) -> Int { s.unicodeScalars.count }

    // MARK: stripping

    static func strip(_ s: String, chars: String?, leading: Bool, trailing: Bool) -> String {
        let a = scalars(s)
        let set: Set<UInt32>? = chars.map { Set($0.unicodeScalars.map(\.value)) }
        func strippable(_ c: Unicode.Scalar) -> Bool {
            if let set { return set.contains(c.value) }
            return isSpace(c)
        }
        var lo = 0
        var hi = a.count
        if leading { while lo < hi, strippable(a[lo]) { lo += 1 } }
        if trailing { while hi > lo, strippable(a[hi - 1]) { hi -= 1 } }
        if lo == 0 && hi == a.count { return s }
        return string(a[lo..<hi])
    }

    // MARK: searching (UTF-8 byte search gives the same matches as code point search)

    /// Byte offsets of non-overlapping occurrences of `needle` (non-empty), at most `limit`.
    static func occurrences(of needle: [UInt8], in hay: [UInt8], limit: Int = Int.max) -> [Int] {
        var result: [Int] = []
        guard !needle.isEmpty, needle.count <= hay.count else { return result }
        var i = 0
        let last = hay.count - needle.count
        let first = needle[0]
        while i <= last && result.count < limit {
            if hay[i] == first {
                var j = 1
                while j < needle.count && hay[i + j] == needle[j] { j += 1 }
                if j == needle.count {
                    result.append(i)
                    i += needle.count
                    continue
                }
            }
            i += 1
        }
        return result
    }

    static func contains(_ hay: String, _ needle: String) -> Bool {
        if needle.isEmpty { return true }
        return !occurrences(of: Array(needle.utf8), in: Array(hay.utf8), limit: 1).isEmpty
    }

    static func hasPrefix(_ s: String, _ p: String) -> Bool {
        s.utf8.starts(with: p.utf8)
    }

    static func hasSuffix(_ s: String, _ p: String) -> Bool {
        let a = s.utf8
        let b = p.utf8
        guard b.count <= a.count else { return false }
        return a.dropFirst(a.count - b.count).elementsEqual(b)
    }

    /// `str.replace(old, new, count)`; `count < 0` means all. Refuses results over the size limit.
    static func replace(_ s: String, _ old: String, _ new: String, count: Int) throws -> String {
        if count == 0 { return s }
        if old.isEmpty {
            let points = count < 0 ? length(s) + 1 : min(count, length(s) + 1)
            let (extra, o) = points.multipliedReportingOverflow(by: new.utf8.count)
            if o { throw TemplateFailure("result too large") }
            try PyOps.checkedSize(s.utf8.count + extra)
            // Python inserts `new` before every code point and at the end.
            let a = scalars(s)
            var out = String.UnicodeScalarView()
            let newScalars = new.unicodeScalars
            var inserted = 0
            for c in a {
                if count < 0 || inserted < count {
                    out.append(contentsOf: newScalars)
                    inserted += 1
                }
                out.append(c)
            }
            if count < 0 || inserted < count { out.append(contentsOf: newScalars) }
            return String(out)
        }
        let hay = Array(s.utf8)
        let needle = Array(old.utf8)
        let hits = occurrences(of: needle, in: hay, limit: count < 0 ? Int.max : count)
        if hits.isEmpty { return s }
        let (grown, o) = hits.count.multipliedReportingOverflow(by: new.utf8.count)
        if o { throw TemplateFailure("result too large") }
        try PyOps.checkedSize(hay.count + grown)
        var out: [UInt8] = []
        out.reserveCapacity(hay.count)
        var pos = 0
        let rep = Array(new.utf8)
        for h in hits {
            out.append(contentsOf: hay[pos..<h])
            out.append(contentsOf: rep)
            pos = h + needle.count
        }
        out.append(contentsOf: hay[pos...])
        return String(decoding: out, as: UTF8.self)
    }

    /// `str.count(sub)`.
    static func count(_ s: String, _ sub: String) -> Int {
        if sub.isEmpty { return length(s) + 1 }
        return occurrences(of: Array(sub.utf8), in: Array(s.utf8)).count
    }

    /// `str.find(sub)` / `str.rfind(sub)`, as code point indices.
    static func find(_ s: String, _ sub: String, reverse: Bool) -> Int {
        let hay = Array(s.utf8)
        let needle = Array(sub.utf8)
        if needle.isEmpty { return reverse ? length(s) : 0 }
        var byteIndex: Int?
        if reverse {
            guard needle.count <= hay.count else { return -1 }
            var i = hay.count - needle.count
            while i >= 0 {
                if hay[i..<(i + needle.count)].elementsEqual(needle) {
                    byteIndex = i
                    break
                }
                i -= 1
            }
        } else {
            byteIndex = occurrences(of: needle, in: hay, limit: 1).first
        }
        guard let b = byteIndex else { return -1 }
        // Count code points before the byte offset (non-continuation bytes).
        var n = 0
        for i in 0..<b where hay[i] & 0xC0 != 0x80 { n += 1 }
        return n
    }

    // MARK: splitting

    /// `str.split(sep, maxsplit)`; `sep == nil` splits on runs of whitespace.
    static func split(_ s: String, sep: String?, maxsplit: Int) throws -> [String] {
        if let sep {
            if sep.isEmpty { throw TemplateFailure("empty separator") }
            let hay = Array(s.utf8)
            let needle = Array(sep.utf8)
            let hits = occurrences(of: needle, in: hay, limit: maxsplit < 0 ? Int.max : maxsplit)
            var parts: [String] = []
            var pos = 0
            for h in hits {
                parts.append(String(decoding: hay[pos..<h], as: UTF8.self))
                pos = h + needle.count
            }
            parts.append(String(decoding: hay[pos...], as: UTF8.self))
            return parts
        }
        let a = scalars(s)
        var parts: [String] = []
        var i = 0
        let n = a.count
        while i < n {
            while i < n, isSpace(a[i]) { i += 1 }
            if i >= n { break }
            if maxsplit >= 0 && parts.count >= maxsplit {
                // The remainder keeps its trailing whitespace, as in Python.
                parts.append(string(a[i..<n]))
                break
            }
            let start = i
            while i < n, !isSpace(a[i]) { i += 1 }
            parts.append(string(a[start..<i]))
        }
        return parts
    }

    /// `str.rsplit(sep, maxsplit)`.
    static func rsplit(_ s: String, sep: String?, maxsplit: Int) throws -> [String] {
        if maxsplit < 0 { return try split(s, sep: sep, maxsplit: -1) }
        if let sep {
            if sep.isEmpty { throw TemplateFailure("empty separator") }
            let hay = Array(s.utf8)
            let needle = Array(sep.utf8)
            var parts: [String] = []
            var end = hay.count
            var i = hay.count - needle.count
            while i >= 0 && parts.count < maxsplit {
                if hay[i..<(i + needle.count)].elementsEqual(needle) {
                    parts.append(String(decoding: hay[(i + needle.count)..<end], as: UTF8.self))
                    end = i
                    i -= needle.count
                } else {
                    i -= 1
                }
            }
            parts.append(String(decoding: hay[0..<end], as: UTF8.self))
            return parts.reversed()
        }
        let a = scalars(s)
        var parts: [String] = []
        var i = a.count
        while i > 0 {
            while i > 0, isSpace(a[i - 1]) { i -= 1 }
            if i == 0 { break }
            if parts.count >= maxsplit {
                parts.append(string(a[0..<i]))
                break
            }
            let end = i
            while i > 0, !isSpace(a[i - 1]) { i -= 1 }
            parts.append(string(a[i..<end]))
        }
        return parts.reversed()
    }

    /// `str.splitlines(keepends)`.
    static func splitlines(_ s: String, keepends: Bool) -> [String] {
        let a = scalars(s)
        var parts: [String] = []
        var start = 0
        var i = 0
        while i < a.count {
            if isLineBreak(a[i]) {
                var end = i + 1
                if a[i].value == 0x0D, i + 1 < a.count, a[i + 1].value == 0x0A { end = i + 2 }
                parts.append(string(a[start..<(keepends ? end : i)]))
                start = end
                i = end
            } else {
                i += 1
            }
        }
        if start < a.count { parts.append(string(a[start...])) }
        return parts
    }

    // MARK: case

    static func upper(_ s: String) -> String { s.uppercased() }
    /// `str.lower()`, including Python's final-sigma rule (`'ΑΣ'.lower() == 'ας'`).
    static func lower(_ s: String) -> String {
        guard s.unicodeScalars.contains("\u{03A3}") else { return s.lowercased() }
        let a = scalars(s)
        var out = ""
        for (i, c) in a.enumerated() {
            if c == "\u{03A3}" && isFinalSigma(a, i) {
                out += "\u{03C2}"
            } else {
                out += c.properties.lowercaseMapping
            }
        }
        return out
    }

    private static func isFinalSigma(_ a: Scalars, _ i: Int) -> Bool {
        var j = i - 1
        while j >= 0 && a[j].properties.isCaseIgnorable { j -= 1 }
        guard j >= 0 && a[j].properties.isCased else { return false }
        var k = i + 1
        while k < a.count && a[k].properties.isCaseIgnorable { k += 1 }
        return !(k < a.count && a[k].properties.isCased)
    }

    static func isCased(_ c: Unicode.Scalar) -> Bool { c.properties.isCased }

    /// `str.capitalize()`: first code point to title case, the rest lower case.
    static func capitalize(_ s: String) -> String {
        var out = ""
        var first = true
        for c in s.unicodeScalars {
            if first {
                out += c.properties.titlecaseMapping
                first = false
            } else {
                out += c.properties.lowercaseMapping
            }
        }
        return out
    }

    /// `str.title()`: title case after every uncased character, lower case otherwise.
    static func title(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for c in s.unicodeScalars {
            out += previousCased ? c.properties.lowercaseMapping : c.properties.titlecaseMapping
            previousCased = isCased(c)
        }
        return out
    }

    /// Jinja's `title` filter: words start after runs of `-`, whitespace, `(`, `{`, `[` or `<`;
    /// each piece has its first character upper-cased and the rest lower-cased.
    static func jinjaTitle(_ s: String) -> String {
        func isSep(_ c: Unicode.Scalar) -> Bool {
            isSpace(c) || c == "-" || c == "(" || c == "{" || c == "[" || c == "<"
        }
        let a = scalars(s)
        var out = ""
        var i = 0
        while i < a.count {
            let start = i
            let sep = isSep(a[i])
            while i < a.count && isSep(a[i]) == sep { i += 1 }
            let piece = a[start..<i]
            if let head = piece.first { out += head.properties.uppercaseMapping }
            for c in piece.dropFirst() { out += c.properties.lowercaseMapping }
        }
        return out
    }

    static func swapcase(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            if c.properties.isUppercase {
                out += c.properties.lowercaseMapping
            } else if c.properties.isLowercase {
                out += c.properties.uppercaseMapping
            } else {
                out.unicodeScalars.append(c)
            }
        }
        return out
    }

    // MARK: predicates

    static func isDigit(_ s: String) -> Bool {
        !s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType == .decimal || $0.properties.numericType == .digit }
    }
    static func isDecimal(_ s: String) -> Bool {
        !s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType == .decimal }
    }
    static func isNumeric(_ s: String) -> Bool {
        !s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType != nil }
    }
    static func isAlpha(_ s: String) -> Bool {
        !s.isEmpty && s.unicodeScalars.allSatisfy { isAlphaScalar($0) }
    }
    static func isAlphaScalar(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }
    static func isAlnum(_ s: String) -> Bool {
        !s.isEmpty && s.unicodeScalars.allSatisfy { isAlphaScalar($0) || $0.properties.numericType != nil }
    }
    static func isSpaceString(_ s: String) -> Bool {
        !s.isEmpty && s.unicodeScalars.allSatisfy(isSpace)
    }
    /// `str.islower()`: at least one cased character and no upper/title case ones.
    static func isLower(_ s: String) -> Bool {
        var cased = false
        for c in s.unicodeScalars {
            let p = c.properties
            if p.isUppercase || p.generalCategory == .titlecaseLetter { return false }
            if p.isLowercase { cased = true }
        }
        return cased
    }
    /// `str.isupper()`.
    static func isUpper(_ s: String) -> Bool {
        var cased = false
        for c in s.unicodeScalars {
            let p = c.properties
            if p.isLowercase || p.generalCategory == .titlecaseLetter { return false }
            if p.isUppercase { cased = true }
        }
        return cased
    }

    // MARK: comparison

    /// Python string ordering: code point by code point.
    static func less(_ a: String, _ b: String) -> Bool {
        var ia = a.unicodeScalars.makeIterator()
        var ib = b.unicodeScalars.makeIterator()
        while true {
            switch (ia.next(), ib.next()) {
            case (nil, nil): return false
            case (nil, _): return true
            case (_, nil): return false
            case let (x?, y?):
                if x.value != y.value { return x.value < y.value }
            }
        }
    }
}
