import Foundation

/// A variable scope. Loop iterations, macro calls and generation blocks get their own child
/// scope, as in Jinja; `if` blocks do not.
final class TemplateScope {
    var vars: [String: TemplateValue] = [:]
    let parent: TemplateScope?

    init(parent: TemplateScope?) { self.parent = parent }

    func lookup(_ name: String) -> TemplateValue? {
        var s: TemplateScope? = self
        while let scope = s {
            if let v = scope.vars[name] { return v }
            s = scope.parent
        }
        return nil
    }
}

/// Globals transformers exposes to chat templates (plus Jinja's own `range` and `namespace`).
enum TemplateBuiltinFunction: String, CaseIterable {
    case raiseException = "raise_exception"
    case namespace
    case range
    case dict
    case strftimeNow = "strftime_now"

    var name: String { rawValue }
}

/// A macro together with the scope it was defined in.
final class TemplateMacroClosure {
    let definition: TemplateMacroDefinition
    /// Dropped when rendering ends, to break the reference cycle scope -> macro -> scope.
    var scope: TemplateScope?

    init(definition: TemplateMacroDefinition, scope: TemplateScope) {
        self.definition = definition
        self.scope = scope
    }
}

/// What `loop` exposes during one iteration.
final class TemplateLoopState {
    let items: [TemplateValue]
    let index0: Int

    init(items: [TemplateValue], index0: Int) {
        self.items = items
        self.index0 = index0
    }

    func attribute(_ name: String, owner: TemplateObject) throws -> TemplateValue {
        let n = items.count
        switch name {
        case "index": return .int(index0 + 1)
        case "index0": return .int(index0)
        case "revindex": return .int(n - index0)
        case "revindex0": return .int(n - index0 - 1)
        case "first": return .bool(index0 == 0)
        case "last": return .bool(index0 == n - 1)
        case "length": return .int(n)
        case "depth": return .int(1)
        case "depth0": return .int(0)
        case "previtem": return index0 > 0 ? items[index0 - 1] : .undefined
        case "nextitem": return index0 + 1 < n ? items[index0 + 1] : .undefined
        case "cycle": return .object(TemplateObject(.method(receiver: .object(owner), name: "cycle")))
        case "changed": throw TemplateFailure("loop.changed() is not supported")
        default: return .undefined
        }
    }
}

/// The lazy or view-like sequences Python hands to templates: what `map`/`select`/`unique`/
/// `items` return (single-use generators), `reverse` (a single-use iterator), `dict.keys()` /
/// `values()` / `items()` (views) and `range()`. They differ from lists in printing,
/// truthiness, `length` and indexing, and generators are exhausted once iterated.
final class TemplateSequenceState {
    enum Flavor: Equatable {
        case generator
        case reverseIterator(String)
        case dictKeys, dictValues, dictItems
        case range(start: Int, stop: Int, step: Int)
    }

    let flavor: Flavor
    let items: [TemplateValue]
    /// How far a generator or iterator has been consumed.
    var position = 0
    /// A generator whose computation failed raises only when iterated, as in Python.
    let deferredError: String?

    init(_ flavor: Flavor, _ items: [TemplateValue], deferredError: String? = nil) {
        self.flavor = flavor
        self.items = items
        self.deferredError = deferredError
    }

    var isIterator: Bool {
        switch flavor {
        case .generator, .reverseIterator: return true
        default: return false
        }
    }

    /// Items a loop would see now; consumes generators and iterators.
    func take() throws -> [TemplateValue] {
        if let deferredError { throw TemplateFailure(deferredError) }
        guard isIterator else { return items }
        let rest = Array(items[min(position, items.count)...])
        position = items.count
        return rest
    }

    /// The next item of a generator or iterator, consuming it.
    func next() throws -> TemplateValue? {
        if let deferredError { throw TemplateFailure(deferredError) }
        guard position < items.count else { return nil }
        defer { position += 1 }
        return items[position]
    }

    var typeName: String {
        switch flavor {
        case .generator: return "generator"
        case .reverseIterator(let name): return name
        case .dictKeys: return "dict_keys"
        case .dictValues: return "dict_values"
        case .dictItems: return "dict_items"
        case .range: return "range"
        }
    }

    static func make(_ flavor: Flavor, _ items: [TemplateValue]) -> TemplateValue {
        .object(TemplateObject(.sequence(TemplateSequenceState(flavor, items))))
    }

    /// A generator computed now; a failure is kept and raised when it is iterated.
    static func generator(_ compute: () throws -> [TemplateValue]) -> TemplateValue {
        do {
            return make(.generator, try compute())
        } catch let f as TemplateFailure {
            return .object(TemplateObject(.sequence(TemplateSequenceState(.generator, [], deferredError: f.message))))
        } catch {
            return .object(TemplateObject(.sequence(TemplateSequenceState(.generator, [], deferredError: "\(error)"))))
        }
    }
}

extension TemplateValue {
    /// The sequence state when this is a generator, iterator, dict view or range.
    var sequenceState: TemplateSequenceState? {
        if case .object(let o) = self, case .sequence(let s) = o.kind { return s }
        return nil
    }
}

/// Arguments of a call after evaluation.
struct TemplateArguments {
    var positional: [TemplateValue] = []
    var keywords: [(String, TemplateValue)] = []

    var isEmpty: Bool { positional.isEmpty && keywords.isEmpty }

    /// Binds to a Python-style signature: one slot per parameter, `nil` where not passed.
    /// The first `required` parameters must be given.
    func bind(_ function: String, _ params: [String], required: Int = 0, keywordsAllowed: Bool = true) throws
        -> [TemplateValue?]
    {
        if positional.count > params.count {
            throw TemplateFailure(
                "\(function)() takes at most \(params.count) argument\(params.count == 1 ? "" : "s") (\(positional.count) given)")
        }
        var slots = [TemplateValue?](repeating: nil, count: params.count)
        for (i, v) in positional.enumerated() { slots[i] = v }
        for (k, v) in keywords {
            guard keywordsAllowed, let i = params.firstIndex(of: k) else {
                throw TemplateFailure("\(function)() got an unexpected keyword argument '\(k)'")
            }
            if slots[i] != nil { throw TemplateFailure("\(function)() got multiple values for argument '\(k)'") }
            slots[i] = v
        }
        for i in 0..<min(required, params.count) where slots[i] == nil {
            throw TemplateFailure("\(function)() missing required argument '\(params[i])'")
        }
        return slots
    }

    func noArguments(_ function: String) throws {
        if !isEmpty { throw TemplateFailure("\(function)() takes no arguments") }
    }
}

/// Converters used by filters and methods.
enum TemplateArgConvert {
    static func int(_ v: TemplateValue?, _ what: String) throws -> Int? {
        guard let v else { return nil }
        switch v {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        case .none: return nil
        default: throw TemplateFailure("\(what) must be an integer, not \(PyFormat.typeName(v))")
        }
    }

    static func string(_ v: TemplateValue?, _ what: String) throws -> String? {
        guard let v else { return nil }
        switch v {
        case .string(let s): return s
        case .none: return nil
        default: throw TemplateFailure("\(what) must be a string, not \(PyFormat.typeName(v))")
        }
    }
}

/// `datetime.now().strftime(format)` as Python runs it on Linux: the C library's `strftime` on
/// local time in the "C" locale, with Python's own handling of `%f` (microseconds) and of `%z` /
/// `%Z` (empty for a naive datetime).
enum TemplateTimeFormat {
    static func now(_ format: String) throws -> String {
        if format.utf8.contains(0) { throw TemplateFailure("embedded null character") }
        var tv = timeval()
        gettimeofday(&tv, nil)
        var seconds = tv.tv_sec
        var parts = tm()
        localtime_r(&seconds, &parts)
        // Rewrite the directives Python handles itself before calling strftime.
        var rewritten = ""
        var scalars = format.unicodeScalars.makeIterator()
        while let c = scalars.next() {
            guard c == "%" else {
                rewritten.unicodeScalars.append(c)
                continue
            }
            guard let d = scalars.next() else {
                rewritten += "%"
                break
            }
            switch d {
            case "f":
                let micro = String(Int(tv.tv_usec))
                rewritten += String(repeating: "0", count: max(0, 6 - micro.count)) + micro
            case "z", "Z": break
            default:
                rewritten.unicodeScalars.append(c)
                rewritten.unicodeScalars.append(d)
            }
        }
        if rewritten.isEmpty { return "" }
        #if canImport(Darwin)
        let timeMask = LC_TIME_MASK
        #else
        let timeMask = Int32(1) << LC_TIME
        #endif
        let cLocale = newlocale(timeMask, "C", nil)
        defer { if let cLocale { freelocale(cLocale) } }
        var size = 256
        while size <= 1 << 20 {
            var buffer = [CChar](repeating: 0, count: size)
            let n: Int
            if let cLocale {
                n = strftime_l(&buffer, size, rewritten, &parts, cLocale)
            } else {
                n = strftime(&buffer, size, rewritten, &parts)
            }
            if n > 0 {
                return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            size *= 4
        }
        return ""
    }
}
