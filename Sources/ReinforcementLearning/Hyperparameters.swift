import Foundation
import NeuralNetworks
import Yams

/// The on-policy algorithms.
public enum Algorithm: String, Codable, CaseIterable, Sendable {
    /// Proximal Policy Optimization (clipped surrogate).
    case ppo
    /// Synchronous advantage actor-critic.
    case a2c
    /// REINFORCE with a learned baseline.
    case reinforce
    /// On-policy Mirror Descent Policy Optimization.
    case mdpo
}

/// A number, or RL Zoo's `lin_<value>`: decays linearly from the value to 0 as training progresses.
public enum ScheduledValue: Codable, Equatable, Sendable, CustomStringConvertible {
    case constant(Double)
    case linear(Double)

    /// The value with `progressRemaining` = 1 − steps done / total steps (Stable-Baselines3's convention).
    public func value(progressRemaining: Double) -> Double {
        switch self {
        case .constant(let v): return v
        case .linear(let v): return v * progressRemaining
        }
    }

    public var initial: Double {
        switch self { case .constant(let v), .linear(let v): return v }
    }

    public var description: String {
        switch self {
        case .constant(let v): return "\(v)"
        case .linear(let v): return "lin_\(v)"
        }
    }

    init?(any value: Any) {
        if let d = number(value) { self = .constant(d); return }
        if let s = value as? String, s.hasPrefix("lin_"), let d = Double(s.dropFirst(4)) { self = .linear(d); return }
        return nil
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let d = try? c.decode(Double.self) { self = .constant(d); return }
        let s = try c.decode(String.self)
        guard let v = ScheduledValue(any: s) else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected a number or lin_<number>, got \(s)") }
        self = v
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .constant(let v): try c.encode(v)
        case .linear: try c.encode(description)
        }
    }
}

/// Everything a training run needs, with Stable-Baselines3's hyperparameter names (the JSON/YAML keys).
///
/// Where SB3 and CleanRL differ we follow SB3 and say so:
/// - learning rate and clip range are constant unless given as `lin_<value>` (CleanRL anneals the rate by default);
/// - `clip_range_vf` is off (CleanRL clips the value loss with the policy ε);
/// - the value loss is `mean((V − R)²)` without CleanRL's ½ (`value_loss: cleanrl` gives CleanRL's form);
/// - `ent_coef` is 0 (CleanRL's discrete default is 0.01);
/// - truncated episodes bootstrap from the critic's value of the final observation (CleanRL treats them as ended).
public struct OnPolicyConfig: Codable, Equatable, Sendable {
    public var algorithm: Algorithm
    /// Environment id from the registry.
    public var env: String
    public var seed: UInt64 = 0
    /// Parallel environments.
    public var nEnvs = 1
    /// Total environment steps (all environments together).
    public var nTimesteps = 1_000_000
    /// Steps per environment per rollout.
    public var nSteps = 2048
    /// Minibatch size (PPO, MDPO).
    public var batchSize = 64
    /// Passes over each rollout (PPO, MDPO).
    public var nEpochs = 10
    public var gamma = 0.99
    /// GAE λ (1 gives n-step / Monte-Carlo returns).
    public var gaeLambda = 0.95
    public var learningRate: ScheduledValue = .constant(3e-4)
    /// PPO's ε.
    public var clipRange: ScheduledValue = .constant(0.2)
    /// Value clipping range; nil turns value clipping off.
    public var clipRangeVf: Double?
    /// Standardise advantages per minibatch (PPO, A2C) or per batch (REINFORCE, MDPO).
    public var normalizeAdvantage = true
    public var entCoef = 0.0
    public var vfCoef = 0.5
    public var maxGradNorm = 0.5
    /// Stop an update's epochs once the approximate KL (k3) exceeds 1.5 × target_kl; nil never stops.
    public var targetKL: Double?
    /// Normalise observations and rewards with running statistics (SB3's VecNormalize; obs and rewards clipped at ±10).
    public var normalize = false
    public var policyKwargs = PolicyOptions()
    public var valueLoss: ValueLossVariant = .sb3
    /// Adam's ε (SB3 uses 1e-5).
    public var adamEps = 1e-5
    /// A2C: RMSprop instead of Adam (SB3's default), with this ε and α = 0.99.
    public var useRmsProp = false
    public var rmsPropEps = 1e-5
    /// Save a checkpoint every this many updates (and at the end).
    public var checkpointInterval = 10
    /// How PPO computes a minibatch's gradient; each faster path is used where it applies and falls back to the
    /// next. Not a hyperparameter; not saved.
    var ppoGradients: PPOGradientPath = .fusedStep

    enum CodingKeys: String, CodingKey, CaseIterable {
        case algorithm = "algo", env, seed, nEnvs = "n_envs", nTimesteps = "n_timesteps", nSteps = "n_steps",
             batchSize = "batch_size", nEpochs = "n_epochs", gamma, gaeLambda = "gae_lambda", learningRate = "learning_rate",
             clipRange = "clip_range", clipRangeVf = "clip_range_vf", normalizeAdvantage = "normalize_advantage",
             entCoef = "ent_coef", vfCoef = "vf_coef", maxGradNorm = "max_grad_norm", targetKL = "target_kl",
             normalize, policyKwargs = "policy_kwargs", valueLoss = "value_loss", adamEps = "adam_eps",
             useRmsProp = "use_rms_prop", rmsPropEps = "rms_prop_eps", checkpointInterval = "checkpoint_interval"
    }

    /// The settings keys accepted in YAML files and `--set` (besides RL Zoo's informational `policy`).
    public static var keys: [String] { CodingKeys.allCases.map(\.rawValue).filter { $0 != "algo" && $0 != "env" } + ["policy"] }

    /// Stable-Baselines3's defaults for `algorithm`.
    public init(algorithm: Algorithm, env: String) {
        self.algorithm = algorithm
        self.env = env
        switch algorithm {
        case .ppo, .mdpo:
            break
        case .a2c:
            nSteps = 5
            learningRate = .constant(7e-4)
            gaeLambda = 1
            normalizeAdvantage = false
            useRmsProp = true
            checkpointInterval = 500
        case .reinforce:
            nSteps = 500
            gaeLambda = 1
            learningRate = .constant(1e-3)
            checkpointInterval = 20
        }
    }

    /// Number of updates the run will make.
    public var updates: Int { Swift.max(1, nTimesteps / (nSteps * nEnvs)) }

    /// Checks ranges and cross-field rules; the message names the field.
    public func validate() throws {
        func positive(_ v: Int, _ key: String) throws { if v <= 0 { throw ConfigurationError("\(key) must be positive, got \(v)") } }
        try positive(nEnvs, "n_envs")
        try positive(nSteps, "n_steps")
        try positive(nTimesteps, "n_timesteps")
        try positive(batchSize, "batch_size")
        try positive(nEpochs, "n_epochs")
        try positive(checkpointInterval, "checkpoint_interval")
        if !(0...1).contains(gamma) { throw ConfigurationError("gamma must be in [0, 1], got \(gamma)") }
        if !(0...1).contains(gaeLambda) { throw ConfigurationError("gae_lambda must be in [0, 1], got \(gaeLambda)") }
        if learningRate.initial <= 0 { throw ConfigurationError("learning_rate must be positive, got \(learningRate)") }
        if clipRange.initial <= 0 { throw ConfigurationError("clip_range must be positive, got \(clipRange)") }
        if let c = clipRangeVf, c <= 0 { throw ConfigurationError("clip_range_vf must be positive, got \(c)") }
        if maxGradNorm <= 0 { throw ConfigurationError("max_grad_norm must be positive, got \(maxGradNorm)") }
        if let kl = targetKL, kl <= 0 { throw ConfigurationError("target_kl must be positive, got \(kl)") }
        if nTimesteps < nSteps * nEnvs {
            throw ConfigurationError("n_timesteps (\(nTimesteps)) is smaller than one rollout (n_steps × n_envs = \(nSteps * nEnvs))")
        }
        if policyKwargs.netArch.contains(where: { $0 <= 0 }) { throw ConfigurationError("policy_kwargs.net_arch sizes must be positive, got \(policyKwargs.netArch)") }
    }

    // MARK: Applying settings

    /// Applies one setting; `source` names where it came from (file and line, or the flag).
    public mutating func set(_ key: String, _ value: Any, source: String) throws {
        func fail(_ expected: String) -> ConfigurationError {
            ConfigurationError("\(source): \(key) expects \(expected), got \(String(describing: value))")
        }
        func int() throws -> Int {
            guard let d = number(value), d == d.rounded(), Swift.abs(d) < 1e15 else { throw fail("an integer") }
            return Int(d)
        }
        func double() throws -> Double { guard let d = number(value) else { throw fail("a number") }; return d }
        func optionalDouble() throws -> Double? { isNull(value) ? nil : try double() }
        func bool() throws -> Bool {
            if let b = value as? Bool { return b }
            if let s = value as? String, let b = ["true": true, "false": false, "True": true, "False": false][s] { return b }
            throw fail("true or false")
        }
        func scheduled() throws -> ScheduledValue { guard let v = ScheduledValue(any: value) else { throw fail("a number or lin_<number>") }; return v }
        switch key {
        case "seed": seed = UInt64(try int())
        case "n_envs": nEnvs = try int()
        case "n_timesteps": nTimesteps = try int()
        case "n_steps": nSteps = try int()
        case "batch_size": batchSize = try int()
        case "n_epochs": nEpochs = try int()
        case "gamma": gamma = try double()
        case "gae_lambda": gaeLambda = try double()
        case "learning_rate": learningRate = try scheduled()
        case "clip_range": clipRange = try scheduled()
        case "clip_range_vf": clipRangeVf = try optionalDouble()
        case "normalize_advantage": normalizeAdvantage = try bool()
        case "ent_coef": entCoef = try double()
        case "vf_coef": vfCoef = try double()
        case "max_grad_norm": maxGradNorm = try double()
        case "target_kl": targetKL = try optionalDouble()
        case "normalize": normalize = try bool()
        case "value_loss":
            guard let s = value as? String, let v = ValueLossVariant(rawValue: s) else { throw fail("one of \(ValueLossVariant.allCases.map(\.rawValue))") }
            valueLoss = v
        case "adam_eps": adamEps = try double()
        case "use_rms_prop": useRmsProp = try bool()
        case "rms_prop_eps": rmsPropEps = try double()
        case "checkpoint_interval": checkpointInterval = try int()
        case "policy":
            guard (value as? String) == "MlpPolicy" else { throw fail("MlpPolicy (the only built-in policy)") }
        case "policy_kwargs":
            guard let map = value as? [String: Any] else { throw fail("a mapping (net_arch, activation_fn, ortho_init, log_std_init, share_features_extractor)") }
            for (k, v) in map {
                switch k {
                case "net_arch":
                    guard let sizes = (v as? [Any])?.compactMap({ number($0).map(Int.init) }), sizes.count == (v as? [Any])?.count else { throw fail("net_arch as a list of integers") }
                    policyKwargs.netArch = sizes
                case "activation_fn":
                    let name = (v as? String ?? "").lowercased().replacingOccurrences(of: "nn.", with: "").replacingOccurrences(of: "th.", with: "")
                    guard let kind = ActivationKind(rawValue: name) else { throw fail("activation_fn one of \(ActivationKind.allCases.map(\.rawValue))") }
                    policyKwargs.activation = kind
                case "ortho_init":
                    guard let b = v as? Bool else { throw fail("ortho_init true or false") }
                    policyKwargs.orthoInit = b
                case "log_std_init":
                    guard let d = number(v) else { throw fail("log_std_init a number") }
                    policyKwargs.logStdInit = d
                case "share_features_extractor":
                    guard let b = v as? Bool else { throw fail("share_features_extractor true or false") }
                    policyKwargs.sharedTrunk = b
                default:
                    throw ConfigurationError("\(source): unknown key policy_kwargs.\(k)\(suggestion(k, ["net_arch", "activation_fn", "ortho_init", "log_std_init", "share_features_extractor"]))")
                }
            }
        default:
            throw ConfigurationError("\(source): unknown key '\(key)'\(suggestion(key, Self.keys))")
        }
    }

    /// Applies the settings for `env` from an RL-Zoo-style YAML document (env id → settings). Returns false when the
    /// document has no entry for the environment.
    @discardableResult
    public mutating func apply(yaml text: String, file: String) throws -> Bool {
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw ConfigurationError("\(file): not valid YAML: \(error)")
        }
        guard let root = node?.mapping else { throw ConfigurationError("\(file): expected a mapping of environment ids to settings") }
        guard let entry = root.first(where: { $0.key.string == env }) else { return false }
        guard let settings = entry.value.mapping else {
            throw ConfigurationError("\(file):\(entry.key.mark.map { "\($0.line)" } ?? "?"): settings of \(env) must be a mapping")
        }
        for (key, value) in settings {
            let line = key.mark.map { "\($0.line)" } ?? "?"
            try set(key.string ?? "", plain(value), source: "\(file):\(line)")
        }
        return true
    }

    /// Applies `key=value` overrides from the command line (values parsed as YAML scalars).
    public mutating func apply(overrides: [String]) throws {
        for item in overrides {
            guard let eq = item.firstIndex(of: "=") else { throw ConfigurationError("--set expects key=value, got '\(item)'") }
            let key = String(item[..<eq]), text = String(item[item.index(after: eq)...])
            let value = (try? Yams.compose(yaml: text)).flatMap { $0.map(plain) } ?? text
            try set(key, value, source: "--set \(key)")
        }
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }
}

/// Converts a YAML node into plain Swift values (numbers as Double, booleans, strings, arrays, dictionaries, NSNull).
func plain(_ node: Node) -> Any {
    switch node {
    case .scalar(let s):
        if s.tag.description.hasSuffix(":null") || ["null", "~", "None", ""].contains(s.string) && s.style == .plain { return NSNull() }
        if s.style == .plain {
            if let b = ["true": true, "false": false, "True": true, "False": false][s.string] { return b }
            if let d = Double(s.string) { return d }
        } else if s.tag.description.hasSuffix(":float"), let d = Double(s.string) {
            return d
        }
        return s.string
    case .mapping(let m): return Dictionary(m.map { ($0.key.string ?? "", plain($0.value)) }, uniquingKeysWith: { $1 })
    case .sequence(let seq): return seq.map(plain)
    }
}

func number(_ value: Any) -> Double? {
    if value is Bool { return nil }
    if let d = value as? Double { return d }
    if let i = value as? Int { return Double(i) }
    if let s = value as? String { return Double(s) }
    return nil
}

func isNull(_ value: Any) -> Bool { value is NSNull || (value as? String).map { ["null", "None", "~"].contains($0) } == true }

/// " (did you mean 'x'?)" for the closest known key within a small edit distance.
func suggestion(_ key: String, _ candidates: [String]) -> String {
    let best = candidates.map { ($0, editDistance(key, $0)) }.min { $0.1 < $1.1 }
    guard let (candidate, distance) = best, distance <= Swift.max(2, key.count / 3) else { return "" }
    return " (did you mean '\(candidate)'?)"
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var previous = Array(0...b.count)
    for i in 1...Swift.max(1, a.count) where !a.isEmpty {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...Swift.max(1, b.count) where !b.isEmpty {
            current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return a.isEmpty ? b.count : previous[b.count]
}
