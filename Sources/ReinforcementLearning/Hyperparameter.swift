import Foundation
import NeuralNetworks
import Yams

/// One hyperparameter as files and `--set` spell it (Stable-Baselines3 / RL Zoo's key), bound to a property of a
/// configuration. Each configuration lists its hyperparameters once, in one table; reading YAML/JSON files, `--set`,
/// writing `config.json` and the list of known keys all go through that table.
public struct Hyperparameter<Configuration> {
    public let key: String
    /// The value as JSON writes it (NSNull for an unset optional).
    let read: (Configuration) -> Any
    /// Parses a value (from YAML, JSON or the command line) into the property; `fail(expected)` makes the error.
    let write: (inout Configuration, Any, _ fail: HyperparameterFailure) throws -> Void

    public init(key: String, read: @escaping (Configuration) -> Any,
                write: @escaping (inout Configuration, Any, _ fail: HyperparameterFailure) throws -> Void) {
        self.key = key
        self.read = read
        self.write = write
    }

    public static func integer(_ key: String, _ path: WritableKeyPath<Configuration, Int>) -> Self {
        Self(key: key, read: { $0[keyPath: path] }) { c, v, fail in c[keyPath: path] = try integerValue(v, fail) }
    }

    public static func seed(_ key: String, _ path: WritableKeyPath<Configuration, UInt64>) -> Self {
        Self(key: key, read: { $0[keyPath: path] }) { c, v, fail in
            if type(of: v) == UInt64.self { c[keyPath: path] = v as! UInt64; return }
            if let n = v as? NSNumber, String(cString: n.objCType) == "Q" { c[keyPath: path] = n.uint64Value; return }
            let i = try integerValue(v, fail)
            guard i >= 0 else { throw fail("an integer from 0 to 2^64 − 1") }
            c[keyPath: path] = UInt64(i)
        }
    }

    public static func number(_ key: String, _ path: WritableKeyPath<Configuration, Double>) -> Self {
        Self(key: key, read: { $0[keyPath: path] }) { c, v, fail in c[keyPath: path] = try finiteValue(v, fail) }
    }

    public static func optionalNumber(_ key: String, _ path: WritableKeyPath<Configuration, Double?>) -> Self {
        Self(key: key, read: { c -> Any in c[keyPath: path].map { $0 as Any } ?? NSNull() }) { c, v, fail in
            if isNull(v) { c[keyPath: path] = nil; return }
            guard numberValue(v) != nil else { throw fail("a number or null") }
            c[keyPath: path] = try finiteValue(v, fail)
        }
    }

    public static func boolean(_ key: String, _ path: WritableKeyPath<Configuration, Bool>) -> Self {
        Self(key: key, read: { $0[keyPath: path] }) { c, v, fail in
            if let b = v as? Bool { c[keyPath: path] = b; return }
            guard let s = v as? String, let b = ["true": true, "false": false, "True": true, "False": false][s] else {
                throw fail("true or false")
            }
            c[keyPath: path] = b
        }
    }

    public static func scheduled(_ key: String, _ path: WritableKeyPath<Configuration, ScheduledValue>) -> Self {
        Self(key: key, read: { c in
            let v = c[keyPath: path]
            return v.schedule == .constant ? v.base as Any : v.description
        }) { c, v, fail in
            if numberValue(v) != nil { c[keyPath: path] = ScheduledValue(try finiteValue(v, fail)); return }
            guard let s = v as? String, let value = ScheduledValue(text: s) else { throw fail("a number or lin_<number>") }
            guard value.base.isFinite else { throw fail("a finite number or lin_<finite number>") }
            c[keyPath: path] = value
        }
    }

    public static func choice<Value: RawRepresentable & CaseIterable>(_ key: String, _ path: WritableKeyPath<Configuration, Value>) -> Self
    where Value.RawValue == String {
        Self(key: key, read: { $0[keyPath: path].rawValue }) { c, v, fail in
            guard let s = v as? String, let value = Value(rawValue: s) else {
                throw fail("one of \(Value.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            c[keyPath: path] = value
        }
    }

    /// Stable-Baselines3's `policy_kwargs` mapping.
    public static func policyOptions(_ key: String, _ path: WritableKeyPath<Configuration, PolicyOptions>) -> Self {
        Self(key: key, read: { $0[keyPath: path].settings }) { c, v, fail in
            guard let map = v as? [String: Any] else { throw fail("a mapping of \(PolicyOptions.keys.joined(separator: ", "))") }
            for (k, value) in map { try c[keyPath: path].set(k, value, fail: fail) }
        }
    }
}

extension Array {
    /// Applies `value` to the hyperparameter named `key`; the error names `source` and, for an unknown key, the closest
    /// known one.
    func apply<C>(_ key: String, _ value: Any, to configuration: inout C, source: String) throws where Element == Hyperparameter<C> {
        guard let parameter = first(where: { $0.key == key }) else {
            throw ConfigurationError("\(source): unknown key '\(key)'\(suggestion(key, map(\.key)))")
        }
        try parameter.write(&configuration, value, HyperparameterFailure(source: source, key: key, value: value))
    }
}

/// Makes the error for a value a hyperparameter cannot take, naming where it came from.
public struct HyperparameterFailure {
    let source: String
    let key: String
    let value: Any

    /// "<source>: <key> expects <expected>, got <value>".
    public func callAsFunction(_ expected: String) -> ConfigurationError {
        ConfigurationError("\(source): \(key) expects \(expected), got \(String(describing: value))")
    }

    /// The failure for the entry `name` of this hyperparameter's mapping or list (`policy_kwargs.net_arch`).
    func nested(_ name: String, value: Any) -> HyperparameterFailure {
        HyperparameterFailure(source: source, key: "\(key).\(name)", value: value)
    }

    /// "<source>: unknown key '<key>.<name>'" with the closest known name.
    func unknown(_ name: String, among known: [String]) -> ConfigurationError {
        ConfigurationError("\(source): unknown key '\(key).\(name)'\(suggestion(name, known))")
    }
}

extension PolicyOptions {
    /// The `policy_kwargs` keys (those of `settings`, the one place they are listed besides `set`).
    static var keys: [String] { PolicyOptions().settings.keys.sorted() }

    /// The options as `policy_kwargs` writes them (files, `config.json`, saved policies).
    var settings: [String: Any] {
        ["net_arch": netArch, "activation_fn": activation.rawValue, "ortho_init": orthoInit, "log_std_init": logStdInit,
         "share_features_extractor": sharedTrunk, "use_sde": useSDE, "full_std": stateDependentExploration.fullStd,
         "use_expln": stateDependentExploration.useExpln, "squash_output": stateDependentExploration.squashOutput,
         "learn_features": stateDependentExploration.learnFeatures]
    }

    mutating func set(_ key: String, _ value: Any, fail: HyperparameterFailure) throws {
        switch key {
        case "net_arch":
            guard let list = value as? [Any] else { throw fail("net_arch as a list of integers") }
            netArch = try list.map { try integerValue($0, fail.nested("net_arch", value: $0)) }
        case "activation_fn":
            let name = (value as? String ?? "").lowercased().replacingOccurrences(of: "nn.", with: "").replacingOccurrences(of: "th.", with: "")
            guard let kind = ActivationKind(rawValue: name) else { throw fail("activation_fn one of \(ActivationKind.allCases.map(\.rawValue))") }
            activation = kind
        case "ortho_init":
            guard let b = value as? Bool else { throw fail("ortho_init true or false") }
            orthoInit = b
        case "log_std_init":
            logStdInit = try finiteValue(value, fail.nested("log_std_init", value: value))
        case "share_features_extractor":
            guard let b = value as? Bool else { throw fail("share_features_extractor true or false") }
            sharedTrunk = b
        case "use_sde", "full_std", "use_expln", "squash_output", "learn_features":
            guard let b = value as? Bool else { throw fail("\(key) true or false") }
            switch key {
            case "use_sde": useSDE = b
            case "full_std": stateDependentExploration.fullStd = b
            case "use_expln": stateDependentExploration.useExpln = b
            case "squash_output": stateDependentExploration.squashOutput = b
            default: stateDependentExploration.learnFeatures = b
            }
        default:
            throw fail.unknown(key, among: Self.keys)
        }
    }
}

// MARK: Values from YAML, JSON and the command line

/// The deepest nesting a settings text may have. Hyperparameter files nest three levels (environment, key,
/// `policy_kwargs`); the YAML and JSON parsers recurse per level, so a hostile file nested thousands deep would
/// overflow the stack instead of failing.
let maximumNesting = 64

/// Refuses `text` (YAML or JSON) when brackets or block indentation nest deeper than `maximumNesting`.
func checkNesting(_ text: String, source: String) throws {
    var depth = 0, deepest = 0, quote: Character?
    var lineStart = true, indentation = 0, deepestIndentation = 0
    for c in text {
        if c == "\n" {
            lineStart = true
            indentation = 0
            continue
        }
        if lineStart {
            if c == " " || c == "-" { indentation += 1; continue }
            lineStart = false
            deepestIndentation = Swift.max(deepestIndentation, indentation)
        }
        if let q = quote {
            if c == q { quote = nil }
            continue
        }
        switch c {
        case "\"", "'": quote = c
        case "[", "{": depth += 1; deepest = Swift.max(deepest, depth)
        case "]", "}": depth -= 1
        default: break
        }
    }
    // Each block level indents by at least one column; allow generous indentation per level.
    if deepest > maximumNesting || deepestIndentation > maximumNesting * 8 {
        throw ConfigurationError("\(source): nested deeper than \(maximumNesting) levels")
    }
}

/// Converts a YAML node into plain Swift values (numbers as Double, booleans, strings, arrays, dictionaries, NSNull).
func plain(_ node: Node) -> Any {
    switch node {
    case .scalar(let s):
        if s.tag.description.hasSuffix(":null") || ["null", "~", "None", ""].contains(s.string) && s.style == .plain { return NSNull() }
        if s.style == .plain {
            if let b = ["true": true, "false": false, "True": true, "False": false][s.string] { return b }
            // Integers stay integers (a Double would round those above 2^53); other numbers are Doubles.
            if let i = Int(s.string) { return i }
            if let u = UInt64(s.string) { return u }
            if let d = Double(s.string) { return d }
        } else if s.tag.description.hasSuffix(":float"), let d = Double(s.string) {
            return d
        }
        return s.string
    case .mapping(let m): return Dictionary(m.map { ($0.key.string ?? "", plain($0.value)) }, uniquingKeysWith: { $1 })
    case .sequence(let seq): return seq.map(plain)
    }
}

func numberValue(_ value: Any) -> Double? {
    // Booleans are not numbers. (Foundation on Linux lets any NSNumber, even 0 from JSON, cast to Bool, so JSON's
    // booleans are told apart by their class.)
    if type(of: value) == Bool.self { return nil }
    if let n = value as? NSNumber {
        return String(describing: type(of: n)).contains("Boolean") ? nil : n.doubleValue
    }
    if let d = value as? Double { return d }
    if let i = value as? Int { return Double(i) }
    if let u = value as? UInt64 { return Double(u) }
    if let s = value as? String { return Double(s) }
    return nil
}

/// An integer from YAML, JSON or the command line: integers as they are, and integral floats such as RL Zoo's
/// `!!float 1e5` when they are exactly representable (|x| ≤ 2^53).
func integerValue(_ value: Any, _ fail: HyperparameterFailure) throws -> Int {
    if type(of: value) == Int.self { return value as! Int }
    if type(of: value) == UInt64.self {
        guard let i = Int(exactly: value as! UInt64) else { throw fail("an integer below 2^63") }
        return i
    }
    if let n = value as? NSNumber, !String(describing: type(of: n)).contains("Boolean"),
       String(cString: n.objCType) != "d", String(cString: n.objCType) != "f" {
        if String(cString: n.objCType) == "Q", n.uint64Value > UInt64(Int.max) { throw fail("an integer below 2^63") }
        return n.intValue
    }
    guard let d = numberValue(value), d.isFinite, d == d.rounded() else { throw fail("an integer") }
    guard Swift.abs(d) <= 9_007_199_254_740_992, let i = Int(exactly: d) else {
        throw fail("an integer (write integers above 2^53 without a decimal point or exponent)")
    }
    return i
}

/// A finite number (NaN and infinities are refused: no hyperparameter means anything with them).
func finiteValue(_ value: Any, _ fail: HyperparameterFailure) throws -> Double {
    guard let d = numberValue(value) else { throw fail("a number") }
    guard d.isFinite else { throw fail("a finite number") }
    return d
}

func isNull(_ value: Any) -> Bool { value is NSNull || (value as? String).map { ["null", "None", "~"].contains($0) } == true }

/// " (did you mean 'x'?)" for the closest known key within a small edit distance.
func suggestion(_ key: String, _ candidates: [String]) -> String {
    let best = candidates.map { ($0, editDistance(key, $0)) }.min { $0.1 < $1.1 }
    guard let (candidate, distance) = best, distance <= Swift.max(2, key.count / 3) else { return "" }
    return " (did you mean '\(candidate)'?)"
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var previous = Array(0...b.count)
    for i in 1...Swift.max(1, a.count) where !a.isEmpty {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...Swift.max(1, b.count) where !b.isEmpty {
            current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return a.isEmpty ? b.count : previous[b.count]
}
