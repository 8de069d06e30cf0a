import Foundation
import Torch

/// A building block with parameters: subclass it, store `Tensor` parameters, child `Module`s, arrays of modules and
/// `@Buffer` tensors as properties, and `Module` finds them by reflection with dotted names
/// (`layers.0.attn.q_proj.weight`). Use `@Key("q_proj")` on a property to give it a PyTorch / Hugging Face name, and
/// `@Key` (with or without a name) on every child that `replaceModule(at:with:)` should be able to swap.
///
/// Reflection runs once per instance: the children and the list of dotted tensor names are cached, and a cache is
/// dropped when a `@Key` or `@Buffer` property of a module it covers is assigned (which `replaceModule` does). A new
/// value assigned to a plain `var` property after the module was first traversed is therefore not seen; declare
/// such properties with `@Key` (children) or `@Buffer` (tensors). Changing a tensor's values or storage in place
/// (`copy_`, `setParameter`, `to(dtype:device:)`) keeps the same `Tensor` object and needs no invalidation.
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

    /// `namedChildren()` sorted into what traversals use, reflected again only after a `@Key` or `@Buffer` property
    /// of this module was assigned.
    final func children() -> [(name: String, child: Child)] { stampedChildren().children }

    private func stampedChildren() -> (children: [(name: String, child: Child)], stamps: [PropertyStamp]) {
        reflection.children {
            let stamps = propertyStorages().map(PropertyStamp.init)
            return (namedChildren().compactMap { name, raw in Child(raw).map { (name, $0) } }, stamps)
        }
    }

    /// The storages of this module's `@Key` and `@Buffer` properties.
    private func propertyStorages() -> [PropertyStorage] {
        var result: [PropertyStorage] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        while let m = mirror, m.subjectType != Module.self {
            for child in m.children { if let stored = child.value as? StoredProperty { result.append(stored.propertyStorage) } }
            mirror = m.superclassMirror
        }
        return result
    }

    /// Every parameter and buffer with its dotted name, a tensor held in two places once per place.
    final func namedTensors() -> [NamedTensor] {
        reflection.tensors {
            var result: [NamedTensor] = []
            var stamps: [PropertyStamp] = []
            collectTensors(prefix: "", into: &result, stamps: &stamps)
            return (result, stamps)
        }
    }

    private func collectTensors(prefix: String, into result: inout [NamedTensor], stamps: inout [PropertyStamp]) {
        let (children, own) = stampedChildren()
        stamps += own
        for (name, child) in children {
            let path = prefix.isEmpty ? name : "\(prefix).\(name)"
            switch child {
            case .tensor(let tensor): result.append(NamedTensor(name: path, tensor: tensor, isBuffer: false))
            case .buffer(let tensor): result.append(NamedTensor(name: path, tensor: tensor, isBuffer: true))
            case .module(let module): module.collectTensors(prefix: path, into: &result, stamps: &stamps)
            case .elements(let elements):
                for (i, element) in elements.enumerated() {
                    switch element {
                    case .module(let module): module.collectTensors(prefix: "\(path).\(i)", into: &result, stamps: &stamps)
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

/// What `@Key` and `@Buffer` wrappers share between their copies; `version` counts assignments, so a cache can tell
/// whether a property changed since it looked.
class PropertyStorage {
    var version = 0
}

/// The value a `@Key` or `@Buffer` property holds (nil until a named property without an initial value gets one).
final class PropertyBox<Value>: PropertyStorage {
    var value: Value? { didSet { version += 1 } }
    init(_ value: Value?) { self.value = value }
}

/// A `@Key` or `@Buffer` wrapper.
protocol StoredProperty {
    var propertyStorage: PropertyStorage { get }
}

/// A property storage and its version when a cache was filled.
struct PropertyStamp {
    let storage: PropertyStorage
    let version: Int

    init(_ storage: PropertyStorage) {
        self.storage = storage
        version = storage.version
    }

    var isCurrent: Bool { storage.version == version }
}

/// One module's reflection results, each with the stamps of the properties it depends on (for the tensor list, those
/// of every module below). Checking stamps is a pointer walk; reflecting is what the cache saves. Traversals may run
/// on several threads at once (PPO evaluates its policy and value halves in parallel), hence the lock.
final class ReflectionCache: @unchecked Sendable {
    typealias Children = [(name: String, child: Child)]
    private let lock = NSLock()
    private var cachedChildren: (children: Children, stamps: [PropertyStamp])?
    private var cachedTensors: (tensors: [NamedTensor], stamps: [PropertyStamp])?

    func children(_ compute: () -> (Children, [PropertyStamp])) -> (children: Children, stamps: [PropertyStamp]) {
        if let cached = lock.withLock({ cachedChildren }), cached.stamps.allSatisfy(\.isCurrent) { return cached }
        let (children, stamps) = compute()
        lock.withLock { cachedChildren = (children, stamps) }
        return (children, stamps)
    }

    func tensors(_ compute: () -> ([NamedTensor], [PropertyStamp])) -> [NamedTensor] {
        if let cached = lock.withLock({ cachedTensors }), cached.stamps.allSatisfy(\.isCurrent) { return cached.tensors }
        let (tensors, stamps) = compute()
        lock.withLock { cachedTensors = (tensors, stamps) }
        return tensors
    }
}

/// Why a state dict does not fit a module; each list names the offending keys.
public struct StateDictError: ProximaError, Equatable {
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

/// A module that maps one tensor to one tensor. Modules that also take a mask, positions or a cache (attention,
/// transformer blocks) conform to `ContextualLayer` instead.
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
///
/// A named property without an initial value is given one in `init`: `_qProj.wrappedValue = Linear(…)` before
/// `super.init()`, or `qProj = Linear(…)` after it. (An unnamed one takes `qProj = …` anywhere in `init`.) Reading
/// it before that stops the program with the property's name.
@propertyWrapper
public struct Key<Value>: KeyedProperty, ReplaceableProperty, StoredProperty {
    /// Shared storage, so that replacing the child through reflection (which only sees copies of the wrapper)
    /// changes what the property returns.
    let storage: PropertyBox<Value>
    /// The checkpoint name, or nil for the property's name.
    public let name: String?

    public init(wrappedValue: Value, _ name: String? = nil) {
        storage = PropertyBox(wrappedValue)
        self.name = name
    }

    /// A named property whose value `init` provides (see the type's documentation).
    public init(_ name: String) {
        storage = PropertyBox(nil)
        self.name = name
    }

    public var wrappedValue: Value {
        get {
            guard let value = storage.value else { preconditionFailure("@Key(\"\(name ?? "")\") property read before init gave it a value") }
            return value
        }
        nonmutating set { storage.value = newValue }
    }

    var key: String? { name }
    var propertyStorage: PropertyStorage { storage }
    /// The value, or nil while unset (traversals skip it).
    var anyValue: Any {
        if let value = storage.value { return value }
        return Optional<Value>.none as Any
    }

    func replace(with module: Module) -> String? {
        guard let value = module as? Value else { return "the property holds \(Value.self); a \(type(of: module)) is not one" }
        storage.value = value
        return nil
    }

    func replaceElement(at index: Int, with module: Module) -> String? {
        guard var elements = unwrapOptional(storage.value as Any) as? [Any], elements.indices.contains(index) else {
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
/// statistics: `@Buffer var runningMean: Tensor` or `@Buffer("running_mean") var runningMean: Tensor`. A named buffer
/// without an initial value is given one in `init` as `Key` describes.
@propertyWrapper
public struct Buffer: BufferProperty, StoredProperty {
    let storage: PropertyBox<Tensor>
    public let name: String?

    public init(wrappedValue: Tensor, _ name: String? = nil) {
        storage = PropertyBox(wrappedValue)
        self.name = name
    }

    /// A named buffer whose value `init` provides.
    public init(_ name: String) {
        storage = PropertyBox(nil)
        self.name = name
    }

    public var wrappedValue: Tensor {
        get {
            guard let value = storage.value else { preconditionFailure("@Buffer(\"\(name ?? "")\") read before init gave it a value") }
            return value
        }
        nonmutating set { storage.value = newValue }
    }

    var key: String? { name }
    var propertyStorage: PropertyStorage { storage }
    var anyTensor: Tensor? { storage.value }
}

/// The wrapped value of an `Optional`, nil for `.none`, the value itself when it is not optional.
func unwrapOptional(_ value: Any) -> Any? {
    let mirror = Mirror(reflecting: value)
    guard mirror.displayStyle == .optional else { return value }
    return mirror.children.first.map { unwrapOptional($0.value) } ?? nil
}
