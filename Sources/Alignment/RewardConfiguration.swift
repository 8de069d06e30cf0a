import Foundation
import LanguageModels

/// The settings of a reward-model run under TRL's `RewardConfig` names, with TRL's defaults unless noted. The
/// optimisation settings shared with SFT (batch sizes, schedule, epochs/steps, clipping, logging, saving, seed, LoRA)
/// are `training`'s; command-line flags are the same names in kebab-case.
public struct RewardConfiguration: Sendable {
    /// Batch size, learning rate (TRL's `RewardConfig` default 1e-4), schedule, epochs/steps, clipping, logging,
    /// saving, seed and LoRA.
    public var training = SFTConfiguration()
    /// `center_rewards_coefficient`: adds c·(r_c + r_r)² per pair, pulling the rewards' mean towards 0 without
    /// changing their differences (Eisenstein et al. 2023; 0.01 is the usual value). nil: off (TRL's default).
    public var centerRewardsCoefficient: Double? = nil
    /// `max_length`: examples with a sequence (prompt + response, EOS included) longer than this are left out, as
    /// TRL filters them; nothing is truncated (a truncated response would be scored at a token it does not end on).
    /// nil: keep every example.
    public var maxLength: Int? = 1024
    /// `disable_dropout`: no dropout in the score model (LoRA's included), as TRL's default.
    public var disableDropout = true

    /// TRL's defaults.
    public init() {
        training.learningRate = 1e-4
    }

    /// How the data files are read: untruncated (long examples are filtered by the trainer, see `maxLength`).
    public var dataOptions: PreferenceDataOptions {
        var options = PreferenceDataOptions()
        options.maxLength = nil
        return options
    }

    /// The keys this configuration sets itself (the rest go to `training`).
    static let ownKeys: Set<String> = ["center_rewards_coefficient", "max_length", "disable_dropout"]
    /// SFT settings that mean nothing for preference data.
    static let sftOnlyKeys: Set<String> = ["packing", "completion_only_loss", "assistant_only_loss", "dataset_text_field"]
    /// TRL keys that select what Proxima always does, or name things given elsewhere.
    static let acceptedKeys: Set<String> = ["model_init_kwargs", "dataset_num_proc", "pad_to_multiple_of", "activation_offloading",
                                            "trust_remote_code"]

    /// Sets `key` (snake_case) from `value`; `source` names the file or flag in errors.
    public mutating func set(_ key: String, _ value: SFTConfiguration.Value, source: String) throws {
        if Self.sftOnlyKeys.contains(key) { throw DataError("\(source): '\(key)' is an SFT setting; reward data is not packed or masked that way") }
        if Self.acceptedKeys.contains(key) { return }
        guard Self.ownKeys.contains(key) else {
            do { try training.set(key, value, source: source) } catch let error as DataError {
                if error.message.contains("unknown SFT setting") {
                    let known = Self.ownKeys.union(SFTConfiguration.setters.keys).subtracting(Self.sftOnlyKeys).sorted().joined(separator: ", ")
                    throw DataError("\(source): unknown reward setting '\(key)' (known: \(known))")
                }
                throw error
            }
            return
        }
        do {
            switch key {
            case "center_rewards_coefficient":
                if case .null = value { centerRewardsCoefficient = nil } else { centerRewardsCoefficient = try doubleValue(value, key) }
            case "max_length":
                if case .null = value { maxLength = nil } else { maxLength = try intValue(value, key) }
            default: disableDropout = try boolValue(value, key)
            }
        } catch let error as DataError {
            throw DataError("\(source): \(error.message)")
        }
    }

    /// Reads a YAML or JSON file of TRL's snake_case keys; returns the model, data and output paths it names.
    @discardableResult
    public mutating func load(file url: URL) throws -> [String: String] {
        let (values, paths) = try SFTConfiguration.readSettings(url)
        for (key, value) in values { try set(key, value, source: url.path) }
        return paths
    }

    /// Checks ranges; errors name the setting.
    public func validate() throws {
        try training.validate()
        if let c = centerRewardsCoefficient, !(c >= 0 && c.isFinite) {
            throw DataError("center_rewards_coefficient must be a finite number ≥ 0 (or null for off), got \(c)")
        }
        if let maxLength, maxLength < 2 { throw DataError("max_length must be at least 2, got \(maxLength)") }
    }

    /// The settings as a JSON object under their snake_case names (written to the run directory and checkpoints).
    public var json: [String: Any] {
        var object = training.json
        for key in Self.sftOnlyKeys { object[key] = nil }
        object["max_length"] = maxLength.map { $0 as Any } ?? NSNull()
        object["center_rewards_coefficient"] = centerRewardsCoefficient.map { $0 as Any } ?? NSNull()
        object["disable_dropout"] = disableDropout
        return object
    }
}
