import Environments
import FastKernels
import Foundation
import NeuralNetworks
import Torch

/// PPO's configuration: the shared on-policy settings and PPO's own. `init()` is Stable-Baselines3's defaults.
public struct PPOConfiguration: OnPolicyConfiguration, Equatable {
    public typealias Learner = PPO
    public static var algorithm: Algorithm { .ppo }
    public var settings = OnPolicySettings()
    /// Minibatch size (`batch_size`).
    public var minibatchSize = 64
    /// Passes over each rollout (`n_epochs`).
    public var epochs = 10
    /// The clipping ε, constant or `lin_<ε>` (`clip_range`).
    public var clipRange: ScheduledValue = 0.2
    /// Value clipping around the old values; nil turns it off (`clip_range_vf`).
    public var valueClipRange: Double?
    /// Stop an update's epochs once the approximate KL (k3) exceeds 1.5 × this; nil never stops (`target_kl`).
    public var targetKL: Double?
    /// SB3's or CleanRL's value loss (`value_loss`).
    public var valueLoss: ValueLossVariant = .sb3
    /// How a minibatch's gradient is computed; each faster path is used where it applies and falls back to the next.
    /// Not a hyperparameter (the paths agree; tests compare them), not saved.
    var gradientPath: PPOGradientPath = .fusedStep

    public init() {}

    public static var ownHyperparameters: [Hyperparameter<PPOConfiguration>] {
        [.integer("batch_size", \.minibatchSize), .integer("n_epochs", \.epochs), .scheduled("clip_range", \.clipRange),
         .optionalNumber("clip_range_vf", \.valueClipRange), .optionalNumber("target_kl", \.targetKL),
         .choice("value_loss", \.valueLoss)]
    }

    public func validateOwn() throws {
        try requirePositive(minibatchSize, "batch_size", atMost: 1 << 31)
        try requirePositive(epochs, "n_epochs", atMost: 1 << 20)
        if clipRange.base <= 0 { throw ConfigurationError("clip_range must be positive, got \(clipRange)") }
        if let c = valueClipRange, c <= 0 { throw ConfigurationError("clip_range_vf must be positive, got \(c)") }
        if let kl = targetKL, kl <= 0 { throw ConfigurationError("target_kl must be positive, got \(kl)") }
    }

}

/// Proximal Policy Optimization (ALGORITHMS-rl A6), as Stable-Baselines3 implements it: `epochs` passes of
/// shuffled minibatches; per minibatch the clipped surrogate on (optionally normalised) advantages, the value loss,
/// the entropy bonus, global gradient-norm clipping; early stop when approx-KL (k3) > 1.5 × `targetKL`.
///
/// ```swift
/// var configuration = PPOConfiguration()
/// configuration.environmentCount = 8
/// let ppo = try PPO(configuration, environment: "CartPole-v1")
/// let result = try ppo.learn(steps: 100_000)
/// ```
public final class PPO: OnPolicyAlgorithm, OnPolicyLearner {
    public let configuration: PPOConfiguration
    var libtorchThreads: Int?

    public init(_ configuration: PPOConfiguration, environments: VectorEnvironment, policy: ActorCriticPolicy? = nil) throws {
        self.configuration = configuration.sized(for: environments)
        try super.init(configuration: self.configuration, environments: environments, policy: policy,
                       makeOptimizer: Self.adam(configuration.settings))
    }

    /// With the fused step and separate networks, the threads go to its policy and value halves and libtorch runs on
    /// one thread meanwhile: OpenMP's workers keep spinning after each parallel region and would compete with them.
    override func trainingWillStart() {
        let threads = LibTorch.numThreads
        if threads > 1, configuration.gradientPath == .fusedStep, (policy as? MLPActorCritic)?.separateNetworks != nil {
            libtorchThreads = threads
            FastPath.threads = threads
            LibTorch.numThreads = 1
        }
    }

    override func trainingDidEnd() {
        if let threads = libtorchThreads {
            LibTorch.numThreads = threads
            FastPath.threads = nil
            libtorchThreads = nil
        }
    }

    override func update(_ batch: TrainingBatch) throws -> [String: Double] {
        let config = configuration
        let clip = config.clipRange.value(at: batch.update, of: batch.totalUpdates)
        var metrics = MetricAccumulator()
        var stoppedEarly = false
        var gradientSteps = 0, fusedSteps = 0, fusedLosses = 0
        let fusedStep = config.gradientPath == .fusedStep
            ? FusedActorCriticStep(policy: policy, optimization: optimization, batch: batch) : nil
        epochs: for _ in 0..<config.epochs {
            for minibatch in batch.minibatches(size: config.minibatchSize, generator: shuffleGenerator) {
                let objective = PPOObjective(
                    clipRange: clip, clipRangeValue: config.valueClipRange,
                    normalizeAdvantages: config.normalizeAdvantages && minibatch.count > 1,
                    entropyCoefficient: config.entropyCoefficient, valueCoefficient: config.valueCoefficient,
                    halvedMaximumValueLoss: config.valueLoss == .cleanrl)
                // The loss as a tensor to back-propagate, or nil when the fused step has written the gradients.
                let loss: Tensor?, values: PPOLossValues
                if let fusedStep, let computed = fusedStep.gradients(indices: minibatch.indices, objective: objective) {
                    (loss, values) = (nil, computed)
                    fusedSteps += 1
                } else {
                    let step = Self.minibatchLoss(policy: policy, minibatch: minibatch, objective: objective,
                                                  fused: config.gradientPath != .autograd)
                    (loss, values) = (step.loss, step.values)
                    if step.fused { fusedLosses += 1 }
                }
                if let target = config.targetKL, values.approxKL > 1.5 * target {
                    stoppedEarly = true
                    metrics.add("train/approx_kl", values.approxKL)
                    break epochs
                }
                let parts = ["policy_loss": values.policyLoss, "value_loss": values.valueLoss, "entropy_loss": values.entropyLoss]
                let maxNorm = config.maxGradientNorm
                let norm = try loss.map { try optimization.step($0, parts: parts, maxGradNorm: maxNorm, update: batch.step) }
                    ?? optimization.step(computedLoss: values.loss, parts: parts, maxGradNorm: maxNorm, update: batch.step)
                gradientSteps += 1
                metrics.add("train/policy_loss", values.policyLoss)
                metrics.add("train/value_loss", values.valueLoss)
                metrics.add("train/entropy_loss", values.entropyLoss)
                metrics.add("train/approx_kl", values.approxKL)
                metrics.add("train/clip_fraction", values.clipFraction)
                metrics.add("train/value_clip_fraction", values.valueClipFraction)
                metrics.add("train/grad_norm", norm)
            }
        }
        var result = metrics.means
        result["train/clip_range"] = clip
        result["train/gradient_steps"] = Double(gradientSteps)
        // Which gradient path ran, so that a fast path that stops applying shows in the metrics.
        result["train/fused_step_fraction"] = gradientSteps == 0 ? 0 : Double(fusedSteps) / Double(gradientSteps)
        result["train/fused_loss_fraction"] = gradientSteps == 0 ? 0 : Double(fusedLosses) / Double(gradientSteps)
        result["train/early_stop"] = stoppedEarly ? 1 : 0
        return result
    }

    /// The minibatch objective through autograd: the policy's own forward pass, then `FusedPPOLoss` when `fused` and the
    /// distribution allows it, else the composed losses.
    static func minibatchLoss(policy: ActorCriticPolicy, minibatch: Minibatch, objective: PPOObjective, fused: Bool) -> MinibatchLoss {
        let observations = minibatch.observations
        let actions = minibatch.actions
        let (distribution, values) = policy(observations)
        let oldLogProbs = minibatch.oldLogProbs
        let advantages = minibatch.advantages
        let oldValues = minibatch.oldValues
        let returns = minibatch.returns
        if fused, let step = FusedPPOLoss.compute(
            distribution: distribution, values: values, actions: actions, oldLogProbs: oldLogProbs,
            advantages: advantages, oldValues: oldValues, returns: returns, objective: objective) {
            return step
        }
        let logProbs = distribution.logProb(actions)
        let policyLoss = PPOPolicyLoss(
            logProbs: logProbs, oldLogProbs: oldLogProbs, advantages: advantages,
            clipLow: objective.clipRange, normalizeAdvantages: objective.normalizeAdvantages)
        let (valueLoss, valueClipFraction) = ppoValueLoss(
            values: values, oldValues: oldValues, returns: returns, clipRange: objective.clipRangeValue,
            variant: objective.halvedMaximumValueLoss ? .cleanrl : .sb3)
        // A squashed gSDE policy has no closed-form entropy: −log π of the taken actions stands in, as in SB3.
        let entropyLoss = -distribution.entropy(estimatedFrom: logProbs).mean()
        let loss = policyLoss.loss + objective.entropyCoefficient * entropyLoss + objective.valueCoefficient * valueLoss
        let parts = (policy: policyLoss.loss.item(Double.self), value: valueLoss.item(Double.self),
                     entropy: entropyLoss.item(Double.self))
        return MinibatchLoss(loss: loss, values: PPOLossValues(
            loss: parts.policy + objective.entropyCoefficient * parts.entropy + objective.valueCoefficient * parts.value,
            policyLoss: parts.policy, valueLoss: parts.value, entropyLoss: parts.entropy, approxKL: policyLoss.approxKL3,
            clipFraction: policyLoss.clipFractionRange, valueClipFraction: valueClipFraction))
    }
}

/// How PPO computes a minibatch's gradient.
enum PPOGradientPath: Sendable {
    /// The composed losses (PPOPolicyLoss, ppoValueLoss, entropy) through autograd.
    case autograd
    /// The policy through autograd, the objective as one `FusedPPOLoss` node.
    case fusedLoss
    /// `FusedActorCriticStep` for MLPActorCritic (networks, objective and backward pass in one call), else `fusedLoss`.
    case fusedStep
}

/// One minibatch's PPO objective through autograd, with its values and diagnostics.
struct MinibatchLoss {
    /// policy + entropyCoefficient·entropy + valueCoefficient·value, differentiable.
    let loss: Tensor
    let values: PPOLossValues
    /// Whether the objective was the fused node (`FusedPPOLoss`) rather than the composed losses.
    var fused = false
}
