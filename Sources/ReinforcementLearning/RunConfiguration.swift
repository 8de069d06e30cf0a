import Environments
import Foundation
import NeuralNetworks
import Yams

/// The largest settings file read (hyperparameter files are a few kilobytes).
let maximumSettingsFileBytes = 16 << 20

/// A settings file's text, or an error naming the file and saying why in words.
func readSettingsFile(_ url: URL) throws -> String {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
        throw ConfigurationError("\(url.path): no such file")
    }
    if isDirectory.boolValue { throw ConfigurationError("\(url.path): is a directory, not a settings file") }
    guard let handle = FileHandle(forReadingAtPath: url.path) else { throw ConfigurationError("\(url.path): cannot read (permission denied)") }
    defer { try? handle.close() }
    let data = (try? handle.read(upToCount: maximumSettingsFileBytes + 1)) ?? Data()
    if data.count > maximumSettingsFileBytes {
        throw ConfigurationError("\(url.path): larger than \(maximumSettingsFileBytes >> 20) MB; not a settings file")
    }
    guard let text = String(data: data, encoding: .utf8) else { throw ConfigurationError("\(url.path): not UTF-8 text") }
    guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw ConfigurationError("\(url.path): empty") }
    return text
}

extension Algorithm {
    /// Updates between checkpoints when a file does not say (`checkpoint_interval`).
    public var defaultCheckpointInterval: Int {
        switch self {
        case .ppo, .mdpo: return 10
        case .a2c: return 500
        case .reinforce: return 20
        }
    }
}

/// What `proxima train` resolves before it trains: the environment, the algorithm's configuration, the run's
/// length, checkpoint interval and policy type. Files and flags spell it RL Zoo's way (`n_timesteps`, `n_envs`, …).
public struct RunConfiguration {
    public var environment: String
    public var algorithm: any OnPolicyConfiguration
    /// Environment steps to train (`n_timesteps`).
    public var totalSteps = 1_000_000
    /// Updates between checkpoints (`checkpoint_interval`).
    public var checkpointInterval: Int
    /// The policy type by registered name (`policy`; RL Zoo's `MlpPolicy` is the built-in `MLPActorCritic`).
    public var policy = MLPActorCritic.policyName
    /// A registered custom policy's options (`policy_options`, JSON text).
    public var policyOptions = "{}"

    /// Stable-Baselines3's defaults for `algorithm`.
    public init(algorithm: Algorithm, environment: String) {
        self.environment = environment
        self.algorithm = algorithm.defaultConfiguration
        checkpointInterval = algorithm.defaultCheckpointInterval
    }

    /// A run of `algorithm` as it is configured now.
    public init(algorithm: any OnPolicyConfiguration, environment: String, totalSteps: Int, checkpointInterval: Int,
                policy: String = MLPActorCritic.policyName, policyOptions: String = "{}") {
        self.environment = environment
        self.algorithm = algorithm
        self.totalSteps = totalSteps
        self.checkpointInterval = checkpointInterval
        self.policy = policy
        self.policyOptions = policyOptions
    }

    /// The run's own file keys (the algorithm's come from its configuration).
    static var hyperparameters: [Hyperparameter<RunConfiguration>] { [
        .integer("n_timesteps", \.totalSteps), .integer("checkpoint_interval", \.checkpointInterval),
        Hyperparameter(key: "policy", read: { $0.policy }) { c, v, fail in
            guard let name = v as? String, PolicyRegistry.names.contains(name) else {
                throw fail("a registered policy (\(PolicyRegistry.names.joined(separator: ", ")))")
            }
            c.policy = name
        },
        Hyperparameter(key: "policy_options", read: { $0.policyOptions }) { c, v, fail in
            guard let text = v as? String else { throw fail("JSON text") }
            c.policyOptions = text
        },
    ] }

    /// Every key a file or `--set` may use.
    public var keys: [String] { Self.hyperparameters.map(\.key) + algorithm.hyperparameterKeys }

    /// Applies one setting; `source` names where it came from (file and line, or the flag).
    public mutating func set(_ key: String, _ value: Any, source: String) throws {
        if Self.hyperparameters.contains(where: { $0.key == key }) {
            try Self.hyperparameters.apply(key, value, to: &self, source: source)
        } else if algorithm.hyperparameterKeys.contains(key) {
            try algorithm.set(key, value, source: source)
        } else {
            throw ConfigurationError("\(source): unknown key '\(key)'\(suggestion(key, keys))")
        }
    }

    /// Applies the settings for `environment` from an RL-Zoo-style YAML document (env id → settings). Returns false
    /// when the document has no entry for the environment.
    @discardableResult
    public mutating func apply(yaml text: String, file: String) throws -> Bool {
        try checkNesting(text, source: file)
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw ConfigurationError("\(file): not valid YAML: \(error)")
        }
        guard let root = node?.mapping else { throw ConfigurationError("\(file): expected a mapping of environment ids to settings") }
        guard let entry = root.first(where: { $0.key.string == environment }) else { return false }
        guard let settings = entry.value.mapping else {
            throw ConfigurationError("\(file):\(entry.key.mark.map { "\($0.line)" } ?? "?"): settings of \(environment) must be a mapping")
        }
        for (key, value) in settings {
            try set(key.string ?? "", plain(value), source: "\(file):\(key.mark.map { "\($0.line)" } ?? "?")")
        }
        return true
    }

    /// Applies `key=value` overrides from the command line (values parsed as YAML scalars).
    public mutating func apply(overrides: [String]) throws {
        for item in overrides {
            guard let eq = item.firstIndex(of: "=") else { throw ConfigurationError("--set expects key=value, got '\(item)'") }
            let key = String(item[..<eq]), text = String(item[item.index(after: eq)...])
            try checkNesting(text, source: "--set \(key)")
            let value = (try? Yams.compose(yaml: text)).flatMap { $0.map(plain) } ?? text
            try set(key, value, source: "--set \(key)")
        }
    }

    /// Checks every field and the cross-field rules; the message names the key.
    public func validate() throws {
        try algorithm.validate()
        try requirePositive(totalSteps, "n_timesteps")
        try requirePositive(checkpointInterval, "checkpoint_interval")
        if totalSteps < algorithm.rolloutSize {
            throw ConfigurationError("n_timesteps (\(totalSteps)) is smaller than one rollout (n_steps × n_envs = \(algorithm.rolloutSize))")
        }
    }

    /// Updates the run will make.
    public var updates: Int { Swift.max(1, totalSteps / algorithm.rolloutSize) }

    /// The whole configuration as `config.json` writes it.
    public var fileSettings: [String: Any] {
        var object = algorithm.fileSettings
        for parameter in Self.hyperparameters { object[parameter.key] = parameter.read(self) }
        object["algo"] = type(of: algorithm).algorithm.rawValue
        object["env"] = environment
        return object
    }

    public func json() -> String { jsonText(fileSettings) }

    // MARK: Resolving and reading

    /// The hyperparameter file shipped for `algorithm` (RL Zoo layout), as text.
    public static func bundledYAML(for algorithm: Algorithm) -> (text: String, path: String)? {
        guard let url = Bundle.module.url(forResource: algorithm.rawValue, withExtension: "yml", subdirectory: "hyperparams"),
              let text = try? String(contentsOf: url, encoding: .utf8) else { return nil }
        return (text, "hyperparams/\(algorithm.rawValue).yml")
    }

    /// SB3 defaults, then the shipped settings for `environment`, then `file`'s settings (if given), then `overrides`
    /// (`key=value`, as `--set` gives them), then `settings` (values given by their own flags, each with the flag's
    /// name as its source).
    public static func resolve(algorithm: Algorithm, environment: String, file: URL? = nil, overrides: [String] = [],
                               settings: [(key: String, value: Any, source: String)] = []) throws -> RunConfiguration {
        var config = RunConfiguration(algorithm: algorithm, environment: environment)
        guard let (text, path) = bundledYAML(for: algorithm) else {
            throw ConfigurationError("the shipped hyperparameter file hyperparams/\(algorithm.rawValue).yml is missing from this installation")
        }
        try config.apply(yaml: text, file: path)
        if let file {
            let text = try readSettingsFile(file)
            if file.pathExtension == "json" {
                try checkNesting(text, source: file.path)
                guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                    throw ConfigurationError("\(file.path): not a JSON object")
                }
                let settings = (object[environment] as? [String: Any]) ?? object
                for (key, value) in settings where key != "algo" && key != "env" { try config.set(key, value, source: file.path) }
            } else if try !config.apply(yaml: text, file: file.path) {
                throw ConfigurationError("\(file.path): no settings for \(environment) (the file maps environment ids to settings)")
            }
        }
        try config.apply(overrides: overrides)
        for setting in settings { try config.set(setting.key, setting.value, source: setting.source) }
        try config.validate()
        return config
    }

    /// Checks what `validate` cannot see without the environment: that the policy and rollouts fit in memory. Makes
    /// one environment to learn its sizes.
    public func checkResources() throws {
        let env = try Registry.make(environment)
        let actionSize: Int
        switch env.actionSpace {
        case .discrete(let n, _): actionSize = n
        default: actionSize = env.actionSpace.flatSize
        }
        try algorithm.settings.checkMemory(observationSize: env.observationSpace.flatSize, actionSize: actionSize)
    }

    /// A configuration written by `json()` (a run directory's `config.json`).
    public static func read(_ url: URL) throws -> RunConfiguration {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ConfigurationError("\(url.path): no config.json (is this a run directory?)")
        }
        let data = Data(try readSettingsFile(url).utf8)
        try checkNesting(String(decoding: data, as: UTF8.self), source: url.path)
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let name = object["algo"] as? String, let algorithm = Algorithm(rawValue: name), let environment = object["env"] as? String else {
            throw ConfigurationError("\(url.path): unreadable config (a JSON object with algo and env)")
        }
        var config = RunConfiguration(algorithm: algorithm, environment: environment)
        for (key, value) in object where key != "algo" && key != "env" {
            // The policy type is checked when it is rebuilt: resuming may bring an unregistered type along.
            if key == "policy", let name = value as? String { config.policy = name; continue }
            try config.set(key, value, source: url.path)
        }
        try config.validate()
        return config
    }

    /// The algorithm on `configuration.environmentCount` environments (from `makeEnvironment`, or the registry's
    /// `environment`), with `policy` or the configured policy type.
    public func makeAlgorithm(makeEnvironment: (() throws -> Environment)? = nil, policy: ActorCriticPolicy? = nil) throws -> OnPolicyAlgorithm {
        let make = makeEnvironment ?? { try Registry.make(environment) }
        let environments = VectorEnvironment(try (0..<algorithm.environmentCount).map { _ in try make() }, id: environment)
        var chosen = policy
        if chosen == nil, self.policy != MLPActorCritic.policyName {
            chosen = try PolicyRegistry.rebuild(name: self.policy, observationSpace: environments.observationSpace,
                                                actionSpace: environments.actionSpace, options: policyOptions)
        }
        return try algorithm.makeAlgorithm(environments: environments, policy: chosen)
    }
}
