import CFastKernels
import CTorch
@_spi(CInterop) import Torch

// Swift entry points of Proxima's PPO kernels (Sources/CFastKernels/ppo.cpp). The algorithm itself lives in the
// ReinforcementLearning module; these are its two hot paths done in one C++ call each.

/// PPO's minibatch objective (ALGORITHMS-rl A6): clipped surrogate, value loss, entropy bonus.
public struct PPOObjective: Sendable, Equatable {
    public var clipRange: Double
    /// Value clipping around the old values; nil: none.
    public var clipRangeValue: Double?
    /// Normalise advantages per minibatch: (A − mean) / (std + eps), std with Bessel's correction.
    public var normalizeAdvantages: Bool
    public var normalizationEps: Double
    public var entropyCoefficient: Double
    public var valueCoefficient: Double
    /// CleanRL's value loss (½·mean, max of clipped and unclipped errors) instead of Stable-Baselines3's
    /// (mean squared error of the clipped values).
    public var halvedMaximumValueLoss: Bool

    public init(clipRange: Double, clipRangeValue: Double?, normalizeAdvantages: Bool, normalizationEps: Double = 1e-8,
                entropyCoefficient: Double, valueCoefficient: Double, halvedMaximumValueLoss: Bool) {
        self.clipRange = clipRange
        self.clipRangeValue = clipRangeValue
        self.normalizeAdvantages = normalizeAdvantages
        self.normalizationEps = normalizationEps
        self.entropyCoefficient = entropyCoefficient
        self.valueCoefficient = valueCoefficient
        self.halvedMaximumValueLoss = halvedMaximumValueLoss
    }

    var settings: fk_ppo_settings {
        fk_ppo_settings(clip_range: clipRange, clip_value: clipRangeValue == nil ? 0 : 1, clip_range_value: clipRangeValue ?? 0,
                        normalize_advantages: normalizeAdvantages ? 1 : 0, normalization_eps: normalizationEps,
                        entropy_coefficient: entropyCoefficient, value_coefficient: valueCoefficient,
                        value_loss: halvedMaximumValueLoss ? 1 : 0)
    }
}

/// One minibatch's PPO losses and diagnostics.
public struct PPOLossValues: Sendable, Equatable {
    /// policy + entropyCoefficient·entropy + valueCoefficient·value.
    public var loss: Double
    public var policyLoss: Double
    public var valueLoss: Double
    public var entropyLoss: Double
    /// mean(ρ − 1 − log ρ) (k3).
    public var approxKL: Double
    /// Fraction of ratios outside [1 − ε, 1 + ε].
    public var clipFraction: Double
    /// Fraction of samples whose clipped squared value error exceeds the unclipped one (0 without value clipping).
    public var valueClipFraction: Double

    public init(loss: Double, policyLoss: Double, valueLoss: Double, entropyLoss: Double, approxKL: Double,
                clipFraction: Double, valueClipFraction: Double) {
        self.loss = loss
        self.policyLoss = policyLoss
        self.valueLoss = valueLoss
        self.entropyLoss = entropyLoss
        self.approxKL = approxKL
        self.clipFraction = clipFraction
        self.valueClipFraction = valueClipFraction
    }

    init(_ d: fk_ppo_diagnostics) {
        self.init(loss: d.loss, policyLoss: d.policy_loss, valueLoss: d.value_loss, entropyLoss: d.entropy_loss,
                  approxKL: d.approx_kl, clipFraction: d.clip_fraction, valueClipFraction: d.value_clip_fraction)
    }
}

/// The PPO objective and its gradients for a categorical policy (`head` = log-probabilities [B, A], `logStd` nil,
/// int64 `actions` [B]) or a diagonal Gaussian (`head` = means [B, A], `logStd` [B, A], `actions` [B, A]), with
/// values [B]. The objective is computed in double precision; gradients have the head's dtype. Nothing is recorded
/// for autograd.
public func ppoObjective(head: Tensor, logStd: Tensor?, values: Tensor, actions: Tensor, oldLogProbs: Tensor,
                         advantages: Tensor, oldValues: Tensor, returns: Tensor, objective: PPOObjective)
    -> (values: PPOLossValues, gradHead: Tensor, gradLogStd: Tensor?, gradValues: Tensor) {
    withExtendedLifetime((head, logStd, values, actions, oldLogProbs, advantages, oldValues, returns)) {
        var settings = objective.settings
        var out = fk_ppo_diagnostics()
        var gradHead: ct_tensor?, gradLogStd: ct_tensor?, gradValues: ct_tensor?
        check(fk_ppo_loss(head.handle, logStd?.handle, values.handle, actions.handle, oldLogProbs.handle, advantages.handle,
                          oldValues.handle, returns.handle, &settings, &out, &gradHead, &gradLogStd, &gradValues),
              "ppoObjective with a head of shape \(head.shape)")
        return (PPOLossValues(out), wrap(gradHead, "ppoObjective"), gradLogStd.map { Tensor(owning: $0) },
                wrap(gradValues, "ppoObjective"))
    }
}

/// gSDE in the fused kernels (docs/gsde.md): unsquashed, with S = e^(log S) or expln(log S), features detached.
public enum FusedStateDependentNoise: Int32, Sendable {
    case exp = 1
    case expln = 2
}

/// A dense layer of a network given to `ppoActorCriticGradients`, with the tensors its gradients are written to.
public struct DenseLayerWithGradients {
    public var weight: Tensor
    public var bias: Tensor?
    public var weightGradient: Tensor
    public var biasGradient: Tensor?
    public var activation: DenseActivation

    public init(weight: Tensor, bias: Tensor?, weightGradient: Tensor, biasGradient: Tensor?, activation: DenseActivation) {
        self.weight = weight
        self.bias = bias
        self.weightGradient = weightGradient
        self.biasGradient = biasGradient
        self.activation = activation
    }
}

/// PPO's gradient for one minibatch of an actor-critic made of two MLPs, computed without autograd: rows `indices`
/// of the rollout tensors are gathered, both networks run, and the gradient of the objective with respect to every
/// layer (and the Gaussian `logStd` [A]) is written into the given gradient tensors, overwriting them.
///
/// The policy network ends in logits (`categorical`, int64 `actions` [N]) or Gaussian means (`actions` [N, A]); the
/// value network in one output. All floating tensors share the layers' dtype (float32 or float64) and are contiguous
/// CPU tensors. With two or more libtorch threads the policy and value halves run in parallel; the result does not
/// depend on the thread count. Returns nil, changing nothing, when the tensors do not fit; then use autograd.
///
/// With `stateDependentNoise` the policy explores with gSDE: `logStd` is log S [L, D or 1] (L the action head's
/// inputs) and receives d/d log S.
public func ppoActorCriticGradients(policy: [DenseLayerWithGradients], value: [DenseLayerWithGradients],
                                    logStd: (parameter: Tensor, gradient: Tensor)?, categorical: Bool,
                                    stateDependentNoise: FusedStateDependentNoise? = nil,
                                    observations: Tensor, actions: Tensor, oldLogProbs: Tensor, advantages: Tensor,
                                    oldValues: Tensor, returns: Tensor, indices: Tensor,
                                    objective: PPOObjective) -> PPOLossValues? {
    let layers = policy + value
    return withExtendedLifetime((layers, logStd, observations, actions, oldLogProbs, advantages, oldValues, returns, indices)) {
        var settings = objective.settings
        var out = fk_ppo_diagnostics()
        let weights: [ct_tensor?] = layers.map { $0.weight.handle }, biases: [ct_tensor?] = layers.map { $0.bias?.handle }
        let weightGradients: [ct_tensor?] = layers.map { $0.weightGradient.handle }
        let biasGradients: [ct_tensor?] = layers.map { $0.biasGradient?.handle }
        let status = fk_ppo_actor_critic_step(
            weights, biases, weightGradients, biasGradients, layers.map { $0.activation.rawValue }, Int64(policy.count),
            Int64(value.count), logStd?.parameter.handle, logStd?.gradient.handle, categorical ? 1 : 0,
            stateDependentNoise?.rawValue ?? 0, observations.handle,
            actions.handle, oldLogProbs.handle, advantages.handle, oldValues.handle, returns.handle, indices.handle,
            &settings, &out)
        if status < 0 { torchFailure("ppoActorCriticGradients for a minibatch of \(indices.count)") }
        return status == 1 ? PPOLossValues(out) : nil
    }
}

/// One rollout step of an actor-critic made of two MLPs (the networks of `ppoActorCriticGradients`, without
/// gradients): both networks on `observations` [N, F], then one action per row sampled exactly as `Categorical` or
/// `DiagonalGaussian` (state-independent `logStd` [A]) sample with `generator`. Returns the actions (int64 [N] or
/// [N, A]), their log-probabilities [N], the values [N] and the distribution's parameters per row (log-probabilities,
/// or means then log-std); nil when the tensors do not fit. Nothing is recorded for autograd.
///
/// With `stateDependentNoise` (gSDE, `logStd` = log S [L, D or 1]) the actions are μ + φ·E for `explorationMatrices`
/// ([L, D] shared, or [N, L, D] one per row), and the parameters are the means then the per-row log σ.
public func actorCriticAct(policy: [(weight: Tensor, bias: Tensor?, activation: DenseActivation)],
                           value: [(weight: Tensor, bias: Tensor?, activation: DenseActivation)], logStd: Tensor?,
                           categorical: Bool, stateDependentNoise: FusedStateDependentNoise? = nil,
                           explorationMatrices: Tensor? = nil, observations: Tensor, generator: Generator?)
    -> (actions: Tensor, logProbs: Tensor, values: Tensor, parameters: Tensor)? {
    let layers = policy + value
    return withExtendedLifetime((layers.map { ($0.weight, $0.bias) }, logStd, explorationMatrices, observations, generator)) {
        let weights: [ct_tensor?] = layers.map { $0.weight.handle }, biases: [ct_tensor?] = layers.map { $0.bias?.handle }
        var actions: ct_tensor?, logProbs: ct_tensor?, values: ct_tensor?, parameters: ct_tensor?
        let status = fk_actor_critic_act(weights, biases, layers.map { $0.activation.rawValue }, Int64(policy.count),
                                         Int64(value.count), logStd?.handle, categorical ? 1 : 0,
                                         stateDependentNoise?.rawValue ?? 0, explorationMatrices?.handle, observations.handle,
                                         generator?.handle, &actions, &logProbs, &values, &parameters)
        if status < 0 { torchFailure("actorCriticAct on observations of shape \(observations.shape)") }
        guard status == 1 else { return nil }
        return (wrap(actions, "actorCriticAct"), wrap(logProbs, "actorCriticAct"), wrap(values, "actorCriticAct"),
                wrap(parameters, "actorCriticAct"))
    }
}
