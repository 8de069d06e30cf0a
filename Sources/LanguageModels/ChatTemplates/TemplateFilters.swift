import Foundation

/// The filters a template may use; any other name is rejected when the template is parsed.
enum TemplateFilter: String, CaseIterable {
    case trim, upper, lower, capitalize, title, length, first, last, join, replace, `default`, tojson, string
    case int, float, list, items, safe, reverse, abs, round, indent, wordcount, center
    case map, select, reject, selectattr, rejectattr, unique, sort, dictsort, sum, min, max

    static func named(_ name: String) -> TemplateFilter? {
        switch name {
        case "d": return .default
        case "count": return .length
        default: return TemplateFilter(rawValue: name)
        }
    }
}

/// A hashable stand-in for scalar keys, equal exactly when Python's `==` says so.
struct TemplateFastKey: Hashable {
    let tag: UInt8
    let number: Double
    let text: [UInt8]

    init?(_ v: TemplateValue) {
        switch v {
        case .none: (tag, number, text) = (0, 0, [])
        case .bool(let b): (tag, number, text) = (1, b ? 1 : 0, [])
        case .int(let i):
            // Only integers a Double holds exactly, so 1 == 1.0 == True hash alike.
            guard i.magnitude < (1 << 53) else { return nil }
            (tag, number, text) = (1, Double(i), [])
        case .double(let d):
            guard !d.isNaN else { return nil }
            (tag, number, text) = (1, d == 0 ? 0 : d, [])
        case .string(let s): (tag, number, text) = (2, 0, Array(s.utf8))
        default: return nil
        }
    }
}

enum TemplateFilters {
    static func apply(
        _ filter: TemplateFilter, name: String, _ value: TemplateValue, _ args: TemplateArguments, interpreter: TemplateInterpreter
    ) throws -> TemplateValue {
        func bind(_ params: [String], required: Int = 0) throws -> [TemplateValue?] {
            try args.bind(name, params, required: required)
        }
        func noArgs() throws { try args.noArguments(name) }
        func text() throws -> String { try PyFormat.str(value) }

        switch filter {
        case .trim:
            let slots = try bind(["chars"])
            let chars = try TemplateArgConvert.string(slots[0], "trim chars")
            return .string(PyStr.strip(try text(), chars: chars, leading: true, trailing: true))
        case .upper:
            try noArgs()
            return .string(PyStr.upper(try text()))
        case .lower:
            try noArgs()
            return .string(PyStr.lower(try text()))
        case .capitalize:
            try noArgs()
            return .string(PyStr.capitalize(try text()))
        case .title:
            try noArgs()
            return .string(PyStr.jinjaTitle(try text()))
        case .length:
            try noArgs()
            return .int(try length(value))
        case .first:
            try noArgs()
            if let s = value.sequenceState, s.isIterator { return try s.next() ?? .undefined }
            return try PyOps.iterate(value).first ?? .undefined
        case .last:
            try noArgs()
            if case .undefined = value { return .undefined }
            if let s = value.sequenceState, s.isIterator {
                throw TemplateFailure("'\(s.typeName)' object is not reversible")
            }
            return try PyOps.iterate(value).last ?? .undefined
        case .join:
            let slots = try bind(["d", "attribute"])
            let sep = try PyFormat.str(slots[0] ?? .string(""))
            var items = try PyOps.iterate(value)
            if let attr = slots[1], !isNone(attr) { items = try items.map { try attributeGetter(attr)($0) } }
            var out = ""
            for (i, item) in items.enumerated() {
                if i > 0 { out += sep }
                out += try PyFormat.str(item)
                try PyOps.checkedSize(out.utf8.count)
            }
            return .string(out)
        case .replace:
            let slots = try bind(["old", "new", "count"], required: 2)
            let old = try PyFormat.str(slots[0] ?? .none)
            let new = try PyFormat.str(slots[1] ?? .none)
            let count = try TemplateArgConvert.int(slots[2], "count") ?? -1
            let result = try PyStr.replace(try text(), old, new, count: count)
            try PyOps.checkedSize(result.utf8.count)
            return .string(result)
        case .default:
            let slots = try bind(["default_value", "boolean"])
            let fallback = slots[0] ?? .string("")
            let boolean = PyOps.truthy(slots[1] ?? .bool(false))
            if case .undefined = value { return fallback }
            if boolean && !PyOps.truthy(value) { return fallback }
            return value
        case .tojson:
            return .string(try toJSON(value, args))
        case .string:
            try noArgs()
            return .string(try text())
        case .safe:
            try noArgs()
            return .string(try text())
        case .int:
            let slots = try bind(["default", "base"])
            return try toInt(value, default: slots[0] ?? .int(0), base: try TemplateArgConvert.int(slots[1], "base") ?? 10)
        case .float:
            let slots = try bind(["default"])
            return try toFloat(value, default: slots[0] ?? .double(0))
        case .list:
            try noArgs()
            return .list(try PyOps.iterate(value))
        case .items:
            try noArgs()
            switch value {
            case .undefined: return TemplateSequenceState.make(.generator, [])
            case .dictionary(let d): return TemplateSequenceState.make(.generator, d.entries.map { .tuple([$0.key, $0.value]) })
            default: return TemplateSequenceState.generator { throw TemplateFailure("Can only get item pairs from a mapping.") }
            }
        case .reverse:
            try noArgs()
            // Python's reversed(): an iterator for sequences, a list when only iteration works.
            switch value {
            case .string(let s): return .string(PyStr.string(s.unicodeScalars.reversed()))
            case .undefined: return TemplateSequenceState.make(.reverseIterator("reversed"), [])
            case .list(let items): return TemplateSequenceState.make(.reverseIterator("list_reverseiterator"), items.reversed())
            case .tuple(let items): return TemplateSequenceState.make(.reverseIterator("reversed"), items.reversed())
            case .dictionary(let d): return TemplateSequenceState.make(.reverseIterator("dict_reversekeyiterator"), d.keys.reversed())
            default:
                if let s = value.sequenceState {
                    if s.isIterator { return .list(try s.take().reversed()) }
                    return TemplateSequenceState.make(.reverseIterator(s.typeName + "_reverseiterator"), s.items.reversed())
                }
                do { return .list(try PyOps.iterate(value).reversed()) } catch {
                    throw TemplateFailure("argument must be iterable")
                }
            }
        case .abs:
            try noArgs()
            switch PyOps.number(value) {
            case .int(let i)?:
                if i == Int.min { throw PyOps.overflow() }
                return .int(Swift.abs(i))
            case .double(let d)?: return .double(Swift.abs(d))
            case nil: throw TemplateFailure("bad operand type for abs(): '\(PyFormat.typeName(value))'")
            }
        case .round:
            let slots = try bind(["precision", "method"])
            let precision = try TemplateArgConvert.int(slots[0], "precision") ?? 0
            let method = try TemplateArgConvert.string(slots[1], "method") ?? "common"
            return try round(value, precision: precision, method: method)
        case .indent:
            let slots = try bind(["width", "first", "blank"])
            guard case .string(let s) = value else {
                throw TemplateFailure("indent expects a string, got \(PyFormat.typeName(value))")
            }
            let indentation: String
            switch slots[0] {
            case .string(let w)?: indentation = w
            case nil: indentation = "    "
            case let w?:
                let n = try TemplateArgConvert.int(w, "width") ?? 4
                try PyOps.checkedSize(n)
                indentation = PyStr.repeated(" ", n)
            }
            let lines = s.utf8.reduce(1) { $1 == 0x0A ? $0 + 1 : $0 }
            let (extra, o) = lines.multipliedReportingOverflow(by: indentation.utf8.count + 1)
            if o { throw TemplateFailure("result too large") }
            try PyOps.checkedSize(s.utf8.count + extra)
            return .string(
                indent(
                    s, indentation, first: PyOps.truthy(slots[1] ?? .bool(false)),
                    blank: PyOps.truthy(slots[2] ?? .bool(false))))
        case .wordcount:
            try noArgs()
            var count = 0
            var inWord = false
            for c in try text().unicodeScalars {
                let isWord = c == "_" || PyStr.isAlphaScalar(c) || c.properties.numericType != nil
                    || c.properties.generalCategory == .nonspacingMark
                if isWord && !inWord { count += 1 }
                inWord = isWord
            }
            return .int(count)
        case .center:
            let slots = try bind(["width"])
            var a = TemplateArguments()
            a.positional = [slots[0] ?? .int(80)]
            return try TemplateBuiltins.stringMethod(try text(), "center", a)
        case .map:
            // Jinja's map/select family yield nothing at all for a falsy input.
            if !PyOps.truthy(value) { return TemplateSequenceState.make(.generator, []) }
            return TemplateSequenceState.generator { try map(value, args, interpreter: interpreter) }
        case .select, .reject:
            if !PyOps.truthy(value) { return TemplateSequenceState.make(.generator, []) }
            return TemplateSequenceState.generator {
                let items = try PyOps.iterate(value)
                let predicate = try testPredicate(args.positional, args.keywords, filterName: name)
                let keep = filter == .select
                return try items.filter { try predicate($0) == keep }
            }
        case .selectattr, .rejectattr:
            guard let attr = args.positional.first else {
                throw TemplateFailure("\(name)() missing required argument 'attribute'")
            }
            if !PyOps.truthy(value) { return TemplateSequenceState.make(.generator, []) }
            return TemplateSequenceState.generator {
                let getter = try attributeGetter(attr)
                let predicate = try testPredicate(Array(args.positional.dropFirst()), args.keywords, filterName: name)
                let keep = filter == .selectattr
                return try PyOps.iterate(value).filter { try predicate(try getter($0)) == keep }
            }
        case .unique:
            let slots = try bind(["case_sensitive", "attribute"])
            return TemplateSequenceState.generator {
                let getter = try sortKey(slots[1], caseSensitive: PyOps.truthy(slots[0] ?? .bool(false)))
                var seen: [TemplateValue] = []
                var seenFast = Set<TemplateFastKey>()
                var out: [TemplateValue] = []
                for item in try PyOps.iterate(value) {
                    let key = try getter(item)
                    try PyOps.checkHashable(key)
                    if let fast = TemplateFastKey(key) {
                        if seenFast.insert(fast).inserted { out.append(item) }
                    } else if !seen.contains(where: { PyOps.equals($0, key) }) {
                        seen.append(key)
                        out.append(item)
                    }
                }
                return out
            }
        case .sort:
            let slots = try bind(["reverse", "case_sensitive", "attribute"])
            let getter = try sortKey(slots[2], caseSensitive: PyOps.truthy(slots[1] ?? .bool(false)))
            let items = try PyOps.iterate(value)
            return .list(try sorted(items, key: getter, reverse: PyOps.truthy(slots[0] ?? .bool(false))))
        case .dictsort:
            let slots = try bind(["case_sensitive", "by", "reverse"])
            guard case .dictionary(let d) = value else {
                throw TemplateFailure("dictsort expects a mapping, got \(PyFormat.typeName(value))")
            }
            let by = try TemplateArgConvert.string(slots[1], "by") ?? "key"
            guard by == "key" || by == "value" else {
                throw TemplateFailure("You can only sort by either \"key\" or \"value\"")
            }
            let caseSensitive = PyOps.truthy(slots[0] ?? .bool(false))
            let pairs: [TemplateValue] = d.entries.map { .tuple([$0.key, $0.value]) }
            let position = by == "key" ? 0 : 1
            let key: (TemplateValue) throws -> TemplateValue = { pair in
                guard case .tuple(let kv) = pair else { return pair }
                return caseSensitive ? kv[position] : ignoreCase(kv[position])
            }
            return .list(try sorted(pairs, key: key, reverse: PyOps.truthy(slots[2] ?? .bool(false))))
        case .sum:
            let slots = try bind(["attribute", "start"])
            var total = slots[1] ?? .int(0)
            var items = try PyOps.iterate(value)
            if let attr = slots[0], !isNone(attr) { items = try items.map { try attributeGetter(attr)($0) } }
            for item in items { total = try PyOps.add(total, item) }
            return total
        case .min, .max:
            let slots = try bind(["case_sensitive", "attribute"])
            let getter = try sortKey(slots[1], caseSensitive: PyOps.truthy(slots[0] ?? .bool(false)))
            let items = try PyOps.iterate(value)
            guard var best = items.first else { return .undefined }
            var bestKey = try getter(best)
            for item in items.dropFirst() {
                let k = try getter(item)
                let better = filter == .min ? try PyOps.less(k, bestKey) : try PyOps.less(bestKey, k)
                if better {
                    best = item
                    bestKey = k
                }
            }
            return best
        }
    }

    static func isNone(_ v: TemplateValue) -> Bool {
        if case .none = v { return true }
        return false
    }

    /// Python `len()`.
    static func length(_ v: TemplateValue) throws -> Int {
        switch v {
        case .string(let s): return PyStr.length(s)
        case .list(let a), .tuple(let a): return a.count
        case .dictionary(let d): return d.count
        case .undefined: return 0
        case .object(let o):
            if case .loop(let l) = o.kind { return l.items.count }
            if case .sequence(let s) = o.kind, !s.isIterator { return s.items.count }
            fallthrough
        default: throw TemplateFailure("object of type '\(PyFormat.typeName(v))' has no len()")
        }
    }

    // MARK: tojson

    static func toJSON(_ value: TemplateValue, _ args: TemplateArguments) throws -> String {
        let slots = try args.bind("tojson", ["ensure_ascii", "indent", "separators", "sort_keys"])
        var dumper = TemplateJSONDumper()
        dumper.ensureASCII = PyOps.truthy(slots[0] ?? .bool(false))
        switch slots[1] {
        case nil, .none?: break
        case .string(let s)?: dumper.indent = s
        case let v?:
            guard let n = try TemplateArgConvert.int(v, "indent") else { break }
            try PyOps.checkedSize(n)
            dumper.indent = PyStr.repeated(" ", n)
        }
        if dumper.indent != nil { dumper.itemSeparator = "," }
        switch slots[2] {
        case nil, .none?: break
        case .list(let pair)?, .tuple(let pair)?:
            guard pair.count == 2, case .string(let item) = pair[0], case .string(let key) = pair[1] else {
                throw TemplateFailure("separators must be a pair of strings")
            }
            dumper.itemSeparator = item
            dumper.keySeparator = key
        case let v?:
            throw TemplateFailure("separators must be a pair of strings, not \(PyFormat.typeName(v))")
        }
        dumper.sortKeys = PyOps.truthy(slots[3] ?? .bool(false))
        let out = try dumper.dump(value)
        try PyOps.checkedSize(out.utf8.count)
        return out
    }

    // MARK: numbers

    /// Python's `int(str, base)` parser (whitespace, sign, underscores, base prefixes).
    static func parseInt(_ raw: String, base: Int) -> Int? {
        var s = Array(PyStr.strip(raw, chars: nil, leading: true, trailing: true).unicodeScalars)
        var negative = false
        if let f = s.first, f == "+" || f == "-" {
            negative = f == "-"
            s.removeFirst()
        }
        var radix = base
        func hasPrefix(_ letter: Unicode.Scalar) -> Bool {
            s.count >= 2 && s[0] == "0" && (s[1] == letter || s[1].properties.lowercaseMapping == String(letter))
        }
        if base == 0 {
            if hasPrefix("x") { radix = 16 } else if hasPrefix("o") { radix = 8 } else if hasPrefix("b") { radix = 2 } else { radix = 10 }
            if radix != 10 { s.removeFirst(2) }
        } else if (base == 16 && hasPrefix("x")) || (base == 8 && hasPrefix("o")) || (base == 2 && hasPrefix("b")) {
            s.removeFirst(2)
            if s.first == "_" { s.removeFirst() }
        }
        guard radix >= 2 && radix <= 36, !s.isEmpty, s.first != "_", s.last != "_" else { return nil }
        var digits = ""
        var previousUnderscore = false
        for c in s {
            if c == "_" {
                if previousUnderscore { return nil }
                previousUnderscore = true
                continue
            }
            previousUnderscore = false
            guard c.isASCII, c.properties.isAlphabetic || ("0"..."9").contains(c) else { return nil }
            digits.unicodeScalars.append(c)
        }
        if base == 0 && radix == 10 && digits.count > 1 && digits.first == "0" && digits.contains(where: { $0 != "0" }) {
            return nil
        }
        guard let magnitude = Int(digits, radix: radix) else { return nil }
        return negative ? -magnitude : magnitude
    }

    /// Python's `float(str)` parser.
    static func parseFloat(_ raw: String) -> Double? {
        let s = PyStr.strip(raw, chars: nil, leading: true, trailing: true)
        let lower = s.lowercased()
        let body = lower.hasPrefix("+") || lower.hasPrefix("-") ? String(lower.dropFirst()) : lower
        if ["inf", "infinity", "nan"].contains(body) {
            let v: Double = body == "nan" ? .nan : .infinity
            return lower.hasPrefix("-") ? -v : v
        }
        guard !body.isEmpty,
            body.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) || $0 == "." || $0 == "e" || $0 == "+" || $0 == "-" || $0 == "_" })
        else { return nil }
        let bytes = Array(s.utf8)
        var cleaned: [UInt8] = []
        for (i, b) in bytes.enumerated() {
            if b == UInt8(ascii: "_") {
                let isDigit = { (x: UInt8) in x >= UInt8(ascii: "0") && x <= UInt8(ascii: "9") }
                guard i > 0, i + 1 < bytes.count, isDigit(bytes[i - 1]), isDigit(bytes[i + 1]) else { return nil }
                continue
            }
            cleaned.append(b)
        }
        return Double(String(decoding: cleaned, as: UTF8.self))
    }

    static func toInt(_ value: TemplateValue, default fallback: TemplateValue, base: Int) throws -> TemplateValue {
        switch value {
        case .int: return value
        case .bool(let b): return .int(b ? 1 : 0)
        case .double(let d):
            if d.isNaN { return fallback }
            if d.isInfinite { throw TemplateFailure("cannot convert float infinity to integer") }
            guard let i = Int(exactly: d.rounded(.towardZero)) else { throw PyOps.overflow() }
            return .int(i)
        case .string(let s):
            if let i = parseInt(s, base: base) { return .int(i) }
            if let d = parseFloat(s), d.isFinite, let i = Int(exactly: d.rounded(.towardZero)) { return .int(i) }
            return fallback
        case .undefined:
            throw TemplateFailure("int() of an undefined value")
        default:
            return fallback
        }
    }

    static func toFloat(_ value: TemplateValue, default fallback: TemplateValue) throws -> TemplateValue {
        switch value {
        case .double: return value
        case .int(let i): return .double(Double(i))
        case .bool(let b): return .double(b ? 1 : 0)
        case .string(let s): return parseFloat(s).map { .double($0) } ?? fallback
        case .undefined: throw TemplateFailure("float() of an undefined value")
        default: return fallback
        }
    }

    static func round(_ value: TemplateValue, precision: Int, method: String) throws -> TemplateValue {
        guard ["common", "ceil", "floor"].contains(method) else {
            throw TemplateFailure("method must be common, ceil or floor")
        }
        guard let number = PyOps.number(value) else {
            throw TemplateFailure("type \(PyFormat.typeName(value)) doesn't define __round__ method")
        }
        if method == "common" {
            switch number {
            case .int(let i):
                if precision >= 0 { return .int(i) }
                let factor = Foundation.pow(10.0, -Double(precision))
                if !factor.isFinite { return .int(0) }
                return .int(Int(exactly: (Double(i) / factor).rounded(.toNearestOrEven) * factor) ?? i)
            case .double(let d):
                if !d.isFinite { return .double(d) }
                if precision >= 0 {
                    // printf rounds the exact binary value half-to-even, like CPython's round().
                    let text = String(format: "%.\(Swift.min(precision, 300))f", d)
                    return .double(Double(text) ?? d)
                }
                let factor = Foundation.pow(10.0, -Double(precision))
                if !factor.isFinite { return .double(copysign(0, d)) }
                return .double((d / factor).rounded(.toNearestOrEven) * factor)
            }
        }
        let scale = Foundation.pow(10.0, Double(precision))
        let scaled = number.asDouble * scale
        if !scale.isFinite || scale == 0 || !scaled.isFinite {
            throw TemplateFailure("precision out of range for round")
        }
        let r = method == "ceil" ? scaled.rounded(.up) : scaled.rounded(.down)
        return .double(r / scale)
    }

    // MARK: text

    /// Jinja's `indent`.
    static func indent(_ s: String, _ indentation: String, first: Bool, blank: Bool) -> String {
        let lines = PyStr.splitlines(s + "\n", keepends: false)
        var rv: String
        if blank {
            rv = lines.joined(separator: "\n" + indentation)
        } else {
            rv = lines.first ?? ""
            let rest = lines.dropFirst()
            if !rest.isEmpty {
                rv += "\n" + rest.map { $0.isEmpty ? $0 : indentation + $0 }.joined(separator: "\n")
            }
        }
        if first { rv = indentation + rv }
        return rv
    }

    // MARK: attribute helpers

    /// Jinja's attribute getter: `"a.b.0"` walks items, with digit parts as integer indices.
    static func attributeGetter(_ attribute: TemplateValue) throws -> (TemplateValue) throws -> TemplateValue {
        let parts: [TemplateValue]
        switch attribute {
        case .string(let s):
            parts = s.split(separator: ".", omittingEmptySubsequences: false).map { part in
                let p = String(part)
                if !p.isEmpty, p.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let i = Int(p) {
                    return .int(i)
                }
                return .string(p)
            }
        case .int: parts = [attribute]
        default: parts = [attribute]
        }
        return { item in
            var v = item
            for p in parts { v = try TemplateBuiltins.item(of: v, p) }
            return v
        }
    }

    static func ignoreCase(_ v: TemplateValue) -> TemplateValue {
        if case .string(let s) = v { return .string(PyStr.lower(s)) }
        return v
    }

    /// Key function for sort/unique/min/max: optional attribute(s), optional case folding.
    static func sortKey(_ attribute: TemplateValue?, caseSensitive: Bool) throws -> (TemplateValue) throws -> TemplateValue {
        var getters: [(TemplateValue) throws -> TemplateValue] = []
        if let attribute, !isNone(attribute) {
            if case .string(let s) = attribute, s.contains(",") {
                getters = try s.split(separator: ",").map { try attributeGetter(.string(String($0))) }
            } else {
                getters = [try attributeGetter(attribute)]
            }
        }
        return { item in
            if getters.isEmpty { return caseSensitive ? item : ignoreCase(item) }
            let keys = try getters.map { g -> TemplateValue in
                let k = try g(item)
                return caseSensitive ? k : ignoreCase(k)
            }
            return keys.count == 1 ? keys[0] : .list(keys)
        }
    }

    /// Stable sort with Python ordering (errors for values Python cannot order).
    static func sorted(_ items: [TemplateValue], key: (TemplateValue) throws -> TemplateValue, reverse: Bool) throws
        -> [TemplateValue]
    {
        let keyed = try items.enumerated().map { (offset: $0.offset, key: try key($0.element), value: $0.element) }
        var failure: Error?
        let ordered = keyed.sorted { a, b in
            if failure != nil { return false }
            do {
                if try PyOps.less(a.key, b.key) { return !reverse }
                if try PyOps.less(b.key, a.key) { return reverse }
            } catch {
                failure = error
                return false
            }
            return a.offset < b.offset
        }
        if let failure { throw failure }
        return ordered.map(\.value)
    }

    /// The predicate for select/reject(attr): a test name with arguments, or truthiness.
    static func testPredicate(_ positional: [TemplateValue], _ keywords: [(String, TemplateValue)], filterName: String)
        throws -> (TemplateValue) throws -> Bool
    {
        guard let first = positional.first else {
            if !keywords.isEmpty { throw TemplateFailure("\(filterName)() got unexpected keyword arguments") }
            return { PyOps.truthy($0) }
        }
        guard case .string(let testName) = first else {
            throw TemplateFailure("\(filterName)() test name must be a string")
        }
        guard let test = TemplateTest.named(testName) else { throw TemplateFailure("unknown test '\(testName)'") }
        var testArgs = TemplateArguments()
        testArgs.positional = Array(positional.dropFirst())
        testArgs.keywords = keywords
        return { try TemplateTestRunner.apply(test, name: testName, $0, testArgs) }
    }

    static func map(_ value: TemplateValue, _ args: TemplateArguments, interpreter: TemplateInterpreter) throws -> [TemplateValue] {
        let items = try PyOps.iterate(value)
        if args.positional.isEmpty {
            var attribute: TemplateValue?
            var fallback: TemplateValue?
            for (k, v) in args.keywords {
                switch k {
                case "attribute": attribute = v
                case "default": fallback = v
                default: throw TemplateFailure("map() got an unexpected keyword argument '\(k)'")
                }
            }
            guard let attribute else { throw TemplateFailure("map() requires a filter name or attribute=") }
            let getter = try attributeGetter(attribute)
            return try items.map { item in
                let v = try getter(item)
                if case .undefined = v, let fallback { return fallback }
                return v
            }
        }
        guard case .string(let filterName) = args.positional[0] else {
            throw TemplateFailure("map() filter name must be a string")
        }
        var rest = TemplateArguments()
        rest.positional = Array(args.positional.dropFirst())
        rest.keywords = args.keywords
        return try items.map { try interpreter.callFilterByName(filterName, $0, rest) }
    }
}
