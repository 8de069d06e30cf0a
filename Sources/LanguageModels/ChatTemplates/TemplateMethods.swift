/// Attribute and item access, slicing, the Python methods templates call on strings, dicts and
/// lists, and the `range` / `dict` / `namespace` globals. Lookups follow Jinja's sandbox:
/// `a.b` tries the Python attribute (method) first and then the item; `a['b']` the other way
/// round; a missing key or index gives `undefined`; methods that would mutate a list or dict are
/// refused (they read as `undefined`, so calling them fails).
enum TemplateBuiltins {
    static let maxRange = 100_000

    static let stringMethods: Set<String> = [
        "capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find", "format",
        "format_map", "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower",
        "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip",
        "maketrans", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust",
        "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title",
        "translate", "upper", "zfill",
    ]
    static let dictMethods: Set<String> = ["copy", "fromkeys", "get", "items", "keys", "values"]
    static let dictMutators: Set<String> = ["clear", "pop", "popitem", "setdefault", "update"]
    static let listMethods: Set<String> = ["copy", "count", "index"]
    static let listMutators: Set<String> = ["append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort"]
    static let tupleMethods: Set<String> = ["count", "index"]
    static let numberAttributes: Set<String> = [
        "as_integer_ratio", "bit_count", "bit_length", "conjugate", "denominator", "from_bytes", "imag",
        "numerator", "real", "to_bytes", "fromhex", "hex", "is_integer",
    ]

    private static func method(_ receiver: TemplateValue, _ name: String) -> TemplateValue {
        .object(TemplateObject(.method(receiver: receiver, name: name)))
    }

    // MARK: access

    /// `value.name`.
    static func attribute(of v: TemplateValue, _ name: String) throws -> TemplateValue {
        switch v {
        case .undefined:
            throw TemplateFailure("'undefined' has no attribute '\(name)'")
        case .dictionary(let d):
            if dictMethods.contains(name) { return method(v, name) }
            if dictMutators.contains(name) || name.hasPrefix("__") { return .undefined }
            return d[name] ?? .undefined
        case .string:
            return stringMethods.contains(name) ? method(v, name) : .undefined
        case .list:
            if listMethods.contains(name) { return method(v, name) }
            return .undefined
        case .tuple:
            return tupleMethods.contains(name) ? method(v, name) : .undefined
        case .int, .double, .bool:
            if numberAttributes.contains(name) {
                throw TemplateFailure("attribute '\(name)' of \(PyFormat.typeName(v)) is not supported")
            }
            return .undefined
        case .none:
            return .undefined
        case .object(let o):
            switch o.kind {
            case .namespace: return o.attributes[name] ?? .undefined
            case .loop(let state): return try state.attribute(name, owner: o)
            case .macro(let m): return name == "name" ? .string(m.definition.name) : .undefined
            case .function, .method: return .undefined
            case .sequence(let s):
                if case .range(let start, let stop, let step) = s.flavor {
                    switch name {
                    case "start": return .int(start)
                    case "stop": return .int(stop)
                    case "step": return .int(step)
                    default: break
                    }
                }
                return .undefined
            }
        }
    }

    /// `value[key]` (not a slice).
    static func item(of v: TemplateValue, _ key: TemplateValue) throws -> TemplateValue {
        func attributeFallback() throws -> TemplateValue {
            if case .string(let name) = key { return try attribute(of: v, name) }
            return .undefined
        }
        switch v {
        case .undefined:
            throw TemplateFailure("'undefined' has no item")
        case .list(let items), .tuple(let items):
            guard let i = indexValue(key) else { return try attributeFallback() }
            let j = i < 0 ? i + items.count : i
            return (j >= 0 && j < items.count) ? items[j] : .undefined
        case .string(let s):
            guard let i = indexValue(key) else { return try attributeFallback() }
            let scalars = Array(s.unicodeScalars)
            let j = i < 0 ? i + scalars.count : i
            return (j >= 0 && j < scalars.count) ? .string(String(scalars[j])) : .undefined
        case .dictionary(let d):
            if (try? PyOps.checkHashable(key)) == nil { return .undefined }
            if let found = d[key: key] { return found }
            return try attributeFallback()
        case .object(let o):
            // Ranges are indexable; generators and dict views are not (undefined, as in Jinja).
            if case .sequence(let s) = o.kind, case .range = s.flavor, let i = indexValue(key) {
                let j = i < 0 ? i + s.items.count : i
                return (j >= 0 && j < s.items.count) ? s.items[j] : .undefined
            }
            return try attributeFallback()
        default:
            return try attributeFallback()
        }
    }

    private static func indexValue(_ v: TemplateValue) -> Int? {
        switch v {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    /// Python slice positions for a sequence of `count` items.
    static func sliceIndices(count: Int, _ start: Int?, _ stop: Int?, _ step: Int?) throws -> [Int] {
        let step = step ?? 1
        if step == 0 { throw TemplateFailure("slice step cannot be zero") }
        func adjust(_ v: Int?, defaultValue: Int) -> Int {
            guard var x = v else { return defaultValue }
            if x < 0 {
                x = x < -count ? (step < 0 ? -1 : 0) : x + count
            } else if x >= count {
                x = step < 0 ? count - 1 : count
            }
            return x
        }
        let lo = adjust(start, defaultValue: step < 0 ? count - 1 : 0)
        let hi = adjust(stop, defaultValue: step < 0 ? -1 : count)
        var result: [Int] = []
        if step > 0 {
            var i = lo
            while i < hi {
                result.append(i)
                let (n, o) = i.addingReportingOverflow(step)
                if o { break }
                i = n
            }
        } else {
            var i = lo
            while i > hi {
                result.append(i)
                let (n, o) = i.addingReportingOverflow(step)
                if o { break }
                i = n
            }
        }
        return result
    }

    /// `value[start:stop:step]`.
    static func slice(_ v: TemplateValue, _ start: TemplateValue?, _ stop: TemplateValue?, _ step: TemplateValue?)
        throws -> TemplateValue
    {
        func bound(_ b: TemplateValue?) -> (ok: Bool, value: Int?) {
            guard let b else { return (true, nil) }
            if case .none = b { return (true, nil) }
            if let i = indexValue(b) { return (true, i) }
            return (false, nil)
        }
        // Jinja compiles slices to plain Python subscripts, so failures are errors here
        // (unlike `x[i]`, which falls back to undefined).
        let (a, b, c) = (bound(start), bound(stop), bound(step))
        switch v {
        case .list, .tuple, .string:
            guard a.ok, b.ok, c.ok else {
                throw TemplateFailure("slice indices must be integers or None or have an __index__ method")
            }
        case .dictionary:
            throw TemplateFailure("unhashable type: 'slice'")
        default:
            break
        }
        switch v {
        case .list(let items):
            return .list(try sliceIndices(count: items.count, a.value, b.value, c.value).map { items[$0] })
        case .tuple(let items):
            return .tuple(try sliceIndices(count: items.count, a.value, b.value, c.value).map { items[$0] })
        case .string(let s):
            let scalars = Array(s.unicodeScalars)
            let idx = try sliceIndices(count: scalars.count, a.value, b.value, c.value)
            return .string(PyStr.string(idx.map { scalars[$0] }))
        case .undefined:
            throw TemplateFailure("'undefined' cannot be sliced")
        case .object(let o):
            if case .sequence(let s) = o.kind, case .range(let start, _, let step) = s.flavor {
                guard a.ok, b.ok, c.ok else {
                    throw TemplateFailure("slice indices must be integers or None or have an __index__ method")
                }
                // Slicing a range gives a range, as in Python.
                let idx = try sliceIndices(count: s.items.count, a.value, b.value, c.value)
                let newStep = step &* (c.value ?? 1)
                let newStart = idx.first.map { start &+ $0 &* step } ?? start
                let newStop = idx.last.map { start &+ $0 &* step &+ newStep } ?? newStart
                return TemplateSequenceState.make(.range(start: newStart, stop: newStop, step: newStep), idx.map { s.items[$0] })
            }
            throw TemplateFailure("'\(PyFormat.typeName(v))' object is not subscriptable")
        default:
            throw TemplateFailure("'\(PyFormat.typeName(v))' object is not subscriptable")
        }
    }

    // MARK: globals

    static func range(_ args: TemplateArguments) throws -> TemplateValue {
        if !args.keywords.isEmpty { throw TemplateFailure("range() takes no keyword arguments") }
        var ints: [Int] = []
        for v in args.positional {
            guard let i = indexValue(v) else {
                throw TemplateFailure("'\(PyFormat.typeName(v))' object cannot be interpreted as an integer")
            }
            ints.append(i)
        }
        let start: Int
        let stop: Int
        var step = 1
        switch ints.count {
        case 1: (start, stop) = (0, ints[0])
        case 2: (start, stop) = (ints[0], ints[1])
        case 3: (start, stop, step) = (ints[0], ints[1], ints[2])
        default: throw TemplateFailure("range expected 1 to 3 arguments, got \(ints.count)")
        }
        if step == 0 { throw TemplateFailure("range() arg 3 must not be zero") }
        // Length computed in Double to stay clear of overflow.
        let span = (Double(stop) - Double(start)) / Double(step)
        if span > Double(maxRange) {
            throw TemplateFailure("range() of more than \(maxRange) values is refused")
        }
        let length = span <= 0 ? 0 : Int(span.rounded(.up))
        var result: [TemplateValue] = []
        result.reserveCapacity(length)
        var i = start
        for _ in 0..<length {
            result.append(.int(i))
            i = i &+ step
        }
        return TemplateSequenceState.make(.range(start: start, stop: stop, step: step), result)
    }

    /// `dict(...)` / `namespace(...)` arguments: an optional mapping or iterable of pairs, then keywords.
    static func makeDict(_ args: TemplateArguments, function: String) throws -> OrderedDict {
        if args.positional.count > 1 {
            throw TemplateFailure("\(function) expected at most 1 argument, got \(args.positional.count)")
        }
        var d = OrderedDict()
        if let first = args.positional.first {
            switch first {
            case .dictionary(let src):
                d = src
            default:
                for (n, pair) in try PyOps.iterate(first).enumerated() {
                    let kv: [TemplateValue]
                    do { kv = try PyOps.iterate(pair) } catch {
                        throw TemplateFailure(
                            "cannot convert dictionary update sequence element #\(n) to a sequence")
                    }
                    guard kv.count == 2 else {
                        throw TemplateFailure(
                            "dictionary update sequence element #\(n) has length \(kv.count); 2 is required")
                    }
                    try PyOps.checkHashable(kv[0])
                    d[key: kv[0]] = kv[1]
                }
            }
        }
        for (k, v) in args.keywords { d[k] = v }
        return d
    }

    // MARK: methods

    static func callMethod(_ receiver: TemplateValue, _ name: String, _ args: TemplateArguments) throws -> TemplateValue {
        switch receiver {
        case .string(let s): return try stringMethod(s, name, args)
        case .dictionary(let d): return try dictMethod(d, name, args)
        case .list(let items), .tuple(let items): return try sequenceMethod(receiver, items, name, args)
        case .object(let o):
            if case .loop(let state) = o.kind, name == "cycle" {
                if !args.keywords.isEmpty { throw TemplateFailure("cycle() takes no keyword arguments") }
                if args.positional.isEmpty { throw TemplateFailure("no items for cycling given") }
                return args.positional[state.index0 % args.positional.count]
            }
            throw TemplateFailure("unsupported method '\(name)'")
        default:
            throw TemplateFailure("unsupported method '\(name)'")
        }
    }

    private static func string(_ v: TemplateValue?, _ what: String) throws -> String? {
        try TemplateArgConvert.string(v, what)
    }

    private static func prefixes(_ v: TemplateValue?, _ function: String) throws -> [String] {
        switch v {
        case .string(let p)?: return [p]
        case .tuple(let items)?:
            return try items.map {
                guard case .string(let p) = $0 else {
                    throw TemplateFailure("tuple for \(function) must only contain str, not \(PyFormat.typeName($0))")
                }
                return p
            }
        default:
            throw TemplateFailure(
                "\(function) first arg must be str or a tuple of str, not \(PyFormat.typeName(v ?? .none))")
        }
    }

    /// The part of `s` between optional Python-style start/end code point indices.
    private static func window(_ s: String, _ start: TemplateValue?, _ end: TemplateValue?) throws -> (String, Int) {
        let startIndex = try TemplateArgConvert.int(start, "slice index")
        let endIndex = try TemplateArgConvert.int(end, "slice index")
        if startIndex == nil && endIndex == nil { return (s, 0) }
        let scalars = Array(s.unicodeScalars)
        let n = scalars.count
        func clamp(_ v: Int?, _ d: Int) -> Int {
            guard var x = v else { return d }
            if x < 0 { x = max(0, x + n) }
            return min(x, n)
        }
        let lo = clamp(startIndex, 0)
        let hi = clamp(endIndex, n)
        if lo > hi { return ("", -1) }
        return (PyStr.string(scalars[lo..<hi]), lo)
    }

    private static func pad(_ s: String, _ args: TemplateArguments, _ name: String) throws -> String {
        let slots = try args.bind(name, ["width", "fillchar"], required: 1, keywordsAllowed: false)
        let width = try TemplateArgConvert.int(slots[0], "width") ?? 0
        var fill: Unicode.Scalar = " "
        if let f = try string(slots[1], "fillchar") {
            guard f.unicodeScalars.count == 1, let c = f.unicodeScalars.first else {
                throw TemplateFailure("The fill character must be exactly one character long")
            }
            fill = c
        }
        let n = PyStr.length(s)
        if width <= n { return s }
        try PyOps.checkedSize(width)
        let marg = width - n
        let left: Int
        switch name {
        case "ljust": left = 0
        case "rjust": left = marg
        default: left = marg / 2 + (marg & width & 1)
        }
        let l = PyStr.repeated(String(fill), left)
        let r = PyStr.repeated(String(fill), marg - left)
        return l + s + r
    }

    static func stringMethod(_ s: String, _ name: String, _ args: TemplateArguments) throws -> TemplateValue {
        switch name {
        case "strip", "lstrip", "rstrip":
            let slots = try args.bind(name, ["chars"], keywordsAllowed: false)
            let chars = try string(slots[0], "\(name) arg")
            return .string(PyStr.strip(s, chars: chars, leading: name != "rstrip", trailing: name != "lstrip"))
        case "startswith", "endswith":
            let slots = try args.bind(name, ["prefix", "start", "end"], required: 1, keywordsAllowed: false)
            let options = try prefixes(slots[0], name)
            let (part, offset) = try window(s, slots[1], slots[2])
            if offset < 0 { return .bool(false) }
            let hit = options.contains { name == "startswith" ? PyStr.hasPrefix(part, $0) : PyStr.hasSuffix(part, $0) }
            return .bool(hit)
        case "split", "rsplit":
            let slots = try args.bind(name, ["sep", "maxsplit"])
            let sep = try string(slots[0], "sep")
            let maxsplit = try TemplateArgConvert.int(slots[1], "maxsplit") ?? -1
            let parts = name == "split"
                ? try PyStr.split(s, sep: sep, maxsplit: maxsplit) : try PyStr.rsplit(s, sep: sep, maxsplit: maxsplit)
            return .list(parts.map { .string($0) })
        case "splitlines":
            let slots = try args.bind(name, ["keepends"])
            return .list(PyStr.splitlines(s, keepends: PyOps.truthy(slots[0] ?? .bool(false))).map { .string($0) })
        case "upper":
            try args.noArguments(name)
            return .string(PyStr.upper(s))
        case "lower":
            try args.noArguments(name)
            return .string(PyStr.lower(s))
        case "title":
            try args.noArguments(name)
            return .string(PyStr.title(s))
        case "capitalize":
            try args.noArguments(name)
            return .string(PyStr.capitalize(s))
        case "swapcase":
            try args.noArguments(name)
            return .string(PyStr.swapcase(s))
        case "replace":
            let slots = try args.bind(name, ["old", "new", "count"], required: 2)
            guard let old = try string(slots[0], "replace() argument 1"),
                let new = try string(slots[1], "replace() argument 2")
            else { throw TemplateFailure("replace() arguments must be str") }
            let count = try TemplateArgConvert.int(slots[2], "count") ?? -1
            let result = try PyStr.replace(s, old, new, count: count)
            try PyOps.checkedSize(result.utf8.count)
            return .string(result)
        case "find", "rfind", "index", "rindex", "count":
            let slots = try args.bind(name, ["sub", "start", "end"], required: 1, keywordsAllowed: false)
            guard let sub = try string(slots[0], "\(name) arg") else {
                throw TemplateFailure("must be str, not NoneType")
            }
            let (part, offset) = try window(s, slots[1], slots[2])
            if name == "count" { return .int(offset < 0 ? 0 : PyStr.count(part, sub)) }
            var i = offset < 0 ? -1 : PyStr.find(part, sub, reverse: name.hasPrefix("r"))
            if i >= 0 { i += offset }
            if i < 0 && (name == "index" || name == "rindex") { throw TemplateFailure("substring not found") }
            return .int(i)
        case "join":
            let slots = try args.bind(name, ["iterable"], required: 1, keywordsAllowed: false)
            let items = try PyOps.iterate(slots[0] ?? .none)
            var parts: [String] = []
            for (i, item) in items.enumerated() {
                guard case .string(let p) = item else {
                    throw TemplateFailure("sequence item \(i): expected str instance, \(PyFormat.typeName(item)) found")
                }
                parts.append(p)
            }
            let total = parts.reduce(0) { $0 + $1.utf8.count }
            let (seps, o) = max(0, parts.count - 1).multipliedReportingOverflow(by: s.utf8.count)
            if o { throw TemplateFailure("result too large") }
            try PyOps.checkedSize(total + seps)
            let result = parts.joined(separator: s)
            try PyOps.checkedSize(result.utf8.count)
            return .string(result)
        case "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper", "isdecimal", "isnumeric", "isascii":
            try args.noArguments(name)
            switch name {
            case "isdigit": return .bool(PyStr.isDigit(s))
            case "isalpha": return .bool(PyStr.isAlpha(s))
            case "isalnum": return .bool(PyStr.isAlnum(s))
            case "isspace": return .bool(PyStr.isSpaceString(s))
            case "islower": return .bool(PyStr.isLower(s))
            case "isupper": return .bool(PyStr.isUpper(s))
            case "isdecimal": return .bool(PyStr.isDecimal(s))
            case "isnumeric": return .bool(PyStr.isNumeric(s))
            default: return .bool(s.unicodeScalars.allSatisfy(\.isASCII))
            }
        case "removeprefix", "removesuffix":
            let slots = try args.bind(name, ["affix"], required: 1, keywordsAllowed: false)
            guard let affix = try string(slots[0], "\(name) arg") else { throw TemplateFailure("must be str") }
            let bytes = Array(s.utf8)
            let n = affix.utf8.count
            if name == "removeprefix" {
                return .string(PyStr.hasPrefix(s, affix) ? String(decoding: bytes[n...], as: UTF8.self) : s)
            }
            return .string(
                PyStr.hasSuffix(s, affix) && n > 0 ? String(decoding: bytes[..<(bytes.count - n)], as: UTF8.self) : s)
        case "partition", "rpartition":
            let slots = try args.bind(name, ["sep"], required: 1, keywordsAllowed: false)
            guard let sep = try string(slots[0], "\(name) arg"), !sep.isEmpty else {
                throw TemplateFailure("empty separator")
            }
            let parts = name == "partition"
                ? try PyStr.split(s, sep: sep, maxsplit: 1) : try PyStr.rsplit(s, sep: sep, maxsplit: 1)
            if parts.count == 2 { return .tuple([.string(parts[0]), .string(sep), .string(parts[1])]) }
            return name == "partition" ? .tuple([.string(s), "", ""]) : .tuple(["", "", .string(s)])
        case "center", "ljust", "rjust":
            return .string(try pad(s, args, name))
        case "zfill":
            let slots = try args.bind(name, ["width"], required: 1, keywordsAllowed: false)
            let width = try TemplateArgConvert.int(slots[0], "width") ?? 0
            var scalars = Array(s.unicodeScalars)
            if width <= scalars.count { return .string(s) }
            try PyOps.checkedSize(width)
            var sign: [Unicode.Scalar] = []
            if let f = scalars.first, f == "+" || f == "-" {
                sign = [f]
                scalars.removeFirst()
            }
            let zeros = [Unicode.Scalar](repeating: "0", count: width - scalars.count - sign.count)
            return .string(PyStr.string(sign + zeros + scalars))
        default:
            throw TemplateFailure("unsupported method 'str.\(name)'")
        }
    }

    static func dictMethod(_ d: OrderedDict, _ name: String, _ args: TemplateArguments) throws -> TemplateValue {
        switch name {
        case "items":
            try args.noArguments(name)
            return TemplateSequenceState.make(.dictItems, d.entries.map { .tuple([$0.key, $0.value]) })
        case "keys":
            try args.noArguments(name)
            return TemplateSequenceState.make(.dictKeys, d.keys)
        case "values":
            try args.noArguments(name)
            return TemplateSequenceState.make(.dictValues, d.values)
        case "get":
            let slots = try args.bind(name, ["key", "default"], required: 1, keywordsAllowed: false)
            let key = slots[0] ?? .none
            try PyOps.checkHashable(key)
            return d[key: key] ?? slots[1] ?? .none
        case "copy":
            try args.noArguments(name)
            return .dictionary(d)
        default:
            throw TemplateFailure("unsupported method 'dict.\(name)'")
        }
    }

    static func sequenceMethod(_ receiver: TemplateValue, _ items: [TemplateValue], _ name: String, _ args: TemplateArguments)
        throws -> TemplateValue
    {
        switch name {
        case "count":
            let slots = try args.bind(name, ["value"], required: 1, keywordsAllowed: false)
            let x = slots[0] ?? .none
            return .int(items.filter { PyOps.equals($0, x) }.count)
        case "index":
            let slots = try args.bind(name, ["value"], required: 1, keywordsAllowed: false)
            let x = slots[0] ?? .none
            guard let i = items.firstIndex(where: { PyOps.equals($0, x) }) else {
                throw TemplateFailure("\((try? PyFormat.repr(x)) ?? "value") is not in \(PyFormat.typeName(receiver))")
            }
            return .int(i)
        case "copy":
            try args.noArguments(name)
            return receiver
        default:
            throw TemplateFailure("unsupported method '\(PyFormat.typeName(receiver)).\(name)'")
        }
    }
}
