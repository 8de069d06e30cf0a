import Foundation
import NeuralNetworks
import Torch

// LoRA (Hu et al., 2021) in PEFT's format: a frozen projection W plus a trainable low-rank update, y = W x + s·B A x
// with A [r, in], B [out, r] and s = α / r (α / √r with rsLoRA). Adapters replace the model's projection modules in
// place (`Module.replaceModule`), share the base weights (no copy), and can be disabled — the same weights then
// compute the base model, which is how a reference model costs no second copy — merged into W and unmerged.

/// The low-rank factors of one adapted projection, with PEFT's names (`lora_A.weight`, `lora_B.weight`).
public final class LoRAFactor: Module {
    public let weight: Tensor
    init(_ weight: Tensor) {
        self.weight = weight
        super.init()
    }
}

/// What a LoRA-adapted projection adds to its base.
public protocol LoRAAdapted: Module {
    var loraA: LoRAFactor { get }
    var loraB: LoRAFactor { get }
    /// α / r, or α / √r with rsLoRA.
    var scale: Double { get }
    /// When false the module computes its base projection only.
    var isAdapterEnabled: Bool { get set }
    /// Whether the update is currently folded into the base weight.
    var isMerged: Bool { get }
    /// PEFT's `lora_dropout`: dropout on the update's input while the module is training.
    var dropout: Double { get set }
    /// Draws the dropout masks (the global generator when nil).
    var dropoutGenerator: Generator? { get set }
    func merge()
    func unmerge()
}

extension LoRAAdapted {
    /// s·B A x for input x [..., in] (x after dropout while training).
    func update(_ x: Tensor) -> Tensor {
        let input = dropout > 0 && isTraining ? x.dropout(dropout, training: true, generator: dropoutGenerator) : x
        return input.linear(weight: loraA.weight).linear(weight: loraB.weight) * scale
    }
    /// s·B A, [out, in].
    func delta() -> Tensor { loraB.weight.matmul(loraA.weight) * scale }

    /// The adapted output for input x: `base()` alone when the adapter is off or merged; else base plus update, in
    /// one fused call (`LoRAFusedUpdate`, over `weight` [out, in] and `bias`) unless dropout applies.
    func adaptedOutput(_ x: Tensor, weight: Tensor, bias: Tensor?, base: () -> Tensor) -> Tensor {
        guard isAdapterEnabled && !isMerged else { return base() }
        if LoRAFusedUpdate.isEnabled && (dropout == 0 || !isTraining) {
            LoRAFusedUpdate.record()
            return x.loraLinear(weight: weight, bias: bias, a: loraA.weight, b: loraB.weight, scale: scale)
        }
        return base() + update(x)
    }

    /// The base projection's gradient surrogate (`base`, see `Linear.gradientSurrogate`) plus ⟨g, update(input)⟩ while
    /// the adapter is active: the update is cheap, so it is computed as in the forward pass and gives the factors and
    /// the input their share.
    func adaptedSurrogate(base: Tensor, _ input: Tensor, outputGradient g: Tensor) -> Tensor {
        isAdapterEnabled && !isMerged ? base + (g * update(input)).sum() : base
    }

    /// Adds (sign 1) or subtracts (−1) the update to a base weight stored [out, in], or [in, out] when `transposed`.
    func fold(into weight: Tensor, transposed: Bool, sign: Double) {
        withNoGrad {
            let update = delta()
            weight.add_((transposed ? update.transposed(0, 1) : update).to(dtype: weight.dtype), alpha: sign)
        }
    }
}

/// α / r, or α / √r with rsLoRA.
func loraScale(alpha: Double, rank: Int, rsLoRA: Bool) -> Double {
    precondition(rank > 0, "LoRA rank must be positive, got \(rank)")
    return rsLoRA ? alpha / Double(rank).squareRoot() : alpha / Double(rank)
}

/// New factors for a projection: A uniform as PyTorch's default Linear initialisation (PEFT's Kaiming-uniform with
/// a = √5), drawn from `generator` (libtorch's global one when nil), B zero — so a new adapter starts as the identity
/// update.
func makeFactors(rank: Int, inputSize: Int, outputSize: Int, dtype: DType, generator: Generator?) -> (LoRAFactor, LoRAFactor) {
    let a = Tensor.empty([rank, inputSize], dtype: dtype)
    let bound = 1 / Double(inputSize).squareRoot()
    Initializer.uniform(low: -bound, high: bound).apply(to: a, generator: generator)
    return (LoRAFactor(a.requiringGrad()), LoRAFactor(Tensor.zeros([outputSize, rank], dtype: dtype).requiringGrad()))
}

/// The fused LoRA projection (`Tensor.loraLinear`) that `LoRALinear` uses when no dropout applies: a switch, and a
/// counter that shows it ran. Off, the update is computed as its own two products, scaled and added (the plain path,
/// same values to rounding; tested). GPT-2's `LoRAConv1D` uses it too.
public enum LoRAFusedUpdate {
    /// Whether `LoRALinear` and `LoRAConv1D` compute base and update in one fused call (default true).
    nonisolated(unsafe) public static var isEnabled = true
    /// Fused calls in this process.
    nonisolated(unsafe) public private(set) static var calls = 0

    static func record() { calls += 1 }
}

/// A `Linear` with a LoRA update.
public final class LoRALinear: Linear, LoRAAdapted {
    @Key("lora_A") public var loraA: LoRAFactor
    @Key("lora_B") public var loraB: LoRAFactor
    public let scale: Double
    public var isAdapterEnabled = true
    public private(set) var isMerged = false
    public var dropout = 0.0
    public var dropoutGenerator: Generator?

    /// Wraps `base` (its tensors shared, frozen) with new factors of rank `rank`, A drawn from `generator` (the
    /// global generator when nil).
    public init(wrapping base: Linear, rank: Int, alpha: Double, rsLoRA: Bool = false, generator: Generator? = nil) {
        scale = loraScale(alpha: alpha, rank: rank, rsLoRA: rsLoRA)
        let (a, b) = makeFactors(rank: rank, inputSize: base.inputSize, outputSize: base.outputSize, dtype: base.weight.dtype,
                                 generator: generator)
        _loraA.wrappedValue = a
        _loraB.wrappedValue = b
        super.init(weight: base.weight, bias: base.bias)
        weight.requiresGrad = false
        bias?.requiresGrad = false
    }

    public override func callAsFunction(_ x: Tensor) -> Tensor {
        adaptedOutput(x, weight: weight, bias: bias) { super.callAsFunction(x) }
    }

    public override func gradientSurrogate(_ input: Tensor, outputGradient g: Tensor) -> Tensor {
        adaptedSurrogate(base: super.gradientSurrogate(input, outputGradient: g), input, outputGradient: g)
    }

    public func merge() {
        guard !isMerged else { return }
        fold(into: weight, transposed: false, sign: 1)
        isMerged = true
    }

    public func unmerge() {
        guard isMerged else { return }
        fold(into: weight, transposed: false, sign: -1)
        isMerged = false
    }
}

/// GPT-2's `Conv1D` with a LoRA update (PEFT's `fan_in_fan_out`: the base weight is stored [in, out], the factors
/// as for a Linear).
public final class LoRAConv1D: Conv1D, LoRAAdapted {
    @Key("lora_A") public var loraA: LoRAFactor
    @Key("lora_B") public var loraB: LoRAFactor
    public let scale: Double
    public var isAdapterEnabled = true
    public private(set) var isMerged = false
    public var dropout = 0.0
    public var dropoutGenerator: Generator?

    /// Wraps `base` (its tensors shared, frozen) with new factors of rank `rank`, A drawn from `generator` (the
    /// global generator when nil).
    public init(wrapping base: Conv1D, rank: Int, alpha: Double, rsLoRA: Bool = false, generator: Generator? = nil) {
        scale = loraScale(alpha: alpha, rank: rank, rsLoRA: rsLoRA)
        let (a, b) = makeFactors(rank: rank, inputSize: base.inputSize, outputSize: base.outputSize, dtype: base.weight.dtype,
                                 generator: generator)
        _loraA.wrappedValue = a
        _loraB.wrappedValue = b
        super.init(weight: base.weight, bias: base.bias)
        weight.requiresGrad = false
        bias.requiresGrad = false
    }

    public override func callAsFunction(_ x: Tensor) -> Tensor {
        adaptedOutput(x, weight: weight.transposed(0, 1), bias: bias) { super.callAsFunction(x) }
    }

    public override func gradientSurrogate(_ input: Tensor, outputGradient g: Tensor) -> Tensor {
        adaptedSurrogate(base: super.gradientSurrogate(input, outputGradient: g), input, outputGradient: g)
    }

    public func merge() {
        guard !isMerged else { return }
        fold(into: weight, transposed: true, sign: 1)
        isMerged = true
    }

    public func unmerge() {
        guard isMerged else { return }
        fold(into: weight, transposed: true, sign: -1)
        isMerged = false
    }
}

/// A PEFT LoRA configuration (`adapter_config.json`): rank, α, which modules, rsLoRA.
public struct LoRAConfiguration: Sendable, Equatable {
    public enum Targets: Sendable, Equatable {
        /// Module names: a module is adapted when its dotted path equals one or ends with "." + one.
        case names([String])
        /// A regular expression the whole dotted path must match.
        case pattern(String)
    }
    public var rank: Int
    public var alpha: Double
    public var targets: Targets
    public var dropout: Double = 0
    public var rsLoRA = false
    public var fanInFanOut = false

    public init(rank: Int, alpha: Double, targets: Targets, rsLoRA: Bool = false) {
        self.rank = rank
        self.alpha = alpha
        self.targets = targets
        self.rsLoRA = rsLoRA
    }

    /// Reads `adapter_config.json` of an adapter directory.
    public init(directory: URL) throws {
        let file = try ConfigurationFile(directory.appendingPathComponent("adapter_config.json"))
        if let type = try file.optionalString("peft_type"), type != "LORA" {
            throw ModelLoadingError("\(file.path): peft_type '\(type)' is not supported (supported: LORA)")
        }
        rank = try file.int("r", in: 1...65_536)
        alpha = try file.optionalDouble("lora_alpha") ?? 8
        dropout = try file.optionalDouble("lora_dropout") ?? 0
        rsLoRA = try file.optionalBool("use_rslora") ?? false
        fanInFanOut = try file.optionalBool("fan_in_fan_out") ?? false
        if let bias = try file.optionalString("bias"), bias != "none" {
            throw ModelLoadingError("\(file.path): bias '\(bias)' is not supported (supported: none)")
        }
        if try file.optionalBool("use_dora") == true { throw ModelLoadingError("\(file.path): use_dora = true is not supported") }
        if let pattern = try? file.optionalString("target_modules") {
            targets = .pattern(pattern)
        } else if let list = file.values["target_modules"] as? [Any], let names = list as? [String] {
            targets = .names(names)
        } else {
            throw ModelLoadingError("\(file.path): key 'target_modules' expects a list of module names or a regular expression")
        }
        guard (0..<1).contains(dropout) else { throw ModelLoadingError("\(file.path): lora_dropout must be in [0, 1), got \(dropout)") }
    }

    /// Whether the module at `path` is a target.
    public func targets(_ path: String) -> Bool {
        switch targets {
        case .names(let names): return names.contains { path == $0 || path.hasSuffix("." + $0) }
        case .pattern(let pattern):
            guard let regex = try? Regex(pattern) else { return false }
            return (try? regex.wholeMatch(in: path)) != nil
        }
    }
}

extension LanguageModel {
    /// Wraps every target projection of the decoder in a LoRA adapter (new factors, A drawn from `generator` or, when
    /// nil, libtorch's global generator) and returns the adapted paths. Only the factors require gradients afterwards;
    /// each adapter is in the training or evaluation mode of the projection it wraps.
    @discardableResult
    public func addAdapters(_ configuration: LoRAConfiguration, generator: Generator? = nil) throws -> [String] {
        decoder.freeze()
        var adapted: [String] = []
        for (path, module) in decoder.namedModules() where configuration.targets(path) {
            let replacement: Module
            if let linear = module as? Linear, !(module is LoRAAdapted) {
                replacement = LoRALinear(wrapping: linear, rank: configuration.rank, alpha: configuration.alpha, rsLoRA: configuration.rsLoRA,
                                         generator: generator)
            } else if let conv = module as? Conv1D, !(module is LoRAAdapted) {
                replacement = LoRAConv1D(wrapping: conv, rank: configuration.rank, alpha: configuration.alpha, rsLoRA: configuration.rsLoRA,
                                         generator: generator)
            } else {
                continue
            }
            (replacement as? any LoRAAdapted)?.dropout = configuration.dropout
            // A new module starts in training mode; the adapter takes the mode of the projection it replaces, so an
            // adapter loaded onto an evaluating model (generation, judging) applies no dropout.
            replacement.train(module.isTraining)
            try decoder.replaceModule(at: path, with: replacement)
            adapted.append(path)
        }
        guard !adapted.isEmpty else { throw ModelLoadingError("no module of the model matches the adapter's target_modules \(configuration.targets)") }
        return adapted
    }

    /// Loads a PEFT LoRA adapter directory (`adapter_config.json`, `adapter_model.safetensors`) onto the model.
    @discardableResult
    public func loadAdapter(_ directory: URL) throws -> [String] {
        let configuration = try LoRAConfiguration(directory: directory)
        let adapted = try addAdapters(configuration)
        let file = try SafeTensorsFile(directory.appendingPathComponent("adapter_model.safetensors"))
        let report = try decoder.load(safetensors: [file], mapping: { key in
            var name = key.hasPrefix("base_model.model.") ? String(key.dropFirst("base_model.model.".count)) : key
            // PEFT may name the default adapter's factors `lora_A.default.weight` in memory; files drop it.
            name = name.replacingOccurrences(of: ".lora_A.default.", with: ".lora_A.").replacingOccurrences(of: ".lora_B.default.", with: ".lora_B.")
            return name
        }, strict: false)
        if !report.unexpected.isEmpty {
            throw ModelLoadingError("\(file.url.path): tensors the adapted model does not have: \(report.unexpected.prefix(5).joined(separator: ", "))")
        }
        let missing = report.missing.filter { $0.contains(".lora_A.") || $0.contains(".lora_B.") }
        if !missing.isEmpty {
            throw ModelLoadingError("\(file.url.path): no values for \(missing.prefix(5).joined(separator: ", "))")
        }
        return adapted
    }

    /// The adapters of the decoder, by path.
    public var adapters: [(String, any LoRAAdapted)] {
        decoder.namedModules().compactMap { path, module in (module as? any LoRAAdapted).map { (path, $0) } }
    }

    /// Writes the adapters as PEFT does (`adapter_config.json`, `adapter_model.safetensors` with
    /// `base_model.model.<path>.lora_A.weight` keys), so peft loads them.
    public func saveAdapter(to directory: URL, configuration: LoRAConfiguration) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var tensors: [String: Tensor] = [:]
        for (path, adapter) in adapters {
            tensors["base_model.model.\(path).lora_A.weight"] = adapter.loraA.weight.detach().contiguous()
            tensors["base_model.model.\(path).lora_B.weight"] = adapter.loraB.weight.detach().contiguous()
        }
        try SafeTensors.write(tensors, metadata: ["format": "pt"], to: directory.appendingPathComponent("adapter_model.safetensors"))
        let targets: Any
        switch configuration.targets {
        case .names(let names): targets = names
        case .pattern(let pattern): targets = pattern
        }
        let config: [String: Any] = [
            "peft_type": "LORA", "r": configuration.rank, "lora_alpha": configuration.alpha, "target_modules": targets,
            "lora_dropout": configuration.dropout, "use_rslora": configuration.rsLoRA, "bias": "none",
            "fan_in_fan_out": self.configuration.architecture == .gpt2, "task_type": "CAUSAL_LM", "inference_mode": true,
            "base_model_name_or_path": self.directory.path, "init_lora_weights": true, "modules_to_save": NSNull(),
        ]
        try AtomicFile.write(JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]),
                             to: directory.appendingPathComponent("adapter_config.json"))
    }
}
