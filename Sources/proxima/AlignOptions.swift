import Alignment
import ArgumentParser
import Foundation
import NeuralNetworks
import Training

/// The optimisation flags every language-model trainer takes: TRL's `TrainingArguments` / `ModelConfig` names in
/// kebab-case.
struct LanguageModelTrainingOptions: ParsableArguments {
    @Option(name: .customLong("per-device-train-batch-size")) var perDeviceTrainBatchSize: Int?
    @Option(name: .customLong("per-device-eval-batch-size")) var perDeviceEvalBatchSize: Int?
    @Option(name: .customLong("gradient-accumulation-steps")) var gradientAccumulationSteps: Int?
    @Option(name: .customLong("num-train-epochs")) var numTrainEpochs: Double?
    @Option(name: .customLong("max-steps")) var maxSteps: Int?
    @Option(name: .customLong("learning-rate")) var learningRate: Double?
    @Option(name: .customLong("lr-scheduler-type"), help: "constant, constant_with_warmup, linear or cosine.") var lrSchedulerType: String?
    @Option(name: .customLong("warmup-ratio")) var warmupRatio: Double?
    @Option(name: .customLong("warmup-steps")) var warmupSteps: Int?
    @Option(name: .customLong("weight-decay")) var weightDecay: Double?
    @Option(name: .customLong("max-grad-norm")) var maxGradNorm: Double?
    @Option(name: .customLong("logging-steps")) var loggingSteps: Int?
    @Option(name: .customLong("save-steps")) var saveSteps: Int?
    @Option(name: .customLong("eval-steps")) var evalSteps: Int?
    @Option(name: .customLong("resume-from-checkpoint"), help: "Continue from a checkpoint: the output directory's (no value) or DIR's.") var resumeFromCheckpoint: String?
    @Option(name: .customLong("lora-r"), help: "Train LoRA adapters of this rank (PEFT's format) instead of every weight.") var loraR: Int?
    @Option(name: .customLong("lora-alpha")) var loraAlpha: Double?
    @Option(name: .customLong("lora-dropout")) var loraDropout: Double?
    @Option(name: .customLong("lora-target-modules"), help: "Comma-separated module names (default: the attention and MLP projections).") var loraTargetModules: String?
    @Flag(name: .customLong("use-rslora")) var useRSLoRA = false
    @Flag(name: .customLong("gradient-checkpointing"), inversion: .prefixedNo,
          help: "Recompute each layer's activations in the backward pass instead of keeping them (default on, as in TRL).")
    var gradientCheckpointing: Bool?
    @Option(help: "Random seed (data order, LoRA initialisation and dropout).") var seed: Int?

    /// Hands every given flag to `set` under its snake_case name.
    func apply(_ set: (String, SFTConfiguration.Value) throws -> Void) throws {
        let values: [(String, SFTConfiguration.Value?)] = [
            ("per_device_train_batch_size", perDeviceTrainBatchSize.map { .int($0) }),
            ("per_device_eval_batch_size", perDeviceEvalBatchSize.map { .int($0) }),
            ("gradient_accumulation_steps", gradientAccumulationSteps.map { .int($0) }),
            ("num_train_epochs", numTrainEpochs.map { .double($0) }),
            ("max_steps", maxSteps.map { .int($0) }),
            ("learning_rate", learningRate.map { .double($0) }),
            ("lr_scheduler_type", lrSchedulerType.map { .string($0) }),
            ("warmup_ratio", warmupRatio.map { .double($0) }),
            ("warmup_steps", warmupSteps.map { .int($0) }),
            ("weight_decay", weightDecay.map { .double($0) }),
            ("max_grad_norm", maxGradNorm.map { .double($0) }),
            ("logging_steps", loggingSteps.map { .int($0) }),
            ("save_steps", saveSteps.map { .int($0) }),
            ("eval_steps", evalSteps.map { .int($0) }),
            ("lora_r", loraR.map { .int($0) }),
            ("lora_alpha", loraAlpha.map { .double($0) }),
            ("lora_dropout", loraDropout.map { .double($0) }),
            ("lora_target_modules", loraTargetModules.map { .string($0) }),
            ("use_rslora", useRSLoRA ? .bool(true) : nil),
            ("gradient_checkpointing", gradientCheckpointing.map { .bool($0) }),
            ("seed", seed.map { .int($0) }),
        ]
        for case let (key, value?) in values { try set(key, value) }
    }

    /// The checkpoint `--resume-from-checkpoint` names (the output directory's without a value), or nil for a fresh
    /// run — which is refused when `outURL` already holds a run.
    func checkpointToResume(outURL: URL, trainer: String) throws -> URL? {
        guard let value = resumeFromCheckpoint else {
            if FileManager.default.fileExists(atPath: outURL.appendingPathComponent("run.json").path) {
                throw ValidationError("\(outURL.path) already holds \(trainer) run; continue it with --resume-from-checkpoint, or give another --out")
            }
            return nil
        }
        let base = value == "true" || value.isEmpty ? outURL : URL(fileURLWithPath: value)
        let file = base.pathExtension == "safetensors" ? base : base.appendingPathComponent("checkpoints/checkpoint.safetensors")
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw ValidationError("--resume-from-checkpoint: no checkpoint at \(file.path)")
        }
        return file
    }
}

/// Restores `checkpointURL` into a trainer after checking it was written with the same settings (the differing
/// keys are named otherwise).
func resume(_ trainer: AnyObject, from checkpointURL: URL, settings: [String: Any], restore: (TrainingCheckpoint) throws -> Void) throws {
    let checkpoint = try TrainingCheckpoint.read(from: checkpointURL)
    let now = String(decoding: try JSONSerialization.data(withJSONObject: settings, options: [.sortedKeys]), as: UTF8.self)
    if let saved = checkpoint.config, saved != now {
        let old = (try? JSONSerialization.jsonObject(with: Data(saved.utf8)) as? [String: Any]) ?? [:]
        let differences = settings.keys.sorted().filter { "\(old[$0] ?? "none")" != "\(settings[$0]!)" }
            .map { "\($0): \(old[$0] ?? "none") in the checkpoint, \(settings[$0]!) now" }
        throw ValidationError("--resume-from-checkpoint: \(checkpointURL.path) was written with other settings (\(differences.joined(separator: "; "))); resume with the same settings")
    }
    try restore(checkpoint)
}
