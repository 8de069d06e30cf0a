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
        abstract: "Fine-tune language models: supervised fine-tuning and offline preference optimisation.",
        subcommands: [SFT.self, DPO.self, ORPO.self, SimPO.self, KTO.self, Reward.self])

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

        @OptionGroup var optimisation: LanguageModelTrainingOptions
        @Option(name: .customLong("max-length")) var maxLength: Int?
        @Flag(name: .customLong("packing"), help: "Pack sequences into rows of --max-length (no attention across sequences).") var packing = false
        @Flag(inversion: .prefixedNo, help: "Loss on completion tokens only (prompt/completion data; default on).") var completionOnlyLoss: Bool?
        @Flag(name: .customLong("assistant-only-loss"), help: "Loss on the assistant's turns only (conversations).") var assistantOnlyLoss = false
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
            try optimisation.apply { key, value in try settings.set(key, value, source: "--" + key.replacingOccurrences(of: "_", with: "-")) }
            try set("max_length", maxLength.map { .int($0) })
            if packing { try set("packing", .bool(true)) }
            try set("completion_only_loss", completionOnlyLoss.map { .bool($0) })
            if assistantOnlyLoss { try set("assistant_only_loss", .bool(true)) }
            try settings.validate()

            guard let modelPath = model ?? paths["model_name_or_path"] else { throw ValidationError("give --model DIR (or model_name_or_path in --config)") }
            guard let dataPath = data ?? paths["dataset_name"] else { throw ValidationError("give --data FILE (or dataset_name in --config)") }
            guard let outPath = out ?? paths["output_dir"], !outPath.isEmpty else { throw ValidationError("give --out DIR (or output_dir in --config)") }
            let outURL = URL(fileURLWithPath: outPath)
            let checkpointURL = try optimisation.checkpointToResume(outURL: outURL, trainer: "an SFT")
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
            if let checkpointURL { try resume(trainer, from: checkpointURL, settings: settings.json) { try trainer.restore($0) } }

            try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
            let settingsJSON = try JSONSerialization.data(withJSONObject: settings.json.merging(["model_name_or_path": modelPath, "dataset_name": dataPath]) { $1 },
                                                          options: [.prettyPrinted, .sortedKeys])
            let curve = LearningCurveRecorder(directory: outURL, metric: "train/loss", title: "SFT of \(lm.directory.lastPathComponent)",
                                              xLabel: "optimizer steps", yLabel: "training loss (mean over scored tokens)")
            let status = RunStatusRecorder(directory: outURL) { [trainer] in
                ["trainer": "sft", "model": modelPath, "data": dataPath, "seed": settings.seed, "threads": LibTorch.numThreads,
                 "rows": train.examples.count, "tokens": trainer.trainedTokens, "libtorch": LibTorch.version, "proxima": proximaVersion,
                 "lora": settings.usesLoRA, "trainable_parameters": trainer.trainableParameters.reduce(0) { $0 + $1.1.count },
                 "fast_paths": languageModelFastPathCounts()]
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

/// How often the language models' fast paths ran in this process (run.json's `fast_paths`), so a run shows that they
/// did: columns the scored-position pass skipped of those it was given, output-layer rows whose gradient was
/// precomputed, fused LoRA projections, checkpointed layers recomputed without their last projection, GELUs that kept
/// their derivative.
func languageModelFastPathCounts() -> [String: Any] {
    ["scored_position_skipped_columns": ScoredPositionPass.skippedColumns, "scored_position_total_columns": ScoredPositionPass.totalColumns,
     "frozen_output_gradient_rows": FrozenOutputGradient.precomputedRows, "lora_fused_calls": LoRAFusedUpdate.calls,
     "checkpoint_shortcut_layers": CheckpointRecomputation.shortcutLayers, "fused_gelu_calls": FusedGELU.calls]
}
