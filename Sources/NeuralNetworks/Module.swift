import Foundation
import Torch

/// A building block with parameters: subclass it, store `Tensor` parameters, child `Module`s, arrays of modules and
/// `@Buffer` tensors as properties, and `Module` finds them by reflection with dotted names
/// (`layers.0.attn.q_proj.weight`). Use `@Key("q_proj")` on a property to give it a PyTorch / Hugging Face name, and
/// `@Key` (with or without a name) on every child that `replaceModule(at:with:)` should be able to swap.
///
/// Reflection runs once per instance: the children and the list of dotted tensor names are cached until the module
/// structure changes, which `replaceModule`, assignments to `@Key` and `@Buffer` properties and nothing else signal.
/// Assigning a new value to a plain `var` property after the module was first traversed is therefore not seen;
/// declare such properties with `@Key` (children) or `@Buffer` (tensors). Changing a tensor's values or storage in
/// place (`copy_`, `setParameter`, `to(dtype:device:)`) keeps the same `Tensor` object and needs no invalidation.
open class Module {
    /// Whether the module is in training mode (dropout active); see `train(_:)`.
    public private(set) var isTraining = true

    /// This instance's reflection results.
    let reflection = ReflectionCache()

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

    /// `namedChildren()` sorted into what traversals use, computed once per structure change.
    final func children() -> [(name: String, child: Child)] {
        reflection.children { namedChildren().compactMap { name, raw in Child(raw).map { (name, $0) } } }
    }

    /// Every parameter and buffer with its dotted name, a tensor held in two places once per place.
    final func namedTensors() -> [NamedTensor] {
        reflection.tensors {
            var result: [NamedTensor] = []
            collectTensors(prefix: "", into: &result)
            return result
        }
    }

    private func collectTensors(prefix: String, into result: inout [NamedTensor]) {
        for (name, child) in children() {
            let path = prefix.isEmpty ? name : "\(prefix).\(name)"
            switch child {
            case .tensor(let tensor): result.append(NamedTensor(name: path, tensor: tensor, isBuffer: false))
            case .buffer(let tensor): result.append(NamedTensor(name: path, tensor: tensor, isBuffer: true))
            case .module(let module): module.collectTensors(prefix: path, into: &result)
            case .elements(let elements):
                for (i, element) in elements.enumerated() {
                    switch element {
                    case .module(let module): module.collectTensors(prefix: "\(path).\(i)", into: &result)
                    case .tensor(let tensor): result.append(NamedTensor(name: "\(path).\(i)", tensor: tensor, isBuffer: false))
                    }
                }
            }
        }
    }

    /// Direct and indirect child modules with their dotted names.
    public func namedModules(prefix: String = "") -> [(String, Module)] {
        var result: [(String, Module)] = []
        for (name, child) in children() {
            let path = prefix.isEmpty ? name : "\(prefix).\(name)"
            switch child {
            case .module(let module):
                result.append((path, module))
                result += module.namedModules(prefix: path)
            case .elements(let elements):
                for (i, element) in elements.enumerated() {
                    if case .module(let module) = element {
                        result.append(("\(path).\(i)", module))
                        result += module.namedModules(prefix: "\(path).\(i)")
                    }
                }
            case .tensor, .buffer: continue
            }
        }
        return result
    }

    /// Parameters with dotted names, each tensor once (shared tensors keep their first name).
    public func namedParameters() -> [(String, Tensor)] {
        var seen = Set<ObjectIdentifier>()
        return namedTensors().compactMap { entry in
            !entry.isBuffer && seen.insert(ObjectIdentifier(entry.tensor)).inserted ? (entry.name, entry.tensor) : nil
        }
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
        for entry in namedTensors() { result[entry.name] = entry.tensor.detach() }
        return result
    }

    /// Copies values from `stateDict` into the module's own tensors (converting dtype). With `strict`, missing and
    /// unexpected names are errors; shape mismatches always are. The error lists every offending name.
    public func load(stateDict: [String: Tensor], strict: Bool = true) throws {
        var own: [String: Tensor] = [:]
        for entry in namedTensors() { own[entry.name] = entry.tensor }
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

/// One entry of `namedChildren()` as traversals see it (optionals unwrapped; values that hold no tensors dropped).
enum Child {
    case tensor(Tensor)
    case buffer(Tensor)
    case module(Module)
    case elements([Element])

    /// An array element that holds tensors.
    enum Element {
        case module(Module)
        case tensor(Tensor)
    }

    init?(_ raw: Any) {
        guard let value = unwrapOptional(raw) else { return nil }
        switch value {
        case let tensor as Tensor: self = .tensor(tensor)
        case let buffer as BufferProperty:
            guard let tensor = buffer.anyTensor else { return nil }
            self = .buffer(tensor)
        case let module as Module: self = .module(module)
        case let array as [Any]:
            self = .elements(array.compactMap { element in
                if let module = element as? Module { return .module(module) }
                if let tensor = element as? Tensor { return .tensor(tensor) }
                return nil
            })
        default: return nil
        }
    }
}

/// A parameter or buffer and its dotted name.
struct NamedTensor {
    let name: String
    let tensor: Tensor
    let isBuffer: Bool
}

/// Counts changes of module structure anywhere in the process; a cache filled at an older count is stale. Changes
/// (replacing a child) are rare next to traversals, so one global count is simpler than tracking parents.
enum ModuleStructure {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var count = 0

    static var generation: Int { lock.withLock { count } }

    static func changed() { lock.withLock { count += 1 } }
}

/// One module's reflection results and the structure generation each was computed at. Traversals may run on several
/// threads at once (PPO evaluates its policy and value halves in parallel), hence the lock.
final class ReflectionCache: @unchecked Sendable {
    private let lock = NSLock()
    private var cachedChildren: (generation: Int, value: [(name: String, child: Child)])?
    private var cachedTensors: (generation: Int, value: [NamedTensor])?

    func children(_ compute: () -> [(name: String, child: Child)]) -> [(name: String, child: Child)] {
        let generation = ModuleStructure.generation
        if let cached = lock.withLock({ cachedChildren }), cached.generation == generation { return cached.value }
        let value = compute()
        lock.withLock { cachedChildren = (generation, value) }
        return value
    }

    func tensors(_ compute: () -> [NamedTensor]) -> [NamedTensor] {
        let generation = ModuleStructure.generation
        if let cached = lock.withLock({ cachedTensors }), cached.generation == generation { return cached.value }
        let value = compute()
        lock.withLock { cachedTensors = (generation, value) }
        return value
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

/// A property whose value `Module.replaceModule(at:with:)` can swap.
protocol ReplaceableProperty {
    var key: String? { get }
    /// Replaces the value by `module`, or explains why it does not fit.
    func replace(with module: Module) -> String?
    /// Replaces element `index` of the array value by `module`, or explains why it does not fit.
    func replaceElement(at index: Int, with module: Module) -> String?
}

/// Marks a child module (or array of modules, or tensor) of a module: optionally with the name it has in PyTorch /
/// Hugging Face checkpoints (`@Key("q_proj") var qProj: Linear`), else with the property's own name
/// (`@Key var layers: [DecoderLayer]`). A child declared this way can be swapped by `replaceModule(at:with:)` — how
/// LoRA wraps a `Linear` — and assigning to the property is seen by the module's cached traversals.
@propertyWrapper
public struct Key<Value>: KeyedProperty, ReplaceableProperty {
    /// Shared storage, so that replacing the child through reflection (which only sees copies of the wrapper)
    /// changes what the property returns.
    final class Storage {
        var value: Value
        init(_ value: Value) { self.value = value }
    }

    let storage: Storage
    /// The checkpoint name, or nil for the property's name.
    public let name: String?

    public init(wrappedValue: Value, _ name: String? = nil) {
        storage = Storage(wrappedValue)
        self.name = name
    }

    public var wrappedValue: Value {
        get { storage.value }
        nonmutating set {
            storage.value = newValue
            ModuleStructure.changed()
        }
    }

    var key: String? { name }
    var anyValue: Any { storage.value }

    func replace(with module: Module) -> String? {
        guard let value = module as? Value else { return "the property holds \(Value.self); a \(type(of: module)) is not one" }
        storage.value = value
        return nil
    }

    func replaceElement(at index: Int, with module: Module) -> String? {
        guard var elements = unwrapOptional(storage.value) as? [Any], elements.indices.contains(index) else {
            return "the property does not hold an array with an element \(index)"
        }
        elements[index] = module
        guard let value = elements as? Value else { return "the property holds \(Value.self); a \(type(of: module)) cannot be an element" }
        storage.value = value
        return nil
    }
}

protocol BufferProperty {
    var key: String? { get }
    var anyTensor: Tensor? { get }
}

/// A tensor that belongs to the module's state (saved and loaded) but is not a trainable parameter, such as running
/// statistics: `@Buffer var runningMean: Tensor` or `@Buffer("running_mean") var runningMean: Tensor`.
@propertyWrapper
public struct Buffer: BufferProperty {
    final class Storage {
        var value: Tensor
        init(_ value: Tensor) { self.value = value }
    }

    let storage: Storage
    public let name: String?

    public init(wrappedValue: Tensor, _ name: String? = nil) {
        storage = Storage(wrappedValue)
        self.name = name
    }

    public var wrappedValue: Tensor {
        get { storage.value }
        nonmutating set {
            storage.value = newValue
            ModuleStructure.changed()
        }
    }

    var key: String? { name }
    var anyTensor: Tensor? { storage.value }
}

/// The wrapped value of an `Optional`, nil for `.none`, the value itself when it is not optional.
func unwrapOptional(_ value: Any) -> Any? {
    let mirror = Mirror(reflecting: value)
    guard mirror.displayStyle == .optional else { return value }
    return mirror.children.first.map { unwrapOptional($0.value) } ?? nil
}
