import Foundation
import LanguageModels
import NeuralNetworks
import Torch

// Judges: anything that gives (prompt, response) texts a score, higher is better. A reward model (or an ensemble of
// them, reduced to one conservative score) is one; the oracle of the oracle-preference task, which knows the true
// reward, is another. `proxima judge` compares two models' responses with either.

/// Scores responses to prompts, higher is better.
public protocol ResponseJudge {
    /// One score per (prompt, response) pair, in order; `prompts` and `responses` have the same length.
    func score(prompts: [String], responses: [String]) throws -> [Double]
}

/// The oracle-preference task's true reward (`OraclePreferenceTask.oracleScore`) as a judge.
extension OraclePreferenceTask: ResponseJudge {
    public func score(prompts: [String], responses: [String]) throws -> [Double] {
        guard prompts.count == responses.count else { throw DataError("\(prompts.count) prompts but \(responses.count) responses") }
        return zip(prompts, responses).map { Self.oracleScore(prompt: $0, response: $1) }
    }
}

/// One or more score models judging together: each scores every (prompt, response) and `reduction` turns the
/// members' scores into one. The min and mean − k·std reductions are the conservative ensembles of reward-model
/// ensembling against over-optimisation (Coste et al. 2024: worst-case and uncertainty-weighted optimisation).
///
/// A text is scored as the reward trainer saw it: the tokenizer's encoding of prompt + response (special tokens
/// added) followed by the model's EOS, read at its last token.
public struct RewardEnsemble: ResponseJudge {
    /// How the members' scores become one.
    public enum Reduction: Sendable, Equatable {
        /// The members' mean.
        case mean
        /// The lowest member score (worst case).
        case min
        /// mean − k × standard deviation over the members (the population deviation, so one member gives its own
        /// score).
        case meanMinusStd(Double)
    }

    /// The score models (each with a one-label score head and a tokenizer).
    public let models: [LanguageModel]
    public var reduction: Reduction
    /// Sequences per forward pass.
    public var batchSize = 32
    /// Where each sequence is scored: its last token (the EOS, as `RewardTrainer` trains), or transformers' rule
    /// (`.lastNonPadToken`) for models trained by TRL with pad = EOS, which read the token before the EOS.
    public var readout: ScoreReadout = .lastRealToken

    /// An ensemble of `models`; throws when one has no one-label score head or no tokenizer, or there is none.
    public init(models: [LanguageModel], reduction: Reduction = .mean) throws {
        guard !models.isEmpty else { throw DataError("a reward ensemble needs at least one score model") }
        for model in models {
            guard model.scoreHead?.labels == 1 else {
                throw DataError("\(model.directory.path): not a reward model (a …ForSequenceClassification directory with one label, or a reward adapter)")
            }
            guard model.tokenizer != nil else { throw DataError("\(model.directory.path): the reward model has no tokenizer.json") }
        }
        self.models = models
        self.reduction = reduction
    }

    /// Loads each directory with `LanguageModel.scoreModel(at:)`.
    public init(directories: [URL], reduction: Reduction = .mean, dtype: DType = .float32) throws {
        try self.init(models: directories.map { try LanguageModel.scoreModel(at: $0, dtype: dtype) }, reduction: reduction)
    }

    /// Every member's scores, [member][pair].
    public func memberScores(prompts: [String], responses: [String]) throws -> [[Double]] {
        guard prompts.count == responses.count else { throw DataError("\(prompts.count) prompts but \(responses.count) responses") }
        return models.map { model in
            let tokenizer = model.tokenizer!
            let eos = model.eosTokenIDs.first.map { [$0] } ?? []
            let sequences = zip(prompts, responses).map { tokenizer.encode($0 + $1, addSpecialTokens: true) + eos }
            let wasTraining = model.decoder.isTraining
            for module in model.modules { module.eval() }
            defer { for module in model.modules { module.train(wasTraining) } }
            var scores: [Double] = []
            withInferenceMode {
                for start in stride(from: 0, to: sequences.count, by: Swift.max(1, batchSize)) {
                    let chunk = Array(sequences[start..<Swift.min(start + batchSize, sequences.count)])
                    let batch = TokenBatch(chunk, padding: .right, padID: model.padTokenID)
                    scores += model.scores(batch, readout: readout).to(dtype: .float64).squeezed(-1).doubles
                }
            }
            return scores
        }
    }

    /// The reduced score of each (prompt, response).
    public func score(prompts: [String], responses: [String]) throws -> [Double] {
        Self.reduce(try memberScores(prompts: prompts, responses: responses), reduction)
    }

    /// Reduces member scores [member][pair] to one score per pair.
    public static func reduce(_ scores: [[Double]], _ reduction: Reduction) -> [Double] {
        guard let count = scores.first?.count else { return [] }
        precondition(scores.allSatisfy { $0.count == count }, "every member scores every pair")
        return (0..<count).map { j in
            let column = scores.map { $0[j] }
            let mean = column.reduce(0, +) / Double(column.count)
            switch reduction {
            case .mean: return mean
            case .min: return column.min()!
            case .meanMinusStd(let k):
                let variance = column.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(column.count)
                return mean - k * variance.squareRoot()
            }
        }
    }
}

extension LanguageModel {
    /// Loads a reward (score) model: a `…ForSequenceClassification` directory, or a PEFT adapter directory written
    /// by `RewardTrainer.saveModel` (LoRA factors plus the score head under PEFT's `modules_to_save` convention),
    /// put on its base model (`base` when given, else adapter_config.json's `base_model_name_or_path`).
    public static func scoreModel(at directory: URL, base: URL? = nil, dtype: DType = .float32) throws -> LanguageModel {
        let adapterConfig = directory.appendingPathComponent("adapter_config.json")
        guard FileManager.default.fileExists(atPath: adapterConfig.path) else {
            let model = try LanguageModel(directory: directory, dtype: dtype)
            guard model.scoreHead?.labels == 1 else {
                throw ModelLoadingError("\(directory.path): not a reward model (config.json's architectures name no …ForSequenceClassification with one label)")
            }
            return model
        }
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: adapterConfig)) as? [String: Any]
        guard let basePath = base?.path ?? object?["base_model_name_or_path"] as? String else {
            throw ModelLoadingError("\(adapterConfig.path): no base_model_name_or_path; give the base model's directory")
        }
        guard let saved = object?["modules_to_save"] as? [String], saved.contains("score") else {
            throw ModelLoadingError("\(adapterConfig.path): modules_to_save does not hold \"score\", so the adapter carries no score head (a causal-LM adapter, not a reward model)")
        }
        let model = try LanguageModel(directory: URL(fileURLWithPath: basePath), dtype: dtype, scoreLabels: 1)
        try model.addAdapters(try LoRAConfiguration(directory: directory))
        let file = try SafeTensorsFile(directory.appendingPathComponent("adapter_model.safetensors"))
        let prefix = "base_model.model."
        func isHead(_ key: String) -> Bool { key.hasPrefix(prefix + "score.") }
        let report = try model.decoder.load(safetensors: [file], mapping: { key in
            guard !isHead(key) else { return nil }
            let name = key.hasPrefix(prefix) ? String(key.dropFirst(prefix.count)) : key
            return name.replacingOccurrences(of: ".lora_A.default.", with: ".lora_A.").replacingOccurrences(of: ".lora_B.default.", with: ".lora_B.")
        }, strict: false)
        if !report.unexpected.isEmpty {
            throw ModelLoadingError("\(file.url.path): tensors the adapted model does not have: \(report.unexpected.prefix(5).joined(separator: ", "))")
        }
        let missing = report.missing.filter { $0.contains(".lora_A.") || $0.contains(".lora_B.") }
        if !missing.isEmpty { throw ModelLoadingError("\(file.url.path): no values for \(missing.prefix(5).joined(separator: ", "))") }
        do {
            // PEFT files hold the trained head as `score.weight` (older writers: `score.modules_to_save.default.weight`).
            try model.scoreHead!.load(safetensors: [file], mapping: { key in
                [prefix + "score.weight", prefix + "score.modules_to_save.default.weight"].contains(key) ? "score.weight" : nil
            })
        } catch let error as StateDictError {
            throw ModelLoadingError("\(file.url.path): the score head: \(error.description)")
        }
        // New adapter modules start in training mode (their dropout on): a loaded model scores in eval mode.
        for module in model.modules { module.freeze(); module.eval() }
        return model
    }
}
