import Foundation
import LanguageModels

/// The offline preference methods one trainer runs: the DPO family (any list of `PreferenceLoss`es), and the
/// methods that need other data or no reference, each behind its own command.
public enum PreferenceMethod: String, Sendable, CaseIterable {
    /// `proxima align dpo`: the pairwise and listwise losses of `PreferenceLoss`, weighted as `loss_weights`.
    case dpo
    /// `proxima align orpo`: ORPO (Hong, Lee, Thorne 2024): NLL on chosen + λ·odds-ratio term, no reference.
    case orpo
    /// `proxima align simpo`: SimPO (Meng, Xia, Chen 2024): length-normalised margin loss, no reference.
    case simpo
    /// `proxima align kto`: KTO (Ethayarajh et al. 2024) on unpaired, labelled responses.
    case kto

    /// Whether the method compares the policy with a reference model.
    public func usesReference(_ losses: [PreferenceLoss]) -> Bool {
        switch self {
        case .dpo: losses.contains { $0.usesReference }
        case .kto: true
        case .orpo, .simpo: false
        }
    }
}

/// The settings of a preference-optimisation run under TRL's `DPOConfig` names (ORPO/CPO/KTO names for those
/// methods), TRL's defaults unless noted. The optimisation settings shared with SFT (batch size, learning rate,
/// schedule, epochs, logging, checkpoints, LoRA) are `training`'s; flags are the same names in kebab-case.
public struct PreferenceConfiguration: Sendable {
    public var method: PreferenceMethod
    /// Batch size, learning rate (TRL's DPO default 1e-6), schedule, epochs/steps, clipping, logging, saving, seed, LoRA.
    public var training = SFTConfiguration()
    /// `loss_type`: the objectives, summed with `loss_weights`.
    public var lossTypes: [PreferenceLoss] = [.sigmoid]
    /// `loss_weights`: one per loss type (nil: all 1).
    public var lossWeights: [Double]? = nil
    /// β, label smoothing and the other objectives' parameters (`beta` is ORPO's λ and SimPO's β too).
    public var parameters = PreferenceLossParameters()
    /// `max_length`, `max_prompt_length`, `max_completion_length`, `truncation_mode`.
    public var data = PreferenceDataOptions()
    /// `precompute_ref_log_probs`: score the data with the reference once, before training, and cache the result on
    /// disk (keyed by the reference's weights and the tokenised data), so later runs skip it.
    public var precomputeRefLogProbs = false
    /// `disable_dropout`: no dropout in the policy (LoRA's included), as TRL's default.
    public var disableDropout = true
    /// Score each pair in one row with its prompt shared by the two responses (the prompt runs through the model
    /// once; log-probabilities equal those of the two sequences apart). Proxima's own setting, on by default.
    public var sharePrompts = true
    /// SimPO's target margin γ (CPO's `simpo_gamma`).
    public var simpoGamma = 0.5
    /// KTO's `desirable_weight` and `undesirable_weight`.
    public var desirableWeight = 1.0
    public var undesirableWeight = 1.0

    public init(method: PreferenceMethod = .dpo) {
        self.method = method
        training.learningRate = 1e-6
        if method == .simpo { parameters.beta = 2.0 }
    }

    /// The keys this configuration sets itself (the rest go to `training`).
    static let ownKeys: Set<String> = [
        "loss_type", "loss_weights", "beta", "label_smoothing", "ipo_length_normalize", "slic_delta", "slic_lambda_reg",
        "pro_sft_weight", "pro_use_temperature", "pro_eps", "pro_sft_index", "max_length", "max_prompt_length",
        "max_completion_length", "truncation_mode", "precompute_ref_log_probs", "disable_dropout", "simpo_gamma",
        "desirable_weight", "undesirable_weight", "share_prompts",
    ]
    /// SFT settings that mean nothing for preference data.
    static let sftOnlyKeys: Set<String> = ["packing", "completion_only_loss", "assistant_only_loss", "dataset_text_field"]
    /// TRL keys that select what Proxima always does, or name things given elsewhere.
    static let acceptedKeys: Set<String> = ["ref_model_init_kwargs", "model_init_kwargs", "padding_free", "pad_to_multiple_of",
                                            "precompute_ref_batch_size", "generate_during_eval", "dataset_num_proc", "f_divergence_type"]

    /// Sets `key` (snake_case) from `value`; `source` names the file or flag in errors.
    public mutating func set(_ key: String, _ value: SFTConfiguration.Value, source: String) throws {
        func fail(_ error: Error) -> DataError { DataError("\(source): \((error as? DataError)?.message ?? "\(error)")") }
        if Self.sftOnlyKeys.contains(key) { throw DataError("\(source): '\(key)' is an SFT setting; preference data is not packed or masked that way") }
        if Self.acceptedKeys.contains(key) { return }
        guard Self.ownKeys.contains(key) else {
            do { try training.set(key, value, source: source) } catch let error as DataError {
                if error.message.contains("unknown SFT setting") {
                    let known = (Self.ownKeys.union(SFTConfiguration.setters.keys).subtracting(Self.sftOnlyKeys)).sorted().joined(separator: ", ")
                    throw DataError("\(source): unknown preference setting '\(key)' (known: \(known))")
                }
                throw error
            }
            return
        }
        do {
            switch key {
            case "loss_type":
                let names = try listValue(value, key)
                guard !names.isEmpty else { throw DataError("loss_type: give at least one loss") }
                lossTypes = try names.map { name in
                    guard let loss = PreferenceLoss(rawValue: name) else {
                        throw DataError("loss_type: unknown loss '\(name)' (known: \(PreferenceLoss.allCases.map(\.rawValue).joined(separator: ", ")))")
                    }
                    return loss
                }
            case "loss_weights":
                if case .null = value { lossWeights = nil; return }
                lossWeights = try listValue(value, key).map { item in
                    guard let weight = Double(item) else { throw DataError("loss_weights: '\(item)' is not a number") }
                    return weight
                }
            case "beta": parameters.beta = try doubleValue(value, key)
            case "label_smoothing": parameters.labelSmoothing = try doubleValue(value, key)
            case "ipo_length_normalize": parameters.ipoLengthNormalize = try boolValue(value, key)
            case "slic_delta": parameters.slicDelta = try doubleValue(value, key)
            case "slic_lambda_reg": parameters.slicRegularization = try doubleValue(value, key)
            case "pro_sft_weight": parameters.proSFTWeight = try doubleValue(value, key)
            case "pro_use_temperature": parameters.proUseTemperature = try boolValue(value, key)
            case "pro_eps": parameters.proEpsilon = try doubleValue(value, key)
            case "pro_sft_index": parameters.proSFTIndex = try intValue(value, key)
            case "max_length": data.maxLength = try optionalInt(value, key)
            case "max_prompt_length": data.maxPromptLength = try optionalInt(value, key)
            case "max_completion_length": data.maxCompletionLength = try optionalInt(value, key)
            case "truncation_mode":
                let name = try stringValue(value, key)
                guard let mode = PreferenceDataOptions.TruncationMode(rawValue: name) else {
                    throw DataError("truncation_mode: expected keep_start or keep_end, got '\(name)'")
                }
                data.truncationMode = mode
            case "precompute_ref_log_probs": precomputeRefLogProbs = try boolValue(value, key)
            case "disable_dropout": disableDropout = try boolValue(value, key)
            case "simpo_gamma": simpoGamma = try doubleValue(value, key)
            case "share_prompts": sharePrompts = try boolValue(value, key)
            case "desirable_weight": desirableWeight = try doubleValue(value, key)
            case "undesirable_weight": undesirableWeight = try doubleValue(value, key)
            default: break
            }
        } catch { throw fail(error) }
    }

    private func optionalInt(_ value: SFTConfiguration.Value, _ key: String) throws -> Int? {
        if case .null = value { return nil }
        return try intValue(value, key)
    }

    /// Reads a YAML or JSON file of TRL's snake_case keys; returns the model, data and output paths it names.
    @discardableResult
    public mutating func load(file url: URL) throws -> [String: String] {
        let (values, paths) = try SFTConfiguration.readSettings(url)
        for (key, value) in values { try set(key, value, source: url.path) }
        return paths
    }

    /// Checks ranges and combinations; errors name the setting.
    public func validate() throws {
        try training.validate()
        if let weights = lossWeights, weights.count != lossTypes.count {
            throw DataError("loss_weights: \(weights.count) weights for \(lossTypes.count) loss types (\(lossTypes.map(\.rawValue).joined(separator: ",")))")
        }
        if let weights = lossWeights, weights.contains(where: { !$0.isFinite }) { throw DataError("loss_weights: every weight must be a finite number") }
        let listwise = lossTypes.filter(\.isListwise)
        if !listwise.isEmpty && listwise.count != lossTypes.filter({ $0 != .sft }).count {
            throw DataError("loss_type: listwise losses (\(listwise.map(\.rawValue).joined(separator: ","))) train on ranked lists and cannot be combined with pairwise ones (sft may join them: the NLL of each list's best response)")
        }
        if method == .dpo { for loss in lossTypes { try parameters.validate(for: loss) } }
        if !(parameters.beta > 0) { throw DataError("beta must be positive, got \(parameters.beta)") }
        for (name, value) in [("max_length", data.maxLength), ("max_prompt_length", data.maxPromptLength), ("max_completion_length", data.maxCompletionLength)] {
            if let value, value < (name == "max_length" ? 2 : 1) { throw DataError("\(name) must be at least \(name == "max_length" ? 2 : 1), got \(value)") }
        }
        if desirableWeight < 0 || undesirableWeight < 0 { throw DataError("desirable_weight and undesirable_weight must be ≥ 0") }
        if method == .kto && training.perDeviceTrainBatchSize < 2 {
            throw DataError("per_device_train_batch_size must be at least 2 for KTO (its KL estimate pairs each prompt with another example's response)")
        }
    }

    /// The settings as a JSON object under their snake_case names (written to the run directory and checkpoints).
    public var json: [String: Any] {
        var object = training.json
        for key in Self.sftOnlyKeys { object[key] = nil }
        object["max_length"] = data.maxLength.map { $0 as Any } ?? NSNull()
        object["max_prompt_length"] = data.maxPromptLength.map { $0 as Any } ?? NSNull()
        object["max_completion_length"] = data.maxCompletionLength.map { $0 as Any } ?? NSNull()
        object["truncation_mode"] = data.truncationMode.rawValue
        object["method"] = method.rawValue
        object["loss_type"] = lossTypes.map(\.rawValue)
        object["loss_weights"] = lossWeights.map { $0 as Any } ?? NSNull()
        object["beta"] = parameters.beta
        object["label_smoothing"] = parameters.labelSmoothing
        object["ipo_length_normalize"] = parameters.ipoLengthNormalize
        object["slic_delta"] = parameters.slicDelta
        object["slic_lambda_reg"] = parameters.slicRegularization
        object["pro_sft_weight"] = parameters.proSFTWeight
        object["pro_use_temperature"] = parameters.proUseTemperature
        object["pro_eps"] = parameters.proEpsilon
        object["pro_sft_index"] = parameters.proSFTIndex
        object["precompute_ref_log_probs"] = precomputeRefLogProbs
        object["disable_dropout"] = disableDropout
        object["simpo_gamma"] = simpoGamma
        object["share_prompts"] = sharePrompts
        object["desirable_weight"] = desirableWeight
        object["undesirable_weight"] = undesirableWeight
        return object
    }
}
