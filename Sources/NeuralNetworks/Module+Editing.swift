import Foundation
import Torch

/// A dotted path that does not lead where a module operation needs it to: the message names the path and says why.
public struct ModuleError: ProximaError, Equatable {
    /// The dotted path as given.
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "'\(path)': \(reason)" }
}

extension Module {
    // MARK: Finding and replacing children

    /// The child module at a dotted path (`layers.0.self_attn.q_proj`; array elements by index), or nil when the path
    /// leads nowhere or to a tensor. The empty path is the module itself.
    public func module(at path: String) -> Module? {
        if path.isEmpty { return self }
        return try? locate(path).module
    }

    /// Puts `module` where the dotted `path` points and returns the module it replaces. This is how adapters are
    /// inserted: `try model.replaceModule(at: "layers.0.self_attn.q_proj", with: LoRALinear(base: old))`.
    ///
    /// The last component must name a property declared with `@Key` (`@Key("q_proj") var qProj: Linear`), or an
    /// element of an array held in one (`@Key var layers: [DecoderLayer]`, path `layers.3`), and `module` must have the
    /// property's (or element's) type. Plain stored properties and children named by a `namedChildren()` override
    /// cannot be replaced: reflection can read them but not write them. Cached traversals see the new module at
    /// once. Optimizers hold tensors, not modules: create them after replacing.
    @discardableResult
    public func replaceModule(at path: String, with module: Module) throws -> Module {
        let location = try locate(path)
        guard let property = location.owner.replaceableProperty(named: location.name) else {
            throw ModuleError(path: path, reason: "\(type(of: location.owner)) holds '\(location.name)' in a plain stored property "
                + "(or names it in namedChildren()); declare the property with @Key to make it replaceable")
        }
        let failure: String?
        if let index = location.index {
            failure = property.replaceElement(at: index, with: module)
        } else {
            failure = property.replace(with: module)
        }
        if let failure { throw ModuleError(path: path, reason: failure) }
        return location.module
    }

    /// Where a dotted path ends: the module there, the module holding it, and the holder's child name (plus the index
    /// when the child is an array).
    private func locate(_ path: String) throws -> (owner: Module, name: String, index: Int?, module: Module) {
        let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !parts.contains("") else { throw ModuleError(path: path, reason: "not a dotted path (empty component)") }
        var owner: Module = self
        var walked: [String] = []
        var i = 0
        func here() -> String { walked.isEmpty ? "the model" : "'\(walked.joined(separator: "."))'" }
        while true {
            let name = parts[i]
            let children = owner.children()
            guard let child = children.first(where: { $0.name == name })?.child else {
                let names = children.map(\.name).joined(separator: ", ")
                throw ModuleError(path: path, reason: "\(here()) (\(type(of: owner))) has no child '\(name)'; its children are: \(names)")
            }
            walked.append(name)
            switch child {
            case .module(let module):
                if i == parts.count - 1 { return (owner, name, nil, module) }
                owner = module
                i += 1
            case .elements(let elements):
                guard i + 1 < parts.count else {
                    throw ModuleError(path: path, reason: "\(here()) is an array of \(elements.count) elements; add the index of one")
                }
                guard let index = Int(parts[i + 1]), elements.indices.contains(index) else {
                    throw ModuleError(path: path, reason: "\(here()) has \(elements.count) elements, no element '\(parts[i + 1])'")
                }
                walked.append(parts[i + 1])
                guard case .module(let module) = elements[index] else {
                    throw ModuleError(path: path, reason: "\(here()) is a tensor, not a module")
                }
                if i + 1 == parts.count - 1 { return (owner, name, index, module) }
                owner = module
                i += 2
            case .tensor, .buffer:
                throw ModuleError(path: path, reason: "\(here()) is a tensor, not a module")
            }
        }
    }

    /// The `@Key` property of this module that has checkpoint name `name`.
    private func replaceableProperty(named name: String) -> ReplaceableProperty? {
        var mirror: Mirror? = Mirror(reflecting: self)
        while let m = mirror, m.subjectType != Module.self {
            for child in m.children {
                guard let label = child.label, let property = child.value as? ReplaceableProperty else { continue }
                if (property.key ?? String(label.dropFirst())) == name { return property }
            }
            mirror = m.superclassMirror
        }
        return nil
    }

    // MARK: Assigning tensors by name

    /// Makes the parameter or buffer `name` hold `value`'s values, keeping the module's `Tensor` object (optimizers
    /// and fused layers that hold it see the new values) and its `requiresGrad`. When `value` already has the
    /// tensor's dtype and device, the tensor adopts its storage — no copy; the two then share memory, as after
    /// PyTorch's `param.data = value`. Otherwise `value` is converted once. Throws `ModuleError` naming the key when the
    /// module has no such tensor (suggesting the closest name) or the shapes differ.
    public func setParameter(_ name: String, to value: Tensor) throws {
        let own = namedTensors()
        guard let target = own.first(where: { $0.name == name })?.tensor else {
            var reason = "the model has no parameter or buffer of this name"
            if let closest = closestName(to: name, among: own.map(\.name)) { reason += " (closest: '\(closest)')" }
            throw ModuleError(path: name, reason: reason)
        }
        guard target.shape == value.shape else {
            throw ModuleError(path: name, reason: "a tensor of shape \(value.shape) was given; the model's has shape \(target.shape)")
        }
        Self.assign(value, to: target)
    }

    /// `setParameter` for many names at once. Every name and shape is checked before anything changes; a
    /// `StateDictError` lists all unknown names (as unexpected keys) and shape mismatches.
    public func update(parameters: [String: Tensor]) throws {
        var own: [String: Tensor] = [:]
        for entry in namedTensors() { own[entry.name] = entry.tensor }
        let unknown = parameters.keys.filter { own[$0] == nil }.sorted()
        let mismatched = parameters.compactMap { name, value -> String? in
            guard let target = own[name], target.shape != value.shape else { return nil }
            return "\(name) (model \(target.shape), given \(value.shape))"
        }.sorted()
        if !unknown.isEmpty || !mismatched.isEmpty {
            throw StateDictError(missing: [], unexpected: unknown, shapeMismatched: mismatched)
        }
        for (name, value) in parameters { Self.assign(value, to: own[name]!) }
    }

    /// Points `target` at `value`'s storage, converted to `target`'s dtype and device first when they differ.
    static func assign(_ value: Tensor, to target: Tensor) {
        let source = value.detach()
        let dtype = target.dtype, device = target.device
        target.setData(source.dtype == dtype && source.device == device ? source : source.to(dtype: dtype, device: device))
    }

    // MARK: Devices and dtypes

    /// Converts every parameter and buffer in place: floating-point tensors to `dtype` (integer and boolean buffers
    /// keep theirs, as in PyTorch), all of them to `device`; a nil argument leaves that property alone. Each `Tensor`
    /// object stays the same — its storage is replaced — so tied weights stay tied and code holding the tensors sees
    /// the change; gradients are converted with them. Optimizer state (moments) is not: create optimizers after
    /// `to`. Throws libtorch's explanation, before converting anything, when `device` cannot be used; a conversion
    /// that fails later (out of memory on the device) throws `TorchError` naming the tensor, and the tensors converted
    /// before it stay converted.
    public func to(dtype: DType? = nil, device: Device? = nil) throws {
        if let device { try device.checkAvailable() }
        var seen = Set<ObjectIdentifier>()
        for entry in namedTensors() where seen.insert(ObjectIdentifier(entry.tensor)).inserted {
            let tensor = entry.tensor
            let targetDType = tensor.dtype.isFloatingPoint ? dtype ?? tensor.dtype : tensor.dtype
            let targetDevice = device ?? tensor.device
            guard targetDType != tensor.dtype || targetDevice != tensor.device else { continue }
            let gradient = tensor.grad
            let (value, convertedGradient) = try catchingTorchErrors("converting '\(entry.name)' to \(targetDType) on \(targetDevice)") {
                (tensor.detach().to(dtype: targetDType, device: targetDevice), gradient?.to(dtype: targetDType, device: targetDevice))
            }
            tensor.setData(value)
            if let convertedGradient { tensor.grad = convertedGradient }
        }
    }
}

/// The candidate with the smallest edit distance to `name`, when it is close enough to be a plausible typo.
func closestName(to name: String, among candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1] + Array(repeating: 0, count: b.count)
            for (j, y) in b.enumerated() {
                current[j + 1] = Swift.min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
    let target = Array(name)
    let scored = candidates.map { ($0, distance(target, Array($0))) }
    guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= Swift.max(3, name.count / 3) else { return nil }
    return best.0
}
