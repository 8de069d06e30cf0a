import Alignment
import ArgumentParser
import Foundation
import LanguageModels
import NeuralNetworks
import Torch
import Tracking
import Training
import ReinforcementLearning

/// The flags of the preference commands: TRL's `DPOConfig` (and ORPO/CPO/KTO) names in kebab-case.
struct PreferenceOptions: ParsableArguments {
    @Option(name: [.customLong("model"), .customLong("model-name-or-path")], help: "The policy's starting point (a Hugging Face directory, usually the SFT model).") var model: String?
    @Option(name: [.customLong("data"), .customLong("dataset-name")], help: "Training data: a JSONL file.") var data: String?
    @Option(name: .customLong("eval-data"), help: "Held-out JSONL of the same layout.") var evalData: String?
    @Option(name: [.customLong("out"), .customLong("output-dir")], help: "The output directory.") var out: String?
    @Option(help: "A YAML or JSON file of TRL's snake_case settings (flags win).") var config: String?
    @OptionGroup var optimisation: LanguageModelTrainingOptions
    @Option(help: "β (ORPO: λ; SimPO: β, default 2; the RSO and hinge losses: γ).") var beta: Double?
    @Option(name: .customLong("label-smoothing"), help: "ε of cdpo and robust (and SimPO's label smoothing).") var labelSmoothing: Double?
    @Option(name: .customLong("max-length")) var maxLength: Int?
    @Option(name: .customLong("max-prompt-length"), help: "Prompts keep their last N tokens.") var maxPromptLength: Int?
    @Option(name: .customLong("max-completion-length"), help: "Responses keep their first N tokens.") var maxCompletionLength: Int?
    @Option(name: .customLong("truncation-mode"), help: "keep_start or keep_end: which end of a sequence over --max-length survives.") var truncationMode: String?
    @Flag(inversion: .prefixedNo, help: "No dropout in the policy, LoRA's included (TRL's default: on).") var disableDropout: Bool?
    @OptionGroup var threads: ThreadOptions
    @Flag(help: "No progress output.") var quiet = false

    func apply(to settings: inout PreferenceConfiguration) throws -> [String: String] {
        var paths: [String: String] = [:]
        if let config { paths = try settings.load(file: URL(fileURLWithPath: config)) }
        try optimisation.apply { key, value in try settings.set(key, value, source: flag(key)) }
        let values: [(String, SFTConfiguration.Value?)] = [
            ("beta", beta.map { .double($0) }), ("label_smoothing", labelSmoothing.map { .double($0) }),
            ("max_length", maxLength.map { .int($0) }), ("max_prompt_length", maxPromptLength.map { .int($0) }),
            ("max_completion_length", maxCompletionLength.map { .int($0) }), ("truncation_mode", truncationMode.map { .string($0) }),
            ("disable_dropout", disableDropout.map { .bool($0) }),
        ]
        for case let (key, value?) in values { try settings.set(key, value, source: flag(key)) }
        return paths
    }
}

func flag(_ key: String) -> String { "--" + key.replacingOccurrences(of: "_", with: "-") }

extension Align {
    /// `proxima align dpo`: the DPO family as one trainer with a closed set of objectives.
    struct DPO: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Offline preference optimisation: DPO and its family (pairs) and listwise DPO, LiPO-λ, PRO (ranked lists).",
            discussion: """
            Data: JSONL with prompt/chosen/rejected (text or conversations), chosen/rejected with an implicit prompt, \
            or prompt/responses/scores|ranks for the listwise losses. The reference is a frozen copy of --model, \
            --ref-model, or with --lora-r the model with its adapters disabled (no second copy); \
            --precompute-ref-log-probs scores the data once and caches it. Losses (--loss-type, comma-separated, \
            weighted by --loss-weights):
            \(PreferenceLoss.allCases.map { "  \($0.rawValue): \($0.citation)" }.joined(separator: "\n"))
            """)

        @OptionGroup var common: PreferenceOptions
        @Option(name: .customLong("loss-type"), help: "Comma-separated losses (default sigmoid).") var lossType: String?
        @Option(name: .customLong("loss-weights"), help: "Comma-separated weights, one per loss.") var lossWeights: String?
        @Option(name: .customLong("ref-model"), help: "The reference model directory (default: a frozen copy of --model; with LoRA the base model).") var refModel: String?
        @Flag(name: .customLong("precompute-ref-log-probs"), help: "Score the data with the reference once before training (cached on disk).") var precomputeRefLogProbs = false
        @Flag(inversion: .prefixedNo, help: "IPO on per-token average log-ratios (TRL's behaviour; default on).") var ipoLengthNormalize: Bool?
        @Option(name: .customLong("slic-delta"), help: "SLiC-HF's margin δ (default 1).") var slicDelta: Double?
        @Option(name: .customLong("slic-lambda-reg"), help: "SLiC-HF's regularisation weight on the chosen response (default 0).") var slicLambdaReg: Double?
        @Option(name: .customLong("pro-sft-weight"), help: "PRO's SFT weight (default 0.05).") var proSFTWeight: Double?
        @Flag(inversion: .prefixedNo, help: "PRO's reward-difference temperatures (default on).") var proUseTemperature: Bool?
        @Flag(inversion: .prefixedNo, help: "Score each pair in one row, its prompt run once for both responses (same log-probs; default on).") var sharePrompts: Bool?

        func run() throws {
            var settings = PreferenceConfiguration(method: .dpo)
            let paths = try common.apply(to: &settings)
            let values: [(String, SFTConfiguration.Value?)] = [
                ("loss_type", lossType.map { .string($0) }), ("loss_weights", lossWeights.map { .string($0) }),
                ("precompute_ref_log_probs", precomputeRefLogProbs ? .bool(true) : nil),
                ("ipo_length_normalize", ipoLengthNormalize.map { .bool($0) }), ("slic_delta", slicDelta.map { .double($0) }),
                ("slic_lambda_reg", slicLambdaReg.map { .double($0) }), ("pro_sft_weight", proSFTWeight.map { .double($0) }),
                ("pro_use_temperature", proUseTemperature.map { .bool($0) }), ("share_prompts", sharePrompts.map { .bool($0) }),
            ]
            for case let (key, value?) in values { try settings.set(key, value, source: flag(key)) }
            try runPreference(settings, paths: paths, common: common, refModel: refModel)
        }
    }

    /// `proxima align orpo`: ORPO, no reference model.
    struct ORPO: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "ORPO (Hong, Lee, Thorne 2024): NLL on the chosen response plus λ·log-odds-ratio term, no reference; --beta is λ (default 0.1).")
        @OptionGroup var common: PreferenceOptions
        func run() throws {
            var settings = PreferenceConfiguration(method: .orpo)
            let paths = try common.apply(to: &settings)
            try runPreference(settings, paths: paths, common: common, refModel: nil)
        }
    }

    /// `proxima align simpo`: SimPO, no reference model.
    struct SimPO: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "simpo",
            abstract: "SimPO (Meng, Xia, Chen 2024): length-normalised log-likelihood margin loss, no reference (β 2.0, γ 0.5).")
        @OptionGroup var common: PreferenceOptions
        @Option(name: .customLong("simpo-gamma"), help: "The target margin γ (default 0.5).") var simpoGamma: Double?
        func run() throws {
            var settings = PreferenceConfiguration(method: .simpo)
            let paths = try common.apply(to: &settings)
            if let simpoGamma { try settings.set("simpo_gamma", .double(simpoGamma), source: "--simpo-gamma") }
            try runPreference(settings, paths: paths, common: common, refModel: nil)
        }
    }

    /// `proxima align kto`: KTO on unpaired, labelled responses.
    struct KTO: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "KTO (Ethayarajh et al. 2024): unpaired prompt/completion/label data, reference = frozen copy or adapters disabled.")
        @OptionGroup var common: PreferenceOptions
        @Option(name: .customLong("ref-model"), help: "The reference model directory.") var refModel: String?
        @Option(name: .customLong("desirable-weight")) var desirableWeight: Double?
        @Option(name: .customLong("undesirable-weight")) var undesirableWeight: Double?
        func run() throws {
            var settings = PreferenceConfiguration(method: .kto)
            let paths = try common.apply(to: &settings)
            if let desirableWeight { try settings.set("desirable_weight", .double(desirableWeight), source: "--desirable-weight") }
            if let undesirableWeight { try settings.set("undesirable_weight", .double(undesirableWeight), source: "--undesirable-weight") }
            try runPreference(settings, paths: paths, common: common, refModel: refModel)
        }
    }
}

/// Loads the policy, reference and data, trains, and writes the result, for every preference command.
func runPreference(_ settings: PreferenceConfiguration, paths: [String: String], common: PreferenceOptions, refModel: String?) throws {
    common.threads.apply()
    try settings.validate()
    let method = settings.method.rawValue
    guard let modelPath = common.model ?? paths["model_name_or_path"] else { throw ValidationError("give --model DIR (or model_name_or_path in --config)") }
    guard let dataPath = common.data ?? paths["dataset_name"] else { throw ValidationError("give --data FILE (or dataset_name in --config)") }
    guard let outPath = common.out ?? paths["output_dir"], !outPath.isEmpty else { throw ValidationError("give --out DIR (or output_dir in --config)") }
    let outURL = URL(fileURLWithPath: outPath)
    let checkpointURL = try common.optimisation.checkpointToResume(outURL: outURL, trainer: "a \(method)")
    let policy = try LanguageModel(directory: URL(fileURLWithPath: modelPath))
    guard let tokenizer = policy.tokenizer else { throw ValidationError("\(modelPath): the model directory has no tokenizer.json") }

    // The reference: another model (same tokenizer), the base model under LoRA, or a frozen copy of the policy.
    let needsReference = settings.method.usesReference(settings.lossTypes)
    var referenceModel: LanguageModel? = nil
    if needsReference {
        if let refModel {
            let own = try? Data(contentsOf: policy.directory.appendingPathComponent("tokenizer.json"))
            let theirs = try? Data(contentsOf: URL(fileURLWithPath: refModel).appendingPathComponent("tokenizer.json"))
            guard own == theirs else {
                throw ValidationError("--ref-model \(refModel): its tokenizer.json differs from the policy's (\(modelPath)); reference and policy must score the same tokens")
            }
            referenceModel = try LanguageModel(directory: URL(fileURLWithPath: refModel))
        } else if !settings.training.usesLoRA {
            referenceModel = try LanguageModel(directory: URL(fileURLWithPath: modelPath))
        }
        if let referenceModel { referenceModel.decoder.freeze(); referenceModel.decoder.eval() }
    }

    let renderer = try ChatTemplateRenderer(model: policy)
    let eos = policy.eosTokenIDs.first
    let train = try PreferenceDataset(contentsOf: URL(fileURLWithPath: dataPath), tokenizer: tokenizer, eosTokenID: eos, options: settings.data, renderer: renderer)
    let evaluation = try common.evalData.map {
        try PreferenceDataset(contentsOf: URL(fileURLWithPath: $0), tokenizer: tokenizer, eosTokenID: eos, options: settings.data, renderer: renderer)
    }

    var reference: ReferenceSource? = referenceModel.map { .model($0) }
    var cacheNote = ""
    if needsReference && settings.precomputeRefLogProbs {
        // Scored once, with the reference model or the policy's base weights, and cached by model and data.
        let scorer = referenceModel ?? policy
        let cache = ReferenceCache()
        let directory = URL(fileURLWithPath: refModel ?? modelPath)
        func table(_ data: PreferenceDataset) throws -> ReferenceLogProbabilities {
            let key = try ReferenceCache.key(modelDirectory: directory, data: data)
            if let cached = cache.load(key) { cacheNote += " (reference log-probs from the cache)"; return cached }
            let computed = PreferenceTrainer.referenceLogProbabilities(of: data, under: scorer, batchSize: settings.training.perDeviceEvalBatchSize)
            try cache.store(computed, key: key)
            return computed
        }
        reference = .precomputed(train: try table(train), evaluation: try evaluation.map(table))
        referenceModel = nil
    }
    let trainer = try PreferenceTrainer(model: policy, reference: reference, train: train, evaluation: evaluation, configuration: settings)
    if let checkpointURL { try resume(trainer, from: checkpointURL, settings: settings.json) { try trainer.restore($0) } }

    try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
    let settingsJSON = try JSONSerialization.data(withJSONObject: settings.json.merging(["model_name_or_path": modelPath, "dataset_name": dataPath]) { $1 },
                                                  options: [.prettyPrinted, .sortedKeys])
    let curve = LearningCurveRecorder(directory: outURL, metric: "train/loss", title: "\(method.uppercased()) of \(policy.directory.lastPathComponent)",
                                      xLabel: "optimizer steps", yLabel: "training loss")
    let referenceKind: String = {
        switch trainer.reference {
        case .adaptersDisabled: "adapters disabled"
        case .model: refModel ?? "frozen copy"
        case .precomputed: "precomputed"
        case .none: "none"
        }
    }()
    let status = RunStatusRecorder(directory: outURL) { [trainer] in
        ["trainer": method, "model": modelPath, "data": dataPath, "seed": settings.training.seed, "threads": LibTorch.numThreads,
         "examples": train.count, "tokens": trainer.trainedTokens, "libtorch": LibTorch.version, "proxima": proximaVersion,
         "lora": settings.training.usesLoRA, "reference": referenceKind, "shared_prompt_batches": trainer.sharedPromptBatches, "loss_type": settings.lossTypes.map(\.rawValue),
         "trainable_parameters": trainer.trainableParameters.reduce(0) { $0 + $1.1.count }]
    }
    var recorders: [TrainingRecorder] = [
        DirectoryLockRecorder(directory: outURL), status, MetricsRecorder(directory: outURL),
        CheckpointRecorder(url: outURL.appendingPathComponent("checkpoints/checkpoint.safetensors"), interval: settings.training.saveSteps), curve,
    ]
    if !common.quiet {
        recorders.append(ProgressRecorder(headline: [("loss", "train/loss"), ("accuracy", "train/rewards/accuracies"), ("margin", "train/rewards/margins"),
                                                     ("eval loss", "eval/loss")]))
        let trainable = trainer.trainableParameters.reduce(0) { $0 + $1.1.count }
        let cut = train.truncatedCount > 0 ? ", \(train.truncatedCount) truncated" : ""
        let dropped = train.droppedCount > 0 ? ", \(train.droppedCount) dropped (prompt fills max_length)" : ""
        print("\(method): \(train.count) examples (\(train.format.rawValue)\(cut)\(dropped)), \(trainer.plannedSteps) optimizer steps, \(trainable) trainable parameters\(settings.training.usesLoRA ? " (LoRA r=\(settings.training.loraR))" : ""), loss \(settings.method == .dpo ? settings.lossTypes.map(\.rawValue).joined(separator: "+") : method), reference: \(referenceKind)\(cacheNote)")
    }
    try AtomicFile.write(settingsJSON, to: outURL.appendingPathComponent("\(method)_config.json"))
    let outcome = try TrainingLoop.run(trainer, recorders: recorders)
    if outcome == .interrupted {
        print("interrupted: continue with --resume-from-checkpoint \(outPath)")
        throw ExitCode(130)
    }
    try trainer.saveModel(to: outURL)
    if !common.quiet {
        print("wrote the \(settings.training.usesLoRA ? "PEFT adapter" : "model") to \(outPath) (\(trainer.trainedTokens) tokens trained)")
    }
}
