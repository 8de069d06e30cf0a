import Alignment
import ArgumentParser
import Foundation
import LanguageModels
import NeuralNetworks
import Torch
import Tracking
import Training
import ReinforcementLearning

extension Align {
    /// `proxima align reward`: TRL's RewardTrainer, flags named as TRL's `RewardConfig` in kebab-case.
    struct Reward: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reward-model training (TRL's RewardTrainer): Bradley-Terry on pairs, Plackett-Luce on ranked lists; full weights or LoRA.",
            discussion: """
            --model is a causal LM (it gets a new one-label score head, drawn with --seed) or a \
            …ForSequenceClassification directory. Data: JSONL with prompt/chosen/rejected (an optional numeric \
            "margin" column is subtracted from the score gap, as Llama 2's margin loss), chosen/rejected with an \
            implicit prompt, or prompt/responses/scores|ranks (strict rankings) for the Plackett-Luce loss. Each \
            sequence is scored at its last token (the EOS after the response). Pairs with a sequence over \
            --max-length (default 1024) are left out, as TRL filters them. The output directory receives the reward \
            model (a …ForSequenceClassification directory, or with --lora-r a PEFT adapter with the score head in \
            modules_to_save), reward_config.json, run.json, metrics.jsonl/csv, TensorBoard events, learning_curve.svg \
            and checkpoints/checkpoint.safetensors. Logged: loss, accuracy, margin, min_reward, mean_reward, max_reward.
            """)

        @Option(name: [.customLong("model"), .customLong("model-name-or-path")], help: "A causal LM or …ForSequenceClassification directory (Hugging Face layout).") var model: String?
        @Option(name: [.customLong("data"), .customLong("dataset-name")], help: "Training data: a JSONL file.") var data: String?
        @Option(name: .customLong("eval-data"), help: "Held-out JSONL of the same layout.") var evalData: String?
        @Option(name: [.customLong("out"), .customLong("output-dir")], help: "The output directory.") var out: String?
        @Option(help: "A YAML or JSON file of TRL's snake_case settings (flags win).") var config: String?
        @OptionGroup var optimisation: LanguageModelTrainingOptions
        @Option(name: .customLong("center-rewards-coefficient"), help: "Adds c·(r_chosen + r_rejected)² per pair to centre the rewards (0.01 usual; default off).") var centerRewardsCoefficient: Double?
        @Option(name: .customLong("max-length"), help: "Leave out examples with a sequence longer than this (default 1024).") var maxLength: Int?
        @Flag(inversion: .prefixedNo, help: "No dropout in the model, LoRA's included (TRL's default: on).") var disableDropout: Bool?
        @OptionGroup var threads: ThreadOptions
        @Flag(help: "No progress output.") var quiet = false

        func run() throws {
            threads.apply()
            var settings = RewardConfiguration()
            var paths: [String: String] = [:]
            if let config { paths = try settings.load(file: URL(fileURLWithPath: config)) }
            try optimisation.apply { key, value in try settings.set(key, value, source: flag(key)) }
            let values: [(String, SFTConfiguration.Value?)] = [
                ("center_rewards_coefficient", centerRewardsCoefficient.map { .double($0) }), ("max_length", maxLength.map { .int($0) }),
                ("disable_dropout", disableDropout.map { .bool($0) }),
            ]
            for case let (key, value?) in values { try settings.set(key, value, source: flag(key)) }
            try settings.validate()

            guard let modelPath = model ?? paths["model_name_or_path"] else { throw ValidationError("give --model DIR (or model_name_or_path in --config)") }
            guard let dataPath = data ?? paths["dataset_name"] else { throw ValidationError("give --data FILE (or dataset_name in --config)") }
            guard let outPath = out ?? paths["output_dir"], !outPath.isEmpty else { throw ValidationError("give --out DIR (or output_dir in --config)") }
            let outURL = URL(fileURLWithPath: outPath)
            let checkpointURL = try optimisation.checkpointToResume(outURL: outURL, trainer: "a reward")
            // A causal LM's new score head is drawn from the global generator: seeded, so a run repeats.
            LibTorch.manualSeed(UInt64(truncatingIfNeeded: settings.training.seed))
            let scorer = try LanguageModel(directory: URL(fileURLWithPath: modelPath), scoreLabels: 1)
            guard let tokenizer = scorer.tokenizer else { throw ValidationError("\(modelPath): the model directory has no tokenizer.json") }
            let renderer = try ChatTemplateRenderer(model: scorer)
            let eos = scorer.eosTokenIDs.first
            let train = try PreferenceDataset(contentsOf: URL(fileURLWithPath: dataPath), tokenizer: tokenizer, eosTokenID: eos,
                                              options: settings.dataOptions, renderer: renderer)
            let evaluation = try evalData.map {
                try PreferenceDataset(contentsOf: URL(fileURLWithPath: $0), tokenizer: tokenizer, eosTokenID: eos, options: settings.dataOptions, renderer: renderer)
            }
            let trainer = try RewardTrainer(model: scorer, train: train, evaluation: evaluation, configuration: settings)
            if let checkpointURL { try resume(trainer, from: checkpointURL, settings: settings.json) { try trainer.restore($0) } }

            try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
            let settingsJSON = try JSONSerialization.data(withJSONObject: settings.json.merging(["model_name_or_path": modelPath, "dataset_name": dataPath]) { $1 },
                                                          options: [.prettyPrinted, .sortedKeys])
            let curve = LearningCurveRecorder(directory: outURL, metric: "train/loss", title: "Reward model from \(scorer.directory.lastPathComponent)",
                                              xLabel: "optimizer steps", yLabel: "training loss")
            let objective = train.format == .ranked ? "plackett_luce" : "bradley_terry"
            let status = RunStatusRecorder(directory: outURL) { [trainer] in
                ["trainer": "reward", "model": modelPath, "data": dataPath, "seed": settings.training.seed, "threads": LibTorch.numThreads,
                 "examples": trainer.trainingExamples.count, "filtered": trainer.filteredCount, "tokens": trainer.trainedTokens,
                 "libtorch": LibTorch.version, "proxima": proximaVersion, "lora": settings.training.usesLoRA, "objective": objective,
                 "trainable_parameters": trainer.trainableParameters.reduce(0) { $0 + $1.1.count }]
            }
            var recorders: [TrainingRecorder] = [
                DirectoryLockRecorder(directory: outURL), status, MetricsRecorder(directory: outURL),
                CheckpointRecorder(url: outURL.appendingPathComponent("checkpoints/checkpoint.safetensors"), interval: settings.training.saveSteps), curve,
            ]
            if !quiet {
                recorders.append(ProgressRecorder(headline: [("loss", "train/loss"), ("accuracy", "train/accuracy"), ("margin", "train/margin"),
                                                             ("eval accuracy", "eval/accuracy")]))
                let trainable = trainer.trainableParameters.reduce(0) { $0 + $1.1.count }
                let filtered = trainer.filteredCount > 0 ? ", \(trainer.filteredCount) left out (longer than max_length)" : ""
                print("reward: \(trainer.trainingExamples.count) examples (\(train.format.rawValue)\(filtered)), \(objective), \(trainer.plannedSteps) optimizer steps, \(trainable) trainable parameters\(settings.training.usesLoRA ? " (LoRA r=\(settings.training.loraR) + score head)" : "")")
            }
            try AtomicFile.write(settingsJSON, to: outURL.appendingPathComponent("reward_config.json"))
            let outcome = try TrainingLoop.run(trainer, recorders: recorders)
            if outcome == .interrupted {
                print("interrupted: continue with --resume-from-checkpoint \(outPath)")
                throw ExitCode(130)
            }
            try trainer.saveModel(to: outURL)
            if !quiet {
                print("wrote the \(settings.training.usesLoRA ? "PEFT adapter (score head in modules_to_save)" : "reward model") to \(outPath) (\(trainer.trainedTokens) tokens trained)")
            }
        }
    }
}
