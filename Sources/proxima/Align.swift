import Alignment
import ArgumentParser
import Foundation
import LanguageModels
import NeuralNetworks
import Torch
import Tracking
import Training
import ReinforcementLearning

/// `proxima align …`: fine-tuning and preference optimisation of language models.
struct Align: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune language models: supervised fine-tuning (preference optimisation comes next).",
        subcommands: [SFT.self])

    /// `proxima align sft`: TRL's SFTTrainer, flags named as TRL's configuration in kebab-case.
    struct SFT: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Supervised fine-tuning (TRL's SFTTrainer): text, prompt/completion or messages JSONL; full weights or LoRA.",
            discussion: """
            Options are TRL's SFTConfig / TrainingArguments / ModelConfig names in kebab-case; --config reads a YAML or \
            JSON file with the same names in snake_case (flags given on the command line win). The output directory \
            receives the trained model (a Hugging Face directory, or with --lora-r a PEFT adapter), sft_config.json, \
            run.json, metrics.jsonl/csv, TensorBoard events, loss.svg and checkpoints/checkpoint.safetensors.
            """)

        @Option(name: [.customLong("model"), .customLong("model-name-or-path")], help: "The model directory (Hugging Face layout).") var model: String?
        @Option(name: [.customLong("data"), .customLong("dataset-name")], help: "Training data: a JSONL file.") var data: String?
        @Option(name: .customLong("eval-data"), help: "Held-out JSONL for eval loss and perplexity.") var evalData: String?
        @Option(name: [.customLong("out"), .customLong("output-dir")], help: "The output directory.") var out: String?
        @Option(help: "A YAML or JSON file of TRL's snake_case settings.") var config: String?

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
        @Option(name: .customLong("max-length")) var maxLength: Int?
        @Flag(name: .customLong("packing"), help: "Pack sequences into rows of --max-length (no attention across sequences).") var packing = false
        @Flag(inversion: .prefixedNo, help: "Loss on completion tokens only (prompt/completion data; default on).") var completionOnlyLoss: Bool?
        @Flag(name: .customLong("assistant-only-loss"), help: "Loss on the assistant's turns only (conversations).") var assistantOnlyLoss = false
        @Option(name: .customLong("logging-steps")) var loggingSteps: Int?
        @Option(name: .customLong("save-steps")) var saveSteps: Int?
        @Option(name: .customLong("eval-steps")) var evalSteps: Int?
        @Option(name: .customLong("resume-from-checkpoint"), help: "Continue from a checkpoint: the output directory's (no value) or DIR's.") var resumeFromCheckpoint: String?
        @Option(name: .customLong("lora-r"), help: "Train LoRA adapters of this rank (PEFT's format) instead of every weight.") var loraR: Int?
        @Option(name: .customLong("lora-alpha")) var loraAlpha: Double?
        @Option(name: .customLong("lora-dropout")) var loraDropout: Double?
        @Option(name: .customLong("lora-target-modules"), help: "Comma-separated module names (default: the attention and MLP projections).") var loraTargetModules: String?
        @Flag(name: .customLong("use-rslora")) var useRSLoRA = false
        @Option(help: "Random seed (data order, LoRA initialisation and dropout).") var seed: Int?
        @OptionGroup var threads: ThreadOptions
        @Flag(help: "No progress output.") var quiet = false

        func run() throws {
            threads.apply()
            var settings = SFTConfiguration()
            var paths: [String: String] = [:]
            if let config { paths = try settings.load(file: URL(fileURLWithPath: config)) }
            func set(_ key: String, _ value: SFTConfiguration.Value?) throws {
                if let value { try settings.set(key, value, source: "--" + key.replacingOccurrences(of: "_", with: "-")) }
            }
            try set("per_device_train_batch_size", perDeviceTrainBatchSize.map { .int($0) })
            try set("per_device_eval_batch_size", perDeviceEvalBatchSize.map { .int($0) })
            try set("gradient_accumulation_steps", gradientAccumulationSteps.map { .int($0) })
            try set("num_train_epochs", numTrainEpochs.map { .double($0) })
            try set("max_steps", maxSteps.map { .int($0) })
            try set("learning_rate", learningRate.map { .double($0) })
            try set("lr_scheduler_type", lrSchedulerType.map { .string($0) })
            try set("warmup_ratio", warmupRatio.map { .double($0) })
            try set("warmup_steps", warmupSteps.map { .int($0) })
            try set("weight_decay", weightDecay.map { .double($0) })
            try set("max_grad_norm", maxGradNorm.map { .double($0) })
            try set("max_length", maxLength.map { .int($0) })
            if packing { try set("packing", .bool(true)) }
            try set("completion_only_loss", completionOnlyLoss.map { .bool($0) })
            if assistantOnlyLoss { try set("assistant_only_loss", .bool(true)) }
            try set("logging_steps", loggingSteps.map { .int($0) })
            try set("save_steps", saveSteps.map { .int($0) })
            try set("eval_steps", evalSteps.map { .int($0) })
            try set("lora_r", loraR.map { .int($0) })
            try set("lora_alpha", loraAlpha.map { .double($0) })
            try set("lora_dropout", loraDropout.map { .double($0) })
            try set("lora_target_modules", loraTargetModules.map { .string($0) })
            if useRSLoRA { try set("use_rslora", .bool(true)) }
            try set("seed", seed.map { .int($0) })
            try settings.validate()

            guard let modelPath = model ?? paths["model_name_or_path"] else { throw ValidationError("give --model DIR (or model_name_or_path in --config)") }
            guard let dataPath = data ?? paths["dataset_name"] else { throw ValidationError("give --data FILE (or dataset_name in --config)") }
            guard let outPath = out ?? paths["output_dir"], !outPath.isEmpty else { throw ValidationError("give --out DIR (or output_dir in --config)") }
            let outURL = URL(fileURLWithPath: outPath)
            let checkpointURL = try resumeFromCheckpoint.map { value -> URL in
                let base = value == "true" || value.isEmpty ? outURL : URL(fileURLWithPath: value)
                let file = base.pathExtension == "safetensors" ? base : base.appendingPathComponent("checkpoints/checkpoint.safetensors")
                guard FileManager.default.fileExists(atPath: file.path) else {
                    throw ValidationError("--resume-from-checkpoint: no checkpoint at \(file.path)")
                }
                return file
            }

            if checkpointURL == nil, FileManager.default.fileExists(atPath: outURL.appendingPathComponent("run.json").path) {
                throw ValidationError("\(outPath) already holds an SFT run; continue it with --resume-from-checkpoint, or give another --out")
            }
            let lm = try LanguageModel(directory: URL(fileURLWithPath: modelPath))
            guard let tokenizer = lm.tokenizer else { throw ValidationError("\(modelPath): the model directory has no tokenizer.json") }
            var options = SFTDataOptions()
            options.maxLength = settings.maxLength
            options.completionOnlyLoss = settings.completionOnlyLoss
            options.assistantOnlyLoss = settings.assistantOnlyLoss
            let renderer = try ChatTemplateRenderer(model: lm)
            let train = try SFTDataset(contentsOf: URL(fileURLWithPath: dataPath), tokenizer: tokenizer, eosTokenID: lm.eosTokenIDs.first,
                                       options: options, renderer: renderer)
            let evaluation = try evalData.map {
                try SFTDataset(contentsOf: URL(fileURLWithPath: $0), tokenizer: tokenizer, eosTokenID: lm.eosTokenIDs.first, options: options, renderer: renderer)
            }
            if train.examples.allSatisfy({ $0.targetCount == 0 }) {
                throw ValidationError("\(dataPath): no row has a token to score (completions empty or cut away by --max-length \(settings.maxLength))")
            }
            let trainer = try SFTTrainer(model: lm, train: train, evaluation: evaluation, configuration: settings)
            if let checkpointURL {
                let checkpoint = try TrainingCheckpoint.read(from: checkpointURL)
                let now = String(decoding: try JSONSerialization.data(withJSONObject: settings.json, options: [.sortedKeys]), as: UTF8.self)
                if let saved = checkpoint.config, saved != now {
                    let old = (try? JSONSerialization.jsonObject(with: Data(saved.utf8)) as? [String: Any]) ?? [:]
                    let differences = settings.json.keys.sorted().filter { "\(old[$0] ?? "none")" != "\(settings.json[$0]!)" }
                        .map { "\($0): \(old[$0] ?? "none") in the checkpoint, \(settings.json[$0]!) now" }
                    throw ValidationError("--resume-from-checkpoint: \(checkpointURL.path) was written with other settings (\(differences.joined(separator: "; "))); resume with the same settings")
                }
                try trainer.restore(checkpoint)
            }

            try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
            let settingsJSON = try JSONSerialization.data(withJSONObject: settings.json.merging(["model_name_or_path": modelPath, "dataset_name": dataPath]) { $1 },
                                                          options: [.prettyPrinted, .sortedKeys])
            let curve = LearningCurveRecorder(directory: outURL, metric: "train/loss", title: "SFT of \(lm.directory.lastPathComponent)",
                                              xLabel: "optimizer steps", yLabel: "training loss (mean over scored tokens)")
            let status = RunStatusRecorder(directory: outURL) { [trainer] in
                ["trainer": "sft", "model": modelPath, "data": dataPath, "seed": settings.seed, "threads": LibTorch.numThreads,
                 "rows": train.examples.count, "tokens": trainer.trainedTokens, "libtorch": LibTorch.version, "proxima": proximaVersion,
                 "lora": settings.usesLoRA, "trainable_parameters": trainer.trainableParameters.reduce(0) { $0 + $1.1.count }]
            }
            var recorders: [TrainingRecorder] = [
                DirectoryLockRecorder(directory: outURL), status, MetricsRecorder(directory: outURL),
                CheckpointRecorder(url: outURL.appendingPathComponent("checkpoints/checkpoint.safetensors"), interval: settings.saveSteps), curve,
            ]
            if !quiet {
                recorders.append(ProgressRecorder(headline: [("loss", "train/loss"), ("tokens/s", "train/tokens_per_s"), ("eval loss", "eval/loss")]))
                let trainable = trainer.trainableParameters.reduce(0) { $0 + $1.1.count }
                print("sft: \(train.examples.count) rows (\(train.format.rawValue)\(train.truncatedCount > 0 ? ", \(train.truncatedCount) cut to \(settings.maxLength) tokens" : "")), \(trainer.plannedSteps) optimizer steps, \(trainable) trainable parameters\(settings.usesLoRA ? " (LoRA r=\(settings.loraR))" : "")")
            }
            try AtomicFile.write(settingsJSON, to: outURL.appendingPathComponent("sft_config.json"))
            let outcome = try TrainingLoop.run(trainer, recorders: recorders)
            if outcome == .interrupted {
                print("interrupted: continue with --resume-from-checkpoint \(outPath)")
                throw ExitCode(130)
            }
            try trainer.saveModel(to: outURL)
            if !quiet {
                let kind = settings.usesLoRA ? "PEFT adapter" : "model"
                print("wrote the \(kind) to \(outPath) (\(trainer.trainedTokens) tokens trained)")
            }
        }
    }
}
