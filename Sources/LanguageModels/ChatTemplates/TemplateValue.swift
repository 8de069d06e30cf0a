import Foundation

/// A value inside a template: what messages, variables and results are made of.
///
/// The cases mirror the Python types a Jinja template sees under transformers:
/// `None`, `bool`, `int`, `float`, `str`, `list`, `tuple` and `dict`. Dictionaries keep
/// insertion order, like Python dicts. `undefined` is Jinja's `Undefined` (a missing
/// variable or key), and `object` holds the runtime-only things a template can create
/// (namespaces, macros, functions, the `loop` variable, and the generators, dict views and
/// ranges Python would hand it).
public enum TemplateValue: Sendable {
    /// Jinja's `Undefined`: prints as an empty string, is falsy, `is defined` is false.
    case undefined
    /// Python's `None` (`none` / `None` in a template).
    case none
    /// A boolean (`true` / `True`).
    case bool(Bool)
    /// A 64-bit integer (Python ints beyond 64 bits are reported as errors).
    case int(Int)
    /// A floating-point number (Python `float`).
    case double(Double)
    /// A string; lengths and indices count Unicode scalars, as Python does.
    case string(String)
    /// A list (Python `list`).
    case list([TemplateValue])
    /// A tuple (Python `tuple`): prints with parentheses, compares unequal to a list.
    case tuple([TemplateValue])
    /// An insertion-ordered dictionary (Python `dict`).
    case dictionary(OrderedDict)
    /// A runtime object created while rendering (namespace, macro, function, loop).
    case object(TemplateObject)
}

extension TemplateValue: Equatable {
    /// Structural equality. Dictionaries compare without regard to order (as Python dicts
    /// do), lists never equal tuples, objects compare by identity. This is Swift-side
    /// equality; the template `==` operator follows Python (`1 == 1.0 == True`).
    public static func == (lhs: TemplateValue, rhs: TemplateValue) -> Bool {
        switch (lhs, rhs) {
        case (.undefined, .undefined), (.none, .none): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.int(a), .int(b)): return a == b
        case let (.double(a), .double(b)): return a == b
        case let (.string(a), .string(b)): return a.utf8.elementsEqual(b.utf8)
        case let (.list(a), .list(b)): return a == b
        case let (.tuple(a), .tuple(b)): return a == b
        case let (.dictionary(a), .dictionary(b)): return a == b
        case let (.object(a), .object(b)): return a === b
        default: return false
        }
    }
}

extension TemplateValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    /// `nil` is Python's `None`.
    public init(nilLiteral: ()) { self = .none }
    /// A boolean literal.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// An integer literal.
    public init(integerLiteral value: Int) { self = .int(value) }
    /// A floating-point literal.
    public init(floatLiteral value: Double) { self = .double(value) }
    /// A string literal.
    public init(stringLiteral value: String) { self = .string(value) }
    /// An array literal becomes a list.
    public init(arrayLiteral elements: TemplateValue...) { self = .list(elements) }
    /// A dictionary literal becomes an ordered dictionary, in the literal's order.
    public init(dictionaryLiteral elements: (String, TemplateValue)...) {
        self = .dictionary(OrderedDict(elements))
    }
}

extension TemplateValue {
    /// Wraps a Swift string.
    public init(_ value: String) { self = .string(value) }
    /// Wraps a Swift integer.
    public init(_ value: Int) { self = .int(value) }
    /// Wraps a Swift double.
    public init(_ value: Double) { self = .double(value) }
    /// Wraps a Swift boolean.
    public init(_ value: Bool) { self = .bool(value) }
    /// Wraps an optional string: `nil` becomes `none`.
    public init(_ value: String?) { self = value.map { .string($0) } ?? .none }

    /// Builds a dictionary from key/value pairs, keeping their order.
    public static func dictionary(_ pairs: [(String, TemplateValue)]) -> TemplateValue {
        .dictionary(OrderedDict(pairs))
    }

    /// A chat message `{"role": role, "content": content}`.
    public static func message(role: String, content: String) -> TemplateValue {
        .dictionary(OrderedDict([("role", .string(role)), ("content", .string(content))]))
    }

    /// The string payload, if this is a string.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// Whether this is `undefined`.
    public var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// Looks up a string key when this is a dictionary; `nil` otherwise or when absent.
    public subscript(key: String) -> TemplateValue? {
        if case .dictionary(let d) = self { return d[key] }
        return nil
    }
}

/// An insertion-ordered dictionary of template values, like a Python `dict`.
///
/// Keys are usually strings; numbers, booleans, `none` and tuples of those also work as keys
/// (with Python's rule that `1`, `1.0` and `True` are the same key).
public struct OrderedDict: Sendable, Sequence, ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral {
    /// One key/value entry.
    public typealias Element = (key: TemplateValue, value: TemplateValue)

    /// The entries in insertion order.
    public private(set) var entries: [Element] = []

    /// An empty dictionary.
    public init() {}

    /// A dictionary with string keys, in the given order (later duplicates replace values).
    public init(_ pairs: [(String, TemplateValue)]) {
        entries.reserveCapacity(pairs.count)
        for (k, v) in pairs { self[k] = v }
    }

    /// A dictionary with arbitrary keys, in the given order (later duplicates replace values).
    public init(entries pairs: [(TemplateValue, TemplateValue)]) {
        entries.reserveCapacity(pairs.count)
        for (k, v) in pairs { self[key: k] = v }
    }

    /// `["a": 1, "b": 2]` keeps the literal's order.
    public init(dictionaryLiteral elements: (String, TemplateValue)...) { self.init(elements) }

    /// `[("a", 1), ("b", 2)]` keeps the literal's order.
    public init(arrayLiteral elements: (String, TemplateValue)...) { self.init(elements) }

    /// Number of entries.
    public var count: Int { entries.count }
    /// Whether there are no entries.
    public var isEmpty: Bool { entries.isEmpty }
    /// The keys in insertion order.
    public var keys: [TemplateValue] { entries.map(\.key) }
    /// The values in insertion order.
    public var values: [TemplateValue] { entries.map(\.value) }

    /// Iterates the entries in insertion order.
    public func makeIterator() -> IndexingIterator<[Element]> { entries.makeIterator() }

    /// The value stored under a string key; setting `nil` removes the key.
    public subscript(key: String) -> TemplateValue? {
        get { self[key: .string(key)] }
        set { self[key: .string(key)] = newValue }
    }

    /// The value stored under any key; setting `nil` removes the key.
    public subscript(key key: TemplateValue) -> TemplateValue? {
        get { index(forKey: key).map { entries[$0].value } }
        set {
            if let i = index(forKey: key) {
                if let v = newValue { entries[i].value = v } else { entries.remove(at: i) }
            } else if let v = newValue {
                entries.append((key, v))
            }
        }
    }

    /// Position of a key, comparing keys the way Python dict lookup does.
    func index(forKey key: TemplateValue) -> Int? {
        if case .string(let s) = key {
            for (i, e) in entries.enumerated() {
                if case .string(let t) = e.key, t.utf8.elementsEqual(s.utf8) { return i }
            }
            return nil
        }
        for (i, e) in entries.enumerated() where PyOps.keysEqual(e.key, key) { return i }
        return nil
    }
}

extension OrderedDict: Equatable {
    /// Equal when both hold the same keys with equal values, in any order (Python dict equality).
    public static func == (lhs: OrderedDict, rhs: OrderedDict) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for e in lhs.entries {
            guard let v = rhs[key: e.key], v == e.value else { return false }
        }
        return true
    }
}

/// A runtime-only value a template creates while rendering: a `namespace(...)`, a macro, a
/// built-in function or method, the `loop` variable, or a generator / dict view / range. Its
/// contents are internal; it prints roughly as Python would (`<Namespace {...}>`, `<Macro 'name'>`).
public final class TemplateObject: @unchecked Sendable, CustomStringConvertible {
    enum Kind {
        case namespace
        case function(TemplateBuiltinFunction)
        case method(receiver: TemplateValue, name: String)
        case macro(TemplateMacroClosure)
        case loop(TemplateLoopState)
        case sequence(TemplateSequenceState)
    }

    let kind: Kind
    /// Attributes of a namespace (unused by the other kinds).
    var attributes = OrderedDict()

    init(_ kind: Kind) { self.kind = kind }

    /// A short Python-like description of the object.
    public var description: String { PyFormat.objectRepr(self) }
}
