import Foundation
import LanguageModels
import NeuralNetworks
import Torch
import Yams

/// The settings of a supervised fine-tuning run, under TRL's `SFTConfig` / `TrainingArguments` names (and
/// TRL's `ModelConfig` names for LoRA), with TRL's defaults unless noted. Command-line flags are the same names in
/// kebab-case; `--config` files use them in snake_case.
public struct SFTConfiguration: Equatable, Sendable {
    /// `per_device_train_batch_size`: rows per micro-batch.
    public var perDeviceTrainBatchSize = 8
    public var perDeviceEvalBatchSize = 8
    /// `gradient_accumulation_steps`: micro-batches per optimizer step.
    public var gradientAccumulationSteps = 1
    public var numTrainEpochs = 3.0
    /// `max_steps`: when positive, the number of optimizer steps (overrides `num_train_epochs`).
    public var maxSteps = -1
    public var learningRate = 2e-5
    /// `lr_scheduler_type`: constant, linear, cosine (with warm-up: constant_with_warmup too).
    public var lrSchedulerType = "linear"
    public var warmupRatio = 0.0
    /// `warmup_steps`: when positive, overrides `warmup_ratio`.
    public var warmupSteps = 0
    public var weightDecay = 0.0
    public var adamBeta1 = 0.9
    public var adamBeta2 = 0.999
    public var adamEpsilon = 1e-8
    /// `max_grad_norm`: clip the gradient's global norm (0 = no clipping).
    public var maxGradNorm = 1.0
    public var maxLength = 1024
    /// `packing`: concatenate sequences into rows of `max_length` (no attention across sequences).
    public var packing = false
    /// `gradient_checkpointing`: recompute each decoder layer's activations during back-propagation instead of
    /// keeping them (same values and gradients; less memory, about one more forward pass of compute). On by default,
    /// as in TRL's configurations.
    public var gradientCheckpointing = true
    /// `completion_only_loss`: nil = TRL's default (true for prompt/completion data).
    public var completionOnlyLoss: Bool? = nil
    public var assistantOnlyLoss = false
    public var loggingSteps = 10
    /// `save_steps`: checkpoint every N optimizer steps (and at the end).
    public var saveSteps = 500
    /// `eval_steps`: evaluate every N steps when there is eval data (0: at the end only).
    public var evalSteps = 0
    public var seed = 42
    /// LoRA (`lora_r` > 0 turns it on, as TRL's `use_peft`).
    public var loraR = 0
    public var loraAlpha = 32.0
    public var loraDropout = 0.05
    /// `lora_target_modules`: empty = the architecture's attention and MLP projections.
    public var loraTargetModules: [String] = []
    public var useRSLoRA = false

    public init() {}

    /// Whether training adapts LoRA factors instead of every weight.
    public var usesLoRA: Bool { loraR > 0 }

    /// The learning-rate schedule over `totalSteps` optimizer steps, as transformers defines it (warm-up steps =
    /// ⌈warmup_ratio × total⌉ unless `warmup_steps` is set).
    public func schedule(totalSteps: Int) throws -> Schedule {
        let warmup = warmupSteps > 0 ? warmupSteps : Int((warmupRatio * Double(totalSteps)).rounded(.up))
        switch lrSchedulerType {
        case "constant": return .constant
        case "constant_with_warmup": return .constantWarmup(warmupSteps: warmup)
        case "linear": return warmup > 0 ? .linearWarmup(warmupSteps: warmup) : .linear
        case "cosine": return .cosineWarmup(warmupSteps: warmup)
        default: throw DataError("lr_scheduler_type '\(lrSchedulerType)': expected constant, constant_with_warmup, linear or cosine")
        }
    }

    /// The LoRA configuration these settings describe, for a model of `architecture`.
    public func loraConfiguration(architecture: ModelArchitecture) -> LoRAConfiguration {
        let defaults: [String] = architecture == .gpt2 ? ["c_attn", "c_proj", "c_fc"]
            : ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        var lora = LoRAConfiguration(rank: loraR, alpha: loraAlpha, targets: .names(loraTargetModules.isEmpty ? defaults : loraTargetModules),
                                     rsLoRA: useRSLoRA)
        lora.dropout = loraDropout
        return lora
    }

    // MARK: Keys

    /// A setting's value as files and flags give it.
    public enum Value: Sendable {
        case int(Int), double(Double), bool(Bool), string(String), list([String]), null
    }

    typealias Setter = @Sendable (inout SFTConfiguration, Value, String) throws -> Void

    /// Every key a file or flag may set, by TRL's snake_case name.
    static let setters: [String: Setter] = [
        "per_device_train_batch_size": int { $0.perDeviceTrainBatchSize = $1 },
        "per_device_eval_batch_size": int { $0.perDeviceEvalBatchSize = $1 },
        "gradient_accumulation_steps": int { $0.gradientAccumulationSteps = $1 },
        "num_train_epochs": double { $0.numTrainEpochs = $1 },
        "max_steps": int { $0.maxSteps = $1 },
        "learning_rate": double { $0.learningRate = $1 },
        "lr_scheduler_type": string { $0.lrSchedulerType = $1 },
        "warmup_ratio": double { $0.warmupRatio = $1 },
        "warmup_steps": int { $0.warmupSteps = $1 },
        "weight_decay": double { $0.weightDecay = $1 },
        "adam_beta1": double { $0.adamBeta1 = $1 },
        "adam_beta2": double { $0.adamBeta2 = $1 },
        "adam_epsilon": double { $0.adamEpsilon = $1 },
        "max_grad_norm": double { $0.maxGradNorm = $1 },
        "max_length": int { $0.maxLength = $1 },
        "packing": bool { $0.packing = $1 },
        "gradient_checkpointing": bool { $0.gradientCheckpointing = $1 },
        "completion_only_loss": { c, v, key in
            if case .null = v { c.completionOnlyLoss = nil } else { c.completionOnlyLoss = try boolValue(v, key) }
        },
        "assistant_only_loss": bool { $0.assistantOnlyLoss = $1 },
        "logging_steps": int { $0.loggingSteps = $1 },
        "save_steps": int { $0.saveSteps = $1 },
        "eval_steps": int { $0.evalSteps = $1 },
        "seed": int { $0.seed = $1 },
        "lora_r": int { $0.loraR = $1 },
        "lora_alpha": double { $0.loraAlpha = $1 },
        "lora_dropout": double { $0.loraDropout = $1 },
        "lora_target_modules": { c, v, key in
            switch v {
            case .list(let names): c.loraTargetModules = names
            case .string(let text): c.loraTargetModules = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            default: throw DataError("\(key): expected a list of module names")
            }
        },
        "use_rslora": bool { $0.useRSLoRA = $1 },
    ]

    /// Keys TRL's configurations have that need no setting here (they name things this command takes elsewhere,
    /// or select behaviour Proxima always has); a file may carry them.
    static let acceptedKeys: Set<String> = [
        "model_name_or_path", "dataset_name", "output_dir", "use_peft", "bf16", "fp16", "use_cpu", "report_to",
        "dataset_text_field", "save_strategy", "eval_strategy", "logging_strategy", "disable_tqdm", "dataloader_num_workers",
        "push_to_hub", "overwrite_output_dir", "do_train", "do_eval", "remove_unused_columns",
    ]

    /// Sets `key` (snake_case) from `value`; `source` names the file or flag in errors.
    public mutating func set(_ key: String, _ value: Value, source: String) throws {
        guard let setter = Self.setters[key] else {
            if Self.acceptedKeys.contains(key) { return }
            let known = Self.setters.keys.sorted().joined(separator: ", ")
            throw DataError("\(source): unknown SFT setting '\(key)' (known: \(known))")
        }
        do { try setter(&self, value, key) } catch let error as DataError {
            throw DataError("\(source): \(error.message)")
        }
    }

    /// Reads a YAML or JSON file of TRL's snake_case keys. Returns the keys that name the model, data and output
    /// (`model_name_or_path`, `dataset_name`, `output_dir`) for the caller.
    @discardableResult
    public mutating func load(file url: URL) throws -> [String: String] {
        let (values, paths) = try Self.readSettings(url)
        for (key, value) in values { try set(key, value, source: url.path) }
        return paths
    }

    /// The settings of a YAML or JSON file, sorted by key, and the keys naming the model, data and output.
    static func readSettings(_ url: URL) throws -> (values: [(String, Value)], paths: [String: String]) {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw DataError("\(url.path): cannot read: \(error.localizedDescription)")
        }
        let parsed: Any?
        do { parsed = try Yams.load(yaml: text) } catch {
            throw DataError("\(url.path): not valid YAML or JSON: \(error)")
        }
        guard let object = parsed as? [String: Any] else { throw DataError("\(url.path): expected a mapping of settings") }
        var paths: [String: String] = [:], values: [(String, Value)] = []
        for key in object.keys.sorted() {
            let raw = object[key]!
            let value: Value
            switch raw {
            case let b as Bool: value = .bool(b)
            case let i as Int: value = .int(i)
            case let d as Double: value = .double(d)
            case let s as String: value = .string(s)
            case let list as [Any]: value = .list(list.map { "\($0)" })
            case is NSNull: value = .null
            default: throw DataError("\(url.path): '\(key)': unsupported value \(raw)")
            }
            if ["model_name_or_path", "dataset_name", "output_dir"].contains(key), case .string(let s) = value { paths[key] = s }
            values.append((key, value))
        }
        return (values, paths)
    }

    /// Checks ranges; errors name the setting.
    public func validate() throws {
        func positive(_ v: Int, _ name: String) throws { if v <= 0 { throw DataError("\(name) must be positive, got \(v)") } }
        try positive(perDeviceTrainBatchSize, "per_device_train_batch_size")
        try positive(perDeviceEvalBatchSize, "per_device_eval_batch_size")
        try positive(gradientAccumulationSteps, "gradient_accumulation_steps")
        try positive(maxLength, "max_length")
        try positive(saveSteps, "save_steps")
        try positive(loggingSteps, "logging_steps")
        if maxSteps <= 0 && !(numTrainEpochs > 0) { throw DataError("num_train_epochs must be positive (or set max_steps), got \(numTrainEpochs)") }
        if !(learningRate >= 0) { throw DataError("learning_rate must be ≥ 0, got \(learningRate)") }
        if !(0...1).contains(warmupRatio) { throw DataError("warmup_ratio must lie in [0, 1], got \(warmupRatio)") }
        if !(0..<1).contains(loraDropout) { throw DataError("lora_dropout must lie in [0, 1), got \(loraDropout)") }
        if loraR < 0 { throw DataError("lora_r must be ≥ 0, got \(loraR)") }
        _ = try schedule(totalSteps: 1)
    }

    /// The settings as a JSON object under their snake_case names (written to the run directory).
    public var json: [String: Any] {
        var object: [String: Any] = [
            "per_device_train_batch_size": perDeviceTrainBatchSize, "per_device_eval_batch_size": perDeviceEvalBatchSize,
            "gradient_accumulation_steps": gradientAccumulationSteps, "num_train_epochs": numTrainEpochs, "max_steps": maxSteps,
            "learning_rate": learningRate, "lr_scheduler_type": lrSchedulerType, "warmup_ratio": warmupRatio,
            "warmup_steps": warmupSteps, "weight_decay": weightDecay, "adam_beta1": adamBeta1, "adam_beta2": adamBeta2,
            "adam_epsilon": adamEpsilon, "max_grad_norm": maxGradNorm, "max_length": maxLength, "packing": packing,
            "gradient_checkpointing": gradientCheckpointing,
            "assistant_only_loss": assistantOnlyLoss, "logging_steps": loggingSteps, "save_steps": saveSteps,
            "eval_steps": evalSteps, "seed": seed, "lora_r": loraR, "lora_alpha": loraAlpha, "lora_dropout": loraDropout,
            "lora_target_modules": loraTargetModules, "use_rslora": useRSLoRA,
        ]
        object["completion_only_loss"] = completionOnlyLoss.map { $0 as Any } ?? NSNull()
        return object
    }
}

/// A setting's value as an integer, or an error naming the key.
func intValue(_ v: SFTConfiguration.Value, _ key: String) throws -> Int {
    switch v {
    case .int(let i): return i
    case .double(let d) where d == d.rounded() && abs(d) < 1e15: return Int(d)
    case .string(let s) where Int(s) != nil: return Int(s)!
    default: throw DataError("\(key): expected an integer, got \(v)")
    }
}

/// A setting's value as a number, or an error naming the key.
func doubleValue(_ v: SFTConfiguration.Value, _ key: String) throws -> Double {
    switch v {
    case .int(let i): return Double(i)
    case .double(let d): return d
    case .string(let s) where Double(s) != nil: return Double(s)!
    default: throw DataError("\(key): expected a number, got \(v)")
    }
}

/// A setting's value as a string, or an error naming the key.
func stringValue(_ v: SFTConfiguration.Value, _ key: String) throws -> String {
    guard case .string(let s) = v else { throw DataError("\(key): expected a string, got \(v)") }
    return s
}

/// A setting's value as a list of strings (a list, or one comma-separated string).
func listValue(_ v: SFTConfiguration.Value, _ key: String) throws -> [String] {
    switch v {
    case .list(let items): return items
    case .string(let text): return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    default: throw DataError("\(key): expected a list, got \(v)")
    }
}

/// A setting's value as a boolean, or an error naming the key.
func boolValue(_ v: SFTConfiguration.Value, _ key: String) throws -> Bool {
    switch v {
    case .bool(let b): return b
    case .string(let s) where ["true", "false"].contains(s.lowercased()): return s.lowercased() == "true"
    default: throw DataError("\(key): expected true or false, got \(v)")
    }
}

private func int(_ apply: @escaping @Sendable (inout SFTConfiguration, Int) -> Void) -> SFTConfiguration.Setter {
    { c, v, key in apply(&c, try intValue(v, key)) }
}

private func double(_ apply: @escaping @Sendable (inout SFTConfiguration, Double) -> Void) -> SFTConfiguration.Setter {
    { c, v, key in apply(&c, try doubleValue(v, key)) }
}

private func string(_ apply: @escaping @Sendable (inout SFTConfiguration, String) -> Void) -> SFTConfiguration.Setter {
    { c, v, key in apply(&c, try stringValue(v, key)) }
}

private func bool(_ apply: @escaping @Sendable (inout SFTConfiguration, Bool) -> Void) -> SFTConfiguration.Setter {
    { c, v, key in apply(&c, try boolValue(v, key)) }
}
