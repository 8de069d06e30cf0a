import Foundation

/// Python semantics for truthiness, equality, ordering, arithmetic and membership.
enum PyOps {
    /// Largest string or list a single operation may build (protects against `'a' * 10**12`).
    static let maxBuiltSize = 64 << 20
    /// The most items a list built by an operation may have.
    static let maxBuiltItems = 1 << 20

    enum Number {
        case int(Int)
        case double(Double)
        var asDouble: Double {
            switch self {
            case .int(let i): return Double(i)
            case .double(let d): return d
            }
        }
    }

    static func number(_ v: TemplateValue) -> Number? {
        switch v {
        case .bool(let b): return .int(b ? 1 : 0)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        default: return nil
        }
    }

    /// Python truthiness; `undefined` is falsy.
    static func truthy(_ v: TemplateValue) -> Bool {
        switch v {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .list(let a), .tuple(let a): return !a.isEmpty
        case .dictionary(let d): return !d.isEmpty
        case .object(let o):
            // Generators are always truthy in Python; views and ranges when non-empty.
            if case .sequence(let s) = o.kind, !s.isIterator { return !s.items.isEmpty }
            return true
        }
    }

    // MARK: equality and ordering

    /// Python `==`.
    static func equals(_ a: TemplateValue, _ b: TemplateValue) -> Bool {
        if let x = number(a), let y = number(b) {
            switch (x, y) {
            case let (.int(p), .int(q)): return p == q
            default: return x.asDouble == y.asDouble
            }
        }
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        case let (.string(p), .string(q)): return p.utf8.elementsEqual(q.utf8)
        case let (.list(p), .list(q)), let (.tuple(p), .tuple(q)):
            guard p.count == q.count else { return false }
            for i in p.indices where !equals(p[i], q[i]) { return false }
            return true
        case let (.dictionary(p), .dictionary(q)):
            guard p.count == q.count else { return false }
            for e in p.entries {
                guard let v = q[key: e.key], equals(e.value, v) else { return false }
            }
            return true
        case let (.object(p), .object(q)):
            if p === q { return true }
            guard case .sequence(let x) = p.kind, case .sequence(let y) = q.kind else { return false }
            switch (x.flavor, y.flavor) {
            case (.range, .range):
                return x.items.count == y.items.count && zip(x.items, y.items).allSatisfy { equals($0, $1) }
            case (.dictKeys, .dictKeys), (.dictItems, .dictItems), (.dictKeys, .dictItems), (.dictItems, .dictKeys):
                // Set-like views compare as sets.
                return x.items.count == y.items.count && x.items.allSatisfy { a in y.items.contains { equals(a, $0) } }
            default:
                return false
            }
        default: return false
        }
    }

    /// Dictionary key equality (same as `==`).
    static func keysEqual(_ a: TemplateValue, _ b: TemplateValue) -> Bool { equals(a, b) }

    /// Throws unless the value can be a dictionary key.
    static func checkHashable(_ v: TemplateValue) throws {
        switch v {
        case .list, .dictionary: throw TemplateFailure("unhashable type: '\(PyFormat.typeName(v))'")
        case .tuple(let items): for i in items { try checkHashable(i) }
        default: break
        }
    }

    enum CompareOp: String {
        case lt = "<", le = "<=", gt = ">", ge = ">="
    }

    /// Python `<`, `<=`, `>`, `>=`; mixing types Python refuses is an error.
    static func compare(_ op: CompareOp, _ a: TemplateValue, _ b: TemplateValue) throws -> Bool {
        if let x = number(a), let y = number(b) {
            switch (x, y) {
            case let (.int(p), .int(q)): return apply(op, p, q)
            default: return apply(op, x.asDouble, y.asDouble)
            }
        }
        switch (a, b) {
        case let (.string(p), .string(q)):
            switch op {
            case .lt: return PyStr.less(p, q)
            case .le: return !PyStr.less(q, p)
            case .gt: return PyStr.less(q, p)
            case .ge: return !PyStr.less(p, q)
            }
        case let (.list(p), .list(q)), let (.tuple(p), .tuple(q)):
            for i in 0..<min(p.count, q.count) where !equals(p[i], q[i]) {
                return try compare(op, p[i], q[i])
            }
            return apply(op, p.count, q.count)
        default:
            throw TemplateFailure(
                "'\(op.rawValue)' not supported between instances of '\(PyFormat.typeName(a))' and '\(PyFormat.typeName(b))'"
            )
        }
    }

    static func less(_ a: TemplateValue, _ b: TemplateValue) throws -> Bool { try compare(.lt, a, b) }

    private static func apply<T: Comparable>(_ op: CompareOp, _ a: T, _ b: T) -> Bool {
        switch op {
        case .lt: return a < b
        case .le: return a <= b
        case .gt: return a > b
        case .ge: return a >= b
        }
    }

    /// Python `item in container`.
    static func contains(_ container: TemplateValue, _ item: TemplateValue) throws -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let sub) = item else {
                throw TemplateFailure("'in <string>' requires string as left operand, not \(PyFormat.typeName(item))")
            }
            return PyStr.contains(s, sub)
        case .list(let items), .tuple(let items):
            return items.contains { equals($0, item) }
        case .dictionary(let d):
            try checkHashable(item)
            return d.index(forKey: item) != nil
        case .undefined:
            return false
        case .object(let o):
            if case .sequence(let s) = o.kind {
                if s.isIterator {
                    // Python consumes a generator up to (and including) the first match.
                    while let x = try s.next() {
                        if equals(x, item) { return true }
                    }
                    return false
                }
                return s.items.contains { equals($0, item) }
            }
            throw TemplateFailure("argument of type '\(PyFormat.typeName(container))' is not iterable")
        default:
            throw TemplateFailure("argument of type '\(PyFormat.typeName(container))' is not iterable")
        }
    }

    /// The items a `for` loop (or `list()`) sees.
    static func iterate(_ v: TemplateValue) throws -> [TemplateValue] {
        switch v {
        case .list(let a), .tuple(let a): return a
        case .string(let s):
            // One value per character: refuse strings longer than any loop may run before building them.
            if s.utf8.count > maxBuiltItems, s.unicodeScalars.count > maxBuiltItems {
                throw TemplateFailure("iterating over a string of more than \(maxBuiltItems) characters")
            }
            return s.unicodeScalars.map { .string(String($0)) }
        case .dictionary(let d): return d.keys
        case .undefined: return []
        case .object(let o):
            if case .loop(let l) = o.kind { return l.items }
            if case .sequence(let s) = o.kind { return try s.take() }
            fallthrough
        default:
            throw TemplateFailure("'\(PyFormat.typeName(v))' object is not iterable")
        }
    }

    // MARK: arithmetic

    static func unsupported(_ op: String, _ a: TemplateValue, _ b: TemplateValue) -> TemplateFailure {
        TemplateFailure(
            "unsupported operand type(s) for \(op): '\(PyFormat.typeName(a))' and '\(PyFormat.typeName(b))'")
    }

    static func overflow() -> TemplateFailure {
        TemplateFailure("integer overflow (integers beyond 64 bits are not supported)")
    }

    static func checkedSize(_ n: Int) throws {
        if n > maxBuiltSize { throw TemplateFailure("result too large (over \(maxBuiltSize >> 20) MiB)") }
    }

    static func add(_ a: TemplateValue, _ b: TemplateValue) throws -> TemplateValue {
        if let x = number(a), let y = number(b) {
            if case .int(let p) = x, case .int(let q) = y {
                let (r, o) = p.addingReportingOverflow(q)
                if o { throw overflow() }
                return .int(r)
            }
            return .double(x.asDouble + y.asDouble)
        }
        switch (a, b) {
        case let (.string(p), .string(q)):
            try checkedSize(p.utf8.count + q.utf8.count)
            return .string(p + q)
        case let (.list(p), .list(q)):
            try checkedSize(p.count + q.count)
            return .list(p + q)
        case let (.tuple(p), .tuple(q)):
            try checkedSize(p.count + q.count)
            return .tuple(p + q)
        case (.string, _):
            throw TemplateFailure("can only concatenate str (not \"\(PyFormat.typeName(b))\") to str")
        case (.list, _):
            throw TemplateFailure("can only concatenate list (not \"\(PyFormat.typeName(b))\") to list")
        case (.tuple, _):
            throw TemplateFailure("can only concatenate tuple (not \"\(PyFormat.typeName(b))\") to tuple")
        default:
            throw unsupported("+", a, b)
        }
    }

    static func subtract(_ a: TemplateValue, _ b: TemplateValue) throws -> TemplateValue {
        guard let x = number(a), let y = number(b) else { throw unsupported("-", a, b) }
        if case .int(let p) = x, case .int(let q) = y {
            let (r, o) = p.subtractingReportingOverflow(q)
            if o { throw overflow() }
            return .int(r)
        }
        return .double(x.asDouble - y.asDouble)
    }

    static func multiply(_ a: TemplateValue, _ b: TemplateValue) throws -> TemplateValue {
        if let x = number(a), let y = number(b) {
            if case .int(let p) = x, case .int(let q) = y {
                let (r, o) = p.multipliedReportingOverflow(by: q)
                if o { throw overflow() }
                return .int(r)
            }
            return .double(x.asDouble * y.asDouble)
        }
        func repeatCount(_ v: TemplateValue) -> Int? {
            switch v {
            case .int(let i): return i
            case .bool(let b): return b ? 1 : 0
            default: return nil
            }
        }
        switch (a, b) {
        case (.string(let s), _) where repeatCount(b) != nil:
            return try repeatString(s, repeatCount(b) ?? 0)
        case (_, .string(let s)) where repeatCount(a) != nil:
            return try repeatString(s, repeatCount(a) ?? 0)
        case (.list(let l), _) where repeatCount(b) != nil:
            return .list(try repeatItems(l, repeatCount(b) ?? 0))
        case (_, .list(let l)) where repeatCount(a) != nil:
            return .list(try repeatItems(l, repeatCount(a) ?? 0))
        case (.tuple(let l), _) where repeatCount(b) != nil:
            return .tuple(try repeatItems(l, repeatCount(b) ?? 0))
        case (_, .tuple(let l)) where repeatCount(a) != nil:
            return .tuple(try repeatItems(l, repeatCount(a) ?? 0))
        case (.string, _), (_, .string), (.list, _), (_, .list), (.tuple, _), (_, .tuple):
            throw TemplateFailure(
                "can't multiply sequence by non-int of type '\(PyFormat.typeName(number(a) == nil ? b : a))'")
        default:
            throw unsupported("*", a, b)
        }
    }

    private static func repeatString(_ s: String, _ n: Int) throws -> TemplateValue {
        if n <= 0 || s.isEmpty { return .string("") }
        let (total, o) = s.utf8.count.multipliedReportingOverflow(by: n)
        if o { throw TemplateFailure("result too large") }
        try checkedSize(total)
        return .string(PyStr.repeated(s, n))
    }

    private static func repeatItems(_ l: [TemplateValue], _ n: Int) throws -> [TemplateValue] {
        if n <= 0 || l.isEmpty { return [] }
        let (total, o) = l.count.multipliedReportingOverflow(by: n)
        if o { throw TemplateFailure("result too large") }
        // A list element takes tens of bytes, so lists are capped by count well below the byte cap of strings.
        if total > maxBuiltItems { throw TemplateFailure("result too large (over \(maxBuiltItems) items)") }
        var out: [TemplateValue] = []
        out.reserveCapacity(total)
        for _ in 0..<n { out.append(contentsOf: l) }
        return out
    }

    static func divide(_ a: TemplateValue, _ b: TemplateValue) throws -> TemplateValue {
        guard let x = number(a), let y = number(b) else { throw unsupported("/", a, b) }
        if y.asDouble == 0 { throw TemplateFailure("division by zero") }
        return .double(x.asDouble / y.asDouble)
    }

    /// CPython's float divmod (floor quotient and modulo with the divisor's sign).
    private static func floatDivmod(_ vx: Double, _ wx: Double) -> (Double, Double) {
        var mod = fmod(vx, wx)
        var div = (vx - mod) / wx
        if mod != 0 {
            if (wx < 0) != (mod < 0) {
                mod += wx
                div -= 1
            }
        } else {
            mod = copysign(0, wx)
        }
        var floordiv: Double
        if div != 0 {
            floordiv = floor(div)
            if div - floordiv > 0.5 { floordiv += 1 }
        } else {
            floordiv = copysign(0, vx / wx)
        }
        return (floordiv, mod)
    }

    static func floorDivide(_ a: TemplateValue, _ b: TemplateValue) throws -> TemplateValue {
        guard let x = number(a), let y = number(b) else { throw unsupported("//", a, b) }
        if case .int(let p) = x, case .int(let q) = y {
            if q == 0 { throw TemplateFailure("integer division or modulo by zero") }
            if p == Int.min && q == -1 { throw overflow() }
            var r = p / q
            if p % q != 0 && ((p < 0) != (q < 0)) { r -= 1 }
            return .int(r)
        }
        if y.asDouble == 0 { throw TemplateFailure("float floor division by zero") }
        return .double(floatDivmod(x.asDouble, y.asDouble).0)
    }

    static func modulo(_ a: TemplateValue, _ b: TemplateValue) throws -> TemplateValue {
        if case .string = a {
            throw TemplateFailure("printf-style string formatting ('%' on a string) is not supported")
        }
        guard let x = number(a), let y = number(b) else { throw unsupported("%", a, b) }
        if case .int(let p) = x, case .int(let q) = y {
            if q == 0 { throw TemplateFailure("integer division or modulo by zero") }
            if q == -1 { return .int(0) }
            var r = p % q
            if r != 0 && ((r < 0) != (q < 0)) { r += q }
            return .int(r)
        }
        if y.asDouble == 0 { throw TemplateFailure("float modulo by zero") }
        return .double(floatDivmod(x.asDouble, y.asDouble).1)
    }

    static func power(_ a: TemplateValue, _ b: TemplateValue) throws -> TemplateValue {
        guard let x = number(a), let y = number(b) else { throw unsupported("** or pow()", a, b) }
        if case .int(var base) = x, case .int(var exp) = y, exp >= 0 {
            var result = 1
            while exp > 0 {
                if exp & 1 == 1 {
                    let (r, o) = result.multipliedReportingOverflow(by: base)
                    if o { throw overflow() }
                    result = r
                }
                exp >>= 1
                if exp > 0 {
                    let (sq, o) = base.multipliedReportingOverflow(by: base)
                    if o { throw overflow() }
                    base = sq
                }
            }
            return .int(result)
        }
        let p = x.asDouble
        let q = y.asDouble
        if p == 0 && q < 0 { throw TemplateFailure("zero cannot be raised to a negative power") }
        if p < 0 && q != q.rounded() { throw TemplateFailure("complex results are not supported") }
        let r = Foundation.pow(p, q)
        if r.isInfinite && p.isFinite && q.isFinite { throw TemplateFailure("(34, 'Numerical result out of range')") }
        return .double(r)
    }

    static func negate(_ a: TemplateValue) throws -> TemplateValue {
        switch number(a) {
        case .int(let i)?:
            if i == Int.min { throw overflow() }
            return .int(-i)
        case .double(let d)?: return .double(-d)
        case nil: throw TemplateFailure("bad operand type for unary -: '\(PyFormat.typeName(a))'")
        }
    }

    static func plus(_ a: TemplateValue) throws -> TemplateValue {
        switch number(a) {
        case .int(let i)?: return .int(i)
        case .double(let d)?: return .double(d)
        case nil: throw TemplateFailure("bad operand type for unary +: '\(PyFormat.typeName(a))'")
        }
    }

    /// Whether a value nests containers deeper than `limit` (guards against values that
    /// would overflow the stack when printed or freed).
    static func nestingExceeds(_ v: TemplateValue, _ limit: Int) -> Bool {
        if limit < 0 { return true }
        switch v {
        case .list(let a), .tuple(let a):
            return a.contains { nestingExceeds($0, limit - 1) }
        case .dictionary(let d):
            return d.entries.contains { nestingExceeds($0.key, limit - 1) || nestingExceeds($0.value, limit - 1) }
        default:
            return false
        }
    }
}
