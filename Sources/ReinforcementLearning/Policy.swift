import Environments
import FastKernels
import Foundation
import NeuralNetworks
import Torch

/// The action distribution a policy outputs for a batch of observations.
public enum PolicyDistribution {
    /// Discrete actions: actions are int64 [B].
    case categorical(Categorical)
    /// MultiDiscrete / MultiBinary actions: one categorical per component; actions are int64 [B, k].
    case multiCategorical([Categorical])
    /// Box actions: diagonal Gaussian; actions are float [B, D].
    case gaussian(DiagonalGaussian)
    /// Box actions explored with gSDE (`use_sde`): a Gaussian whose σ depends on the state, sampled with noise
    /// matrices held between resamplings, optionally tanh-squashed; actions are float [B, D].
    case stateDependent(StateDependentGaussian)

    public func logProb(_ actions: Tensor) -> Tensor {
        switch self {
        case .categorical(let d): return d.logProb(actions)
        case .multiCategorical(let ds): return sum(ds.enumerated().map { $0.element.logProb(actions[.all, $0.offset]) })
        case .gaussian(let d): return d.logProb(actions)
        case .stateDependent(let d): return d.logProb(actions)
        }
    }

    /// The entropy per row in closed form; nil for a squashed gSDE Gaussian, which has none.
    public func entropy() -> Tensor? {
        switch self {
        case .categorical(let d): return d.entropy()
        case .multiCategorical(let ds): return sum(ds.map { $0.entropy() })
        case .gaussian(let d): return d.entropy()
        case .stateDependent(let d): return d.entropy
        }
    }

    /// The entropy per row, or where it has no closed form −log π(a) of the taken actions (`logProbs`), the
    /// one-sample estimate Stable-Baselines3's PPO and A2C use then.
    /// `logProbs` is evaluated only when needed.
    public func entropy(estimatedFrom logProbs: @autoclosure () -> Tensor) -> Tensor { entropy() ?? -logProbs() }

    public func sample(generator: Generator?) -> Tensor {
        switch self {
        case .categorical(let d): return d.sample(generator: generator)
        case .multiCategorical(let ds): return Tensor.stack(ds.map { $0.sample(generator: generator) }, dim: 1)
        case .gaussian(let d): return d.sample(generator: generator)
        case .stateDependent(let d): return d.sample(generator: generator)
        }
    }

    /// The most likely action (deterministic evaluation).
    public func mode() -> Tensor {
        switch self {
        case .categorical(let d): return d.mode()
        case .multiCategorical(let ds): return Tensor.stack(ds.map { $0.mode() }, dim: 1)
        case .gaussian(let d): return d.mode()
        case .stateDependent(let d): return d.mode()
        }
    }

    /// KL(self ‖ other) per batch element, in closed form (an unsquashed gSDE Gaussian counts as the diagonal
    /// Gaussian it is for each row).
    public func kl(to other: PolicyDistribution) -> Tensor {
        switch (self.unsquashedGaussian, other.unsquashedGaussian) {
        case (.categorical(let p), .categorical(let q)): return p.kl(to: q)
        case (.multiCategorical(let ps), .multiCategorical(let qs)): return sum(zip(ps, qs).map { $0.kl(to: $1) })
        case (.gaussian(let p), .gaussian(let q)): return p.kl(to: q)
        default: preconditionFailure("KL between different distribution families")
        }
    }

    /// The same distribution with its parameters cut from the graph.
    public func detached() -> PolicyDistribution {
        switch self {
        case .categorical(let d): return .categorical(Categorical(logits: d.logProbabilities.detach()))
        case .multiCategorical(let ds): return .multiCategorical(ds.map { Categorical(logits: $0.logProbabilities.detach()) })
        case .gaussian(let d): return .gaussian(DiagonalGaussian(mean: d.mean.detach(), logStd: d.logStd.detach()))
        case .stateDependent(let d):
            return .stateDependent(StateDependentGaussian(
                gaussian: DiagonalGaussian(mean: d.gaussian.mean.detach(), logStd: d.gaussian.logStd.detach()),
                latent: d.latent.detach(), explorationMatrices: d.explorationMatrices, squashed: d.squashed))
        }
    }

    /// An unsquashed gSDE distribution as the per-row diagonal Gaussian it is; every other distribution unchanged.
    var unsquashedGaussian: PolicyDistribution {
        if case .stateDependent(let d) = self, !d.squashed { return .gaussian(d.gaussian) }
        return self
    }

    /// The parameters as one [B, P] tensor (log-probabilities or mean and log-std), to store with a rollout.
    public var parameters: Tensor {
        switch self {
        case .categorical(let d): return d.logProbabilities
        case .multiCategorical(let ds): return Tensor.cat(ds.map(\.logProbabilities), dim: -1)
        case .gaussian(let d): return Tensor.cat([d.mean, d.logStd], dim: -1)
        case .stateDependent(let d): return PolicyDistribution.gaussian(d.gaussian).parameters
        }
    }

    /// Rebuilds a distribution of the same family from stored `parameters` rows (a gSDE distribution as the
    /// per-row diagonal Gaussian those rows describe).
    public func sameFamily(parameters p: Tensor) -> PolicyDistribution {
        switch self {
        case .categorical: return .categorical(Categorical(logits: p))
        case .multiCategorical(let ds):
            let sizes = ds.map { $0.logProbabilities.size(-1) }
            return .multiCategorical(p.split(sizes: sizes, dim: -1).map { Categorical(logits: $0) })
        case .gaussian(let d):
            let dims = d.mean.size(-1)
            return .gaussian(DiagonalGaussian(mean: p[.ellipsis, ..<dims], logStd: p[.ellipsis, dims...]))
        case .stateDependent(let d): return PolicyDistribution.gaussian(d.gaussian).sameFamily(parameters: p)
        }
    }
}

/// Elementwise sum of equally shaped tensors.
func sum(_ tensors: [Tensor]) -> Tensor { tensors.dropFirst().reduce(tensors[0]) { $0 + $1 } }

/// A policy with a critic: maps a batch of observations to an action distribution and state values [B]. Implement
/// this (as a `Module`) to train your own network with Proxima's trainers.
public protocol ActorCriticPolicy: Module {
    func callAsFunction(_ observations: Tensor) -> (distribution: PolicyDistribution, value: Tensor)
    /// Whether Box actions come out in [−1, 1] (tanh-squashed) and are scaled to the space's bounds for the
    /// environment, instead of clipped to them (Stable-Baselines3's `squash_output`). Default false.
    var squashesActions: Bool { get }
}

extension ActorCriticPolicy {
    public var squashesActions: Bool { false }
}

/// Network shape options (`policy_kwargs` in Stable-Baselines3).
public struct PolicyOptions: Equatable, Sendable {
    /// Hidden layer sizes of the policy and value networks.
    public var netArch: [Int] = [64, 64]
    public var activation: ActivationKind = .tanh
    /// Orthogonal initialisation with gains √2 (hidden), 0.01 (action head) and 1 (value head); zero biases.
    public var orthoInit = true
    /// Initial log standard deviation of Gaussian policies (state-independent).
    public var logStdInit = 0.0
    /// One trunk shared by policy and value heads instead of two separate networks.
    public var sharedTrunk = false
    /// Explore Box actions with gSDE (`use_sde`): `log_std` becomes a [latent, action] matrix (or [latent, 1]) and
    /// σ depends on the policy's latent features.
    public var useSDE = false
    /// How gSDE shapes its noise (`full_std`, `use_expln`, `squash_output`, `learn_features`).
    public var stateDependentExploration = StateDependentExplorationOptions()

    public init() {}

    /// Refuses gSDE options that need `use_sde` without it.
    func checkStateDependentExploration() throws {
        if stateDependentExploration.squashOutput && !useSDE {
            throw ConfigurationError("policy_kwargs.squash_output needs use_sde: true (Stable-Baselines3 squashes only gSDE policies)")
        }
    }
}

/// Stable-Baselines3's `MlpPolicy` for any action space: MLP trunks (separate for policy and value unless shared),
/// a linear action head (logits, or Gaussian means with a state-independent `log_std`) and a linear value head.
/// Parameter names follow SB3 (`mlp_extractor.policy_net.0.weight`, `action_net.weight`, `log_std`).
public final class MLPActorCritic: Module, ActorCriticPolicy {
    final class Extractor: Module {
        let policyNet: Sequential?
        let valueNet: Sequential?
        let sharedNet: Sequential?
        init(policy: Sequential?, value: Sequential?, shared: Sequential?) {
            policyNet = policy
            valueNet = value
            sharedNet = shared
        }
        override func namedChildren() -> [(String, Any)] {
            [("policy_net", policyNet as Any), ("value_net", valueNet as Any), ("shared_net", sharedNet as Any)]
        }
    }

    let extractor: Extractor
    let actionNet: Linear
    let valueNet: Linear
    /// The state-independent log σ [D] of a Gaussian policy, or gSDE's log S matrix [L, D] ([L, 1] without `full_std`).
    let logStd: Tensor?
    /// gSDE's noise matrices: one [L, D] for single observations, one per environment [N, L, D] (`resetNoise`).
    private(set) var explorationMatrix: Tensor?
    private(set) var explorationMatrices: Tensor?
    public let actionSpace: Space
    /// The shape it was built with (`policy_kwargs`).
    public let options: PolicyOptions
    /// Whether the networks may run through Proxima's fused kernels (`Tensor.mlp`, the fused PPO step and rollout
    /// step) when their layers allow it; false records every layer through autograd (needed only for higher-order
    /// gradients, and to compare both paths).
    public var allowsFusion = true

    public override func namedChildren() -> [(String, Any)] {
        [("mlp_extractor", extractor), ("action_net", actionNet), ("value_net", valueNet), ("log_std", logStd as Any)]
    }

    public init(observationSize: Int, actionSpace: Space, options: PolicyOptions = PolicyOptions(), generator: Generator? = nil) throws {
        let actionOutputs: Int
        switch actionSpace {
        case .discrete(let n, _): actionOutputs = n
        case .multiDiscrete(let nvec): actionOutputs = nvec.reduce(0, +)
        case .multiBinary(let n): actionOutputs = 2 * n
        case .box(_, _, let shape, _): actionOutputs = shape.reduce(1, *)
        }
        guard options.netArch.allSatisfy({ $0 > 0 }) else {
            throw ConfigurationError("policy_kwargs.net_arch sizes must be positive, got \(options.netArch)")
        }
        if options.useSDE, !{ if case .box = actionSpace { return true } else { return false } }() {
            throw ConfigurationError("use_sde needs a Box action space; \(actionSpace) has discrete actions")
        }
        try options.checkStateDependentExploration()
        self.actionSpace = actionSpace
        self.options = options
        func trunk() -> Sequential? {
            options.netArch.isEmpty ? nil : Sequential.mlp(sizes: [observationSize] + options.netArch, activation: options.activation,
                                               outputActivation: options.activation, generator: generator)
        }
        let features = options.netArch.last ?? observationSize
        extractor = options.sharedTrunk ? Extractor(policy: nil, value: nil, shared: trunk())
                                        : Extractor(policy: trunk(), value: trunk(), shared: nil)
        actionNet = Linear(inputSize: features, outputSize: actionOutputs, generator: generator)
        valueNet = Linear(inputSize: features, outputSize: 1, generator: generator)
        if case .box(_, _, let shape, _) = actionSpace {
            let actions = shape.reduce(1, *)
            let shape = options.useSDE ? [features, options.stateDependentExploration.fullStd ? actions : 1] : [actions]
            logStd = Tensor.full(shape, value: options.logStdInit).requiringGrad()
        } else {
            logStd = nil
        }
        super.init()
        if options.orthoInit {
            let hiddenGain = options.activation.initializerGain == 1 ? 1 : 2.0.squareRoot()
            for net in [extractor.policyNet, extractor.valueNet, extractor.sharedNet].compactMap({ $0 }) {
                for case let layer as Linear in net.layers { Self.orthogonal(layer, gain: hiddenGain, generator) }
            }
            Self.orthogonal(actionNet, gain: 0.01, generator)
            Self.orthogonal(valueNet, gain: 1, generator)
        }
    }

    typealias DenseLayers = [(weight: Tensor, bias: Tensor?, activation: DenseActivation)]

    /// A trunk followed by its output layer as dense layers, when fusion is allowed and the trunk's layers fuse.
    func denseLayers(_ trunk: Sequential?, then output: Linear) -> DenseLayers? {
        guard allowsFusion else { return nil }
        let head: DenseLayers = [(weight: output.weight, bias: output.bias, activation: .identity)]
        guard let trunk else { return head }
        guard let layers = trunk.denseLayers else { return nil }
        return layers + head
    }

    /// A trunk followed by its output layer, as one fused MLP when allowed.
    func run(_ trunk: Sequential?, then output: Linear, _ x: Tensor) -> Tensor {
        if let layers = denseLayers(trunk, then: output) { return x.mlp(layers) }
        return output(trunk.map { $0(x) } ?? x)
    }

    /// How the fused kernels see this policy's exploration: independent noise (or none: categorical), unsquashed
    /// gSDE with detached features, or nil when they cannot run it (squashed gSDE, `learn_features`).
    enum FusedExploration: Equatable {
        case independent
        case stateDependent(FusedStateDependentNoise)
    }

    var fusedExploration: FusedExploration? {
        guard usesStateDependentExploration else { return .independent }
        let sde = options.stateDependentExploration
        guard !sde.squashOutput, !sde.learnFeatures else { return nil }
        return .stateDependent(sde.useExpln ? .expln : .exp)
    }

    /// The gSDE mode for the kernels' `stateDependentNoise` argument.
    var fusedNoiseMode: FusedStateDependentNoise? {
        if case .stateDependent(let mode) = fusedExploration { return mode }
        return nil
    }

    /// The policy network (ending in the action head) and the value network (ending in the value head) as dense
    /// layers, when the trunks are separate and allow fusion and the kernels know the exploration; nil otherwise.
    var separateNetworks: (policy: DenseLayers, value: DenseLayers)? {
        guard extractor.sharedNet == nil, fusedExploration != nil, let policy = denseLayers(extractor.policyNet, then: actionNet),
              let value = denseLayers(extractor.valueNet, then: valueNet) else { return nil }
        return (policy, value)
    }

    /// What one rollout step needs from the policy: sampled actions, their log-probabilities, the values and the
    /// distribution's parameters per row.
    typealias RolloutStep = (actions: Tensor, logProbs: Tensor, values: Tensor, parameters: Tensor)

    /// A rollout step in one C++ call (`actorCriticAct`: both networks, then sampling exactly as the distributions
    /// sample), for separate fusable trunks and Discrete or Box actions; nil otherwise. The closure returns nil when
    /// the kernel declines the tensors. Take it once per rollout: it holds the current layers.
    func fusedRolloutStep() -> ((Tensor, Generator?) -> RolloutStep?)? {
        let categorical: Bool
        switch actionSpace {
        case .discrete: categorical = true
        case .box: categorical = false
        case .multiDiscrete, .multiBinary: return nil
        }
        guard let networks = separateNetworks else { return nil }
        let logStd = self.logStd
        guard let mode = fusedNoiseMode else {
            return { observations, generator in
                actorCriticAct(policy: networks.policy, value: networks.value, logStd: logStd, categorical: categorical,
                               observations: observations, generator: generator)
            }
        }
        // gSDE: the noise matrices are read at each step (the collector redraws them within a rollout).
        return { [self] observations, generator in
            guard let matrices = explorationMatrices(rows: observations.size(0)) else { return nil }
            return actorCriticAct(policy: networks.policy, value: networks.value, logStd: logStd, categorical: false,
                                  stateDependentNoise: mode, explorationMatrices: matrices, observations: observations,
                                  generator: generator)
        }
    }

    static func orthogonal(_ layer: Linear, gain: Double, _ generator: Generator?) {
        Initializer.orthogonal(gain: gain).apply(to: layer.weight, generator: generator)
        if let bias = layer.bias { Initializer.zeros.apply(to: bias) }
    }

    public func callAsFunction(_ observations: Tensor) -> (distribution: PolicyDistribution, value: Tensor) {
        if usesStateDependentExploration { return stateDependentForward(observations) }
        let head: Tensor, value: Tensor
        if let shared = extractor.sharedNet {
            let features = shared(observations)
            head = actionNet(features)
            value = valueNet(features).squeezed(-1)
        } else {
            head = run(extractor.policyNet, then: actionNet, observations)
            value = run(extractor.valueNet, then: valueNet, observations).squeezed(-1)
        }
        switch actionSpace {
        case .discrete: return (.categorical(Categorical(logits: head)), value)
        case .multiDiscrete(let nvec): return (.multiCategorical(head.split(sizes: nvec, dim: -1).map { Categorical(logits: $0) }), value)
        case .multiBinary(let n): return (.multiCategorical(head.split(sizes: Array(repeating: 2, count: n), dim: -1).map { Categorical(logits: $0) }), value)
        case .box: return (.gaussian(DiagonalGaussian(mean: head, logStd: logStd!)), value)
        }
    }

    /// The trunk's output as dense layers or modules (the identity without a trunk).
    func latent(_ trunk: Sequential?, _ x: Tensor) -> Tensor {
        guard let trunk else { return x }
        if allowsFusion, let layers = trunk.denseLayers { return x.mlp(layers) }
        return trunk(x)
    }

    /// The noise matrices for a batch of `rows`: one per row when the batch is the vector of environments they were
    /// drawn for (and has more than one row), else the shared one, as Stable-Baselines3 chooses.
    func explorationMatrices(rows: Int) -> Tensor? {
        if let perRow = explorationMatrices, perRow.size(0) == rows, rows > 1 { return perRow }
        return explorationMatrix
    }

    /// The gSDE forward pass: latent features φ of the policy trunk, the mean from the action head, σ from φ and S.
    func stateDependentForward(_ observations: Tensor) -> (distribution: PolicyDistribution, value: Tensor) {
        let features: Tensor, value: Tensor
        if let shared = extractor.sharedNet {
            features = shared(observations)
            value = valueNet(features).squeezed(-1)
        } else {
            features = latent(extractor.policyNet, observations)
            value = run(extractor.valueNet, then: valueNet, observations).squeezed(-1)
        }
        let sde = options.stateDependentExploration
        let mean = actionNet(features)
        let std = stateDependentStandardDeviations(logStd: logStd!, useExpln: sde.useExpln, actionSize: mean.size(-1))
        let phi = sde.learnFeatures ? features : features.detach()
        let matrices = explorationMatrices(rows: observations.size(0))
        return (.stateDependent(StateDependentGaussian(mean: mean, latent: phi, standardDeviations: std,
                                                       explorationMatrices: matrices, squashed: sde.squashOutput)), value)
    }
}

extension MLPActorCritic: StateDependentExplorer {
    public var usesStateDependentExploration: Bool { options.useSDE }

    public var squashesActions: Bool { options.useSDE && options.stateDependentExploration.squashOutput }

    public func resetNoise(count: Int, generator: Generator?) {
        guard usesStateDependentExploration, let logStd else { return }
        withNoGrad {
            let std = stateDependentStandardDeviations(logStd: logStd.detach(), useExpln: options.stateDependentExploration.useExpln,
                                                       actionSize: actionNet.weight.size(0))
            explorationMatrix = std * Tensor.randn(std.shape, dtype: std.dtype, generator: generator)
            explorationMatrices = std * Tensor.randn([count] + std.shape, dtype: std.dtype, generator: generator)
        }
    }
}
