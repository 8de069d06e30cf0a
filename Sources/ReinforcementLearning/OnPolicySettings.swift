import Environments
import Foundation
import NeuralNetworks
import Training

/// The on-policy algorithms.
public enum Algorithm: String, Codable, CaseIterable, Sendable {
    /// Proximal Policy Optimization (clipped surrogate): `PPO`.
    case ppo
    /// Synchronous advantage actor-critic: `A2C`.
    case a2c
    /// REINFORCE with a learned baseline: `Reinforce`.
    case reinforce
    /// On-policy Mirror Descent Policy Optimization: `MDPO`.
    case mdpo

    /// The algorithm's configuration type, with Stable-Baselines3's defaults.
    public var defaultConfiguration: any OnPolicyConfiguration {
        switch self {
        case .ppo: return PPOConfiguration()
        case .a2c: return A2CConfiguration()
        case .reinforce: return ReinforceConfiguration()
        case .mdpo: return MDPOConfiguration()
        }
    }
}

/// The settings every on-policy algorithm has: rollouts, returns, the optimizer, the network. Each algorithm's
/// configuration holds one and exposes its fields directly (`configuration.gamma`). File keys in comments.
///
/// Defaults are Stable-Baselines3's. Where SB3 and CleanRL differ we follow SB3:
/// - learning rate and clip range are constant unless given as `lin_<value>` (CleanRL anneals the rate by default);
/// - PPO's value clipping (`clip_range_vf`) is off (CleanRL clips the value loss with the policy ε);
/// - the value loss is `mean((V − R)²)` without CleanRL's ½ (`value_loss: cleanrl` gives CleanRL's form);
/// - `ent_coef` is 0 (CleanRL's discrete default is 0.01);
/// - truncated episodes bootstrap from the critic's value of the final observation (CleanRL treats them as ended).
public struct OnPolicySettings: Equatable, Sendable {
    /// Seeds the network's initialisation, the environments and every sampling generator (`seed`).
    public var seed: UInt64 = 0
    /// Parallel environments (`n_envs`).
    public var environmentCount = 1
    /// Steps per environment per rollout (`n_steps`).
    public var rolloutSteps = 2048
    /// Discount factor (`gamma`).
    public var gamma = 0.99
    /// GAE λ; 1 gives n-step / Monte-Carlo returns (`gae_lambda`).
    public var gaeLambda = 0.95
    /// The learning rate, constant or decaying linearly to 0 over the run (`learning_rate`, RL Zoo's `lin_<rate>`).
    public var learningRate: ScheduledValue = 3e-4
    /// Standardise advantages per minibatch (PPO, A2C) or per batch (REINFORCE, MDPO) (`normalize_advantage`).
    public var normalizeAdvantages = true
    /// Weight of the entropy bonus (`ent_coef`).
    public var entropyCoefficient = 0.0
    /// Weight of the value loss (`vf_coef`).
    public var valueCoefficient = 0.5
    /// Global gradient-norm clipping (`max_grad_norm`).
    public var maxGradientNorm = 0.5
    /// Normalise observations and rewards with running statistics, clipped at ±10 (`normalize`, SB3's
    /// `VecNormalize`).
    public var normalizeEnvironment = false
    /// The shape of the built-in `MLPActorCritic` (`policy_kwargs`).
    public var policy = PolicyOptions()
    /// Adam's ε (`adam_eps`; SB3 uses 1e-5).
    public var adamEpsilon = 1e-5
    /// Explore with gSDE (`use_sde`; the policy's option, here under Stable-Baselines3's top-level key).
    public var useSDE: Bool {
        get { policy.useSDE }
        set { policy.useSDE = newValue }
    }
    /// With gSDE, draw new noise matrices every this many steps of a rollout; −1 (or 0) only at the start of each
    /// rollout (`sde_sample_freq`).
    public var sdeSampleFrequency = -1

    public init() {}

    /// The file keys of these settings, bound through `settings` of configuration `C`.
    static func hyperparameters<C: OnPolicyConfiguration>(_: C.Type) -> [Hyperparameter<C>] {
        let base: WritableKeyPath<C, OnPolicySettings> = \C.settings
        func path<T>(_ p: WritableKeyPath<OnPolicySettings, T>) -> WritableKeyPath<C, T> { base.appending(path: p) }
        return [
            .seed("seed", path(\.seed)), .integer("n_envs", path(\.environmentCount)), .integer("n_steps", path(\.rolloutSteps)),
            .number("gamma", path(\.gamma)), .number("gae_lambda", path(\.gaeLambda)),
            .scheduled("learning_rate", path(\.learningRate)), .boolean("normalize_advantage", path(\.normalizeAdvantages)),
            .number("ent_coef", path(\.entropyCoefficient)), .number("vf_coef", path(\.valueCoefficient)),
            .number("max_grad_norm", path(\.maxGradientNorm)), .boolean("normalize", path(\.normalizeEnvironment)),
            .policyOptions("policy_kwargs", path(\.policy)), .number("adam_eps", path(\.adamEpsilon)),
            .boolean("use_sde", path(\.useSDE)), .integer("sde_sample_freq", path(\.sdeSampleFrequency)),
        ]
    }

    /// Checks ranges; the message names the file key.
    func validate() throws {
        try requirePositive(environmentCount, "n_envs", atMost: 1 << 16)
        try requirePositive(rolloutSteps, "n_steps", atMost: 1 << 31)
        let (rollout, overflow) = rolloutSteps.multipliedReportingOverflow(by: environmentCount)
        if overflow || rollout > 1 << 31 {
            throw ConfigurationError("n_steps × n_envs (\(rolloutSteps) × \(environmentCount)) must be at most 2^31 steps per rollout")
        }
        if !(0...1).contains(gamma) { throw ConfigurationError("gamma must be in [0, 1], got \(gamma)") }
        if !(0...1).contains(gaeLambda) { throw ConfigurationError("gae_lambda must be in [0, 1], got \(gaeLambda)") }
        if learningRate.base <= 0 { throw ConfigurationError("learning_rate must be positive, got \(learningRate)") }
        if maxGradientNorm <= 0 { throw ConfigurationError("max_grad_norm must be positive, got \(maxGradientNorm)") }
        if adamEpsilon <= 0 { throw ConfigurationError("adam_eps must be positive, got \(adamEpsilon)") }
        if sdeSampleFrequency < -1 { throw ConfigurationError("sde_sample_freq must be −1 (each rollout) or a number of steps, got \(sdeSampleFrequency)") }
        try policy.checkStateDependentExploration()
        if policy.netArch.contains(where: { $0 <= 0 || $0 > 1 << 20 }) {
            throw ConfigurationError("policy_kwargs.net_arch sizes must be from 1 to 2^20, got \(policy.netArch)")
        }
        if policy.netArch.count > 64 {
            throw ConfigurationError("policy_kwargs.net_arch has \(policy.netArch.count) layers; at most 64")
        }
    }

    /// Bytes training needs at least for `observationSize` and `actionSize` (the parameters with their gradients
    /// and Adam's moments, the rollout's tensors); an estimate from below, to refuse what cannot fit.
    func estimatedBytes(observationSize: Int, actionSize: Int) -> Double {
        let sizes = [Double(observationSize)] + policy.netArch.map(Double.init)
        var weights = 0.0
        for (a, b) in zip(sizes, sizes.dropFirst()) { weights += a * b + b }
        let head = (sizes.last ?? 1) * Double(actionSize + 1)
        let parameters = weights * (policy.sharedTrunk ? 1 : 2) + head
        let rollout = Double(rolloutSteps) * Double(environmentCount) * Double(observationSize + 2 * actionSize + 8)
        return 4 * (5 * parameters + 3 * rollout)
    }

    /// Throws when `estimatedBytes` exceeds the memory this process may use, naming the settings.
    func checkMemory(observationSize: Int, actionSize: Int) throws {
        let needed = estimatedBytes(observationSize: observationSize, actionSize: actionSize)
        let available = Double(MemoryBudget.availableBytes)
        if needed > available {
            throw ConfigurationError("policy_kwargs.net_arch \(policy.netArch) with n_steps × n_envs = \(rolloutSteps) × \(environmentCount) needs at least \(MemoryBudget.describe(needed)) of memory; this process may use \(MemoryBudget.describe(available))")
        }
    }
}

func requirePositive(_ value: Int, _ key: String, atMost limit: Int = Int.max) throws {
    if value <= 0 { throw ConfigurationError("\(key) must be positive, got \(value)") }
    if value > limit { throw ConfigurationError("\(key) must be at most \(limit), got \(value)") }
}

/// An on-policy algorithm's configuration: the shared `OnPolicySettings` (readable and writable as if they were its
/// own fields) and the algorithm's own hyperparameters. `init()` gives Stable-Baselines3's defaults.
@dynamicMemberLookup
public protocol OnPolicyConfiguration: Sendable {
    /// The algorithm class this configuration builds.
    associatedtype Learner: OnPolicyLearner where Learner.Configuration == Self
    static var algorithm: Algorithm { get }
    init()
    var settings: OnPolicySettings { get set }
    /// This algorithm's own file keys (the shared ones are added by `hyperparameters`).
    static var ownHyperparameters: [Hyperparameter<Self>] { get }
    /// Checks this algorithm's own fields.
    func validateOwn() throws
    /// Builds the algorithm over `environments`; nil `policy` builds `MLPActorCritic` from `settings.policy`.
    func makeAlgorithm(environments: VectorEnvironment, policy: ActorCriticPolicy?) throws -> OnPolicyAlgorithm
}

extension OnPolicyConfiguration {
    public func makeAlgorithm(environments: VectorEnvironment, policy: ActorCriticPolicy?) throws -> OnPolicyAlgorithm {
        try Learner(self, environments: environments, policy: policy)
    }

    /// Equal when every hyperparameter is.
    public static func == (a: Self, b: Self) -> Bool { a.isEqual(to: b) }

    public subscript<T>(dynamicMember path: WritableKeyPath<OnPolicySettings, T>) -> T {
        get { settings[keyPath: path] }
        set { settings[keyPath: path] = newValue }
    }

    /// Every file key of this configuration, each bound once.
    public static var hyperparameters: [Hyperparameter<Self>] { OnPolicySettings.hyperparameters(Self.self) + ownHyperparameters }

    /// The file keys this configuration accepts.
    public var hyperparameterKeys: [String] { Self.hyperparameters.map(\.key) }

    /// Sets the hyperparameter `key` (a file or `--set` key) from a YAML/JSON value; `source` names the file and line
    /// or the flag in the error.
    public mutating func set(_ key: String, _ value: Any, source: String) throws {
        try Self.hyperparameters.apply(key, value, to: &self, source: source)
    }

    /// The hyperparameters as a JSON object (file keys).
    public var fileSettings: [String: Any] {
        Dictionary(uniqueKeysWithValues: Self.hyperparameters.map { ($0.key, $0.read(self)) })
    }

    /// Checks every field; the message names the file key.
    public func validate() throws {
        try settings.validate()
        try validateOwn()
    }

    /// The same configuration for `environments` (their count is `environmentCount`).
    func sized(for environments: VectorEnvironment) -> Self {
        var copy = self
        copy.environmentCount = environments.count
        return copy
    }

    /// Environment steps per rollout (all environments).
    public var rolloutSize: Int { settings.rolloutSteps * settings.environmentCount }

    /// Whether two configurations (of any algorithms) set the same values.
    public func isEqual(to other: any OnPolicyConfiguration) -> Bool {
        Self.algorithm == type(of: other).algorithm && jsonText(fileSettings) == jsonText(other.fileSettings)
    }
}
