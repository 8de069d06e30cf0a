import Foundation
import Torch

/// A building block with parameters: subclass it, store `Tensor` parameters, child `Module`s, arrays of modules and
/// `@Buffer` tensors as properties, and `Module` finds them by reflection with dotted names
/// (`layers.0.attn.q_proj.weight`). Use `@Key("q_proj")` on a property to give it a PyTorch / Hugging Face name.
open class Module {
    /// Whether the module is in training mode (dropout active); see `train(_:)`.
    public private(set) var isTraining = true

    public init() {}

    /// The named children of this module: values are `Tensor`s (parameters), `Module`s, arrays of modules or
    /// tensors, and `Buffer`s. The default reflects over stored properties; override to name children yourself.
    open func namedChildren() -> [(String, Any)] {
        var result: [(String, Any)] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        var levels: [[(String, Any)]] = []
        while let m = mirror, m.subjectType != Module.self {
            var level: [(String, Any)] = []
            for child in m.children {
                guard let label = child.label else { continue }
                if let keyed = child.value as? KeyedProperty {
                    level.append((keyed.key ?? String(label.dropFirst()), keyed.anyValue))
                } else if let buffer = child.value as? BufferProperty {
                    level.append((buffer.key ?? String(label.dropFirst()), buffer))
                } else {
                    level.append((label, child.value))
                }
            }
            levels.append(level)
            mirror = m.superclassMirror
        }
        for level in levels.reversed() { result.append(contentsOf: level) }
        return result
    }

    /// Every (name, tensor) pair: parameters when `buffers` is false; parameters and buffers otherwise.
    func visit(prefix: String, includeBuffers: Bool, _ body: (String, Tensor, Bool) -> Void) {
        for (name, raw) in namedChildren() {
            guard let value = unwrapOptional(raw) else { continue }
            let path = prefix.isEmpty ? name : "\(prefix).\(name)"
            switch value {
            case let tensor as Tensor: body(path, tensor, false)
            case let buffer as BufferProperty:
                if includeBuffers, let tensor = buffer.anyTensor { body(path, tensor, true) }
            case let module as Module: module.visit(prefix: path, includeBuffers: includeBuffers, body)
            case let array as [Any]:
                for (i, element) in array.enumerated() {
                    if let module = element as? Module { module.visit(prefix: "\(path).\(i)", includeBuffers: includeBuffers, body) }
                    else if let tensor = element as? Tensor { body("\(path).\(i)", tensor, false) }
                }
            default: continue
            }
        }
    }

    /// Direct and indirect child modules with their dotted names.
    public func namedModules(prefix: String = "") -> [(String, Module)] {
        var result: [(String, Module)] = []
        for (name, raw) in namedChildren() {
            guard let value = unwrapOptional(raw) else { continue }
            let path = prefix.isEmpty ? name : "\(prefix).\(name)"
            if let module = value as? Module {
                result.append((path, module))
                result += module.namedModules(prefix: path)
            } else if let array = value as? [Any] {
                for (i, element) in array.enumerated() {
                    if let module = element as? Module {
                        result.append(("\(path).\(i)", module))
                        result += module.namedModules(prefix: "\(path).\(i)")
                    }
                }
            }
        }
        return result
    }

    /// Parameters with dotted names, each tensor once (shared tensors keep their first name).
    public func namedParameters() -> [(String, Tensor)] {
        var seen = Set<ObjectIdentifier>()
        var result: [(String, Tensor)] = []
        visit(prefix: "", includeBuffers: false) { name, tensor, _ in
            if seen.insert(ObjectIdentifier(tensor)).inserted { result.append((name, tensor)) }
        }
        return result
    }

    /// All parameters (each once), in a stable order.
    public func parameters() -> [Tensor] { namedParameters().map(\.1) }

    /// Parameters that require gradients (not frozen).
    public func trainableParameters() -> [Tensor] { parameters().filter(\.requiresGrad) }

    /// Number of scalar parameters (trainable only when `trainableOnly`).
    public func parameterCount(trainableOnly: Bool = false) -> Int {
        (trainableOnly ? trainableParameters() : parameters()).reduce(0) { $0 + $1.count }
    }

    /// Stops gradients to every parameter (or only those whose name starts with one of `prefixes`).
    public func freeze(_ prefixes: [String] = []) { setRequiresGrad(false, prefixes) }

    /// Re-enables gradients (or only for names starting with one of `prefixes`).
    public func unfreeze(_ prefixes: [String] = []) { setRequiresGrad(true, prefixes) }

    private func setRequiresGrad(_ flag: Bool, _ prefixes: [String]) {
        for (name, p) in namedParameters() where prefixes.isEmpty || prefixes.contains(where: { name == $0 || name.hasPrefix($0 + ".") }) {
            p.requiresGrad = flag
        }
    }

    /// Switches training mode (dropout on) or evaluation mode (off) for this module and all children.
    public func train(_ training: Bool = true) {
        isTraining = training
        for (_, module) in namedModules() { module.isTraining = training }
    }

    /// Evaluation mode: `train(false)`.
    public func eval() { train(false) }

    /// Parameters and buffers by dotted name (sharing storage with the module; detach or clone to keep a copy).
    public func stateDict() -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        visit(prefix: "", includeBuffers: true) { name, tensor, _ in result[name] = tensor.detach() }
        return result
    }

    /// Copies values from `stateDict` into the module's own tensors (converting dtype). With `strict`, missing and
    /// unexpected names are errors; shape mismatches always are. The error lists every offending name.
    public func load(stateDict: [String: Tensor], strict: Bool = true) throws {
        var own: [String: Tensor] = [:]
        visit(prefix: "", includeBuffers: true) { name, tensor, _ in own[name] = tensor }
        let missing = own.keys.filter { stateDict[$0] == nil }.sorted()
        let unexpected = stateDict.keys.filter { own[$0] == nil }.sorted()
        let mismatched = own.compactMap { name, tensor -> String? in
            guard let other = stateDict[name], other.shape != tensor.shape else { return nil }
            return "\(name) (model \(tensor.shape), given \(other.shape))"
        }.sorted()
        if !mismatched.isEmpty || (strict && (!missing.isEmpty || !unexpected.isEmpty)) {
            throw StateDictError(missing: strict ? missing : [], unexpected: strict ? unexpected : [], shapeMismatched: mismatched)
        }
        withNoGrad {
            for (name, tensor) in own { if let value = stateDict[name] { tensor.copy_(value) } }
        }
    }
}

/// Why a state dict does not fit a module; each list names the offending keys.
public struct StateDictError: Error, CustomStringConvertible, Equatable {
    public var missing: [String]
    public var unexpected: [String]
    public var shapeMismatched: [String]

    public var description: String {
        var parts: [String] = []
        if !missing.isEmpty { parts.append("missing keys: \(missing.joined(separator: ", "))") }
        if !unexpected.isEmpty { parts.append("unexpected keys: \(unexpected.joined(separator: ", "))") }
        if !shapeMismatched.isEmpty { parts.append("shape mismatches: \(shapeMismatched.joined(separator: ", "))") }
        return "state dict does not fit the model: " + parts.joined(separator: "; ")
    }
}

/// A module that maps one tensor to one tensor.
public protocol Layer: Module {
    func callAsFunction(_ x: Tensor) -> Tensor
}

protocol KeyedProperty {
    var key: String? { get }
    var anyValue: Any { get }
}

/// Gives a module property the name it has in PyTorch / Hugging Face checkpoints: `@Key("q_proj") var qProj: Linear`.
@propertyWrapper
public struct Key<Value>: KeyedProperty {
    public var wrappedValue: Value
    public let name: String

    public init(wrappedValue: Value, _ name: String) {
        self.wrappedValue = wrappedValue
        self.name = name
    }

    var key: String? { name }
    var anyValue: Any { wrappedValue }
}

protocol BufferProperty {
    var key: String? { get }
    var anyTensor: Tensor? { get }
}

/// A tensor that belongs to the module's state (saved and loaded) but is not a trainable parameter, such as running
/// statistics: `@Buffer var runningMean: Tensor` or `@Buffer("running_mean") var runningMean: Tensor`.
@propertyWrapper
public struct Buffer: BufferProperty {
    public var wrappedValue: Tensor
    public let name: String?

    public init(wrappedValue: Tensor, _ name: String? = nil) {
        self.wrappedValue = wrappedValue
        self.name = name
    }

    var key: String? { name }
    var anyTensor: Tensor? { wrappedValue }
}

/// The wrapped value of an `Optional`, nil for `.none`, the value itself when it is not optional.
func unwrapOptional(_ value: Any) -> Any? {
    let mirror = Mirror(reflecting: value)
    guard mirror.displayStyle == .optional else { return value }
    return mirror.children.first.map { unwrapOptional($0.value) } ?? nil
}
