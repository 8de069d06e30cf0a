import Environments
import Foundation
import NeuralNetworks
import Torch

/// MDPO's configuration (PPO's defaults for the shared settings and minibatching).
public struct MDPOConfiguration: OnPolicyConfiguration, Equatable {
    public typealias Learner = MDPO
    public static var algorithm: Algorithm { .mdpo }
    public var settings = OnPolicySettings()
    /// Minibatch size (`batch_size`).
    public var minibatchSize = 64
    /// SGD passes per iteration (`n_epochs`).
    public var epochs = 10
    /// Value clipping around the old values; nil turns it off (`clip_range_vf`).
    public var valueClipRange: Double?
    /// SB3's or CleanRL's value loss (`value_loss`).
    public var valueLoss: ValueLossVariant = .sb3

    public init() {}

    public static var ownHyperparameters: [Hyperparameter<MDPOConfiguration>] {
        [.integer("batch_size", \.minibatchSize), .integer("n_epochs", \.epochs), .optionalNumber("clip_range_vf", \.valueClipRange),
         .choice("value_loss", \.valueLoss)]
    }

    public func validateOwn() throws {
        try requirePositive(minibatchSize, "batch_size", atMost: 1 << 31)
        try requirePositive(epochs, "n_epochs", atMost: 1 << 20)
        if let c = valueClipRange, c <= 0 { throw ConfigurationError("clip_range_vf must be positive, got \(c)") }
        if settings.policy.useSDE && settings.policy.stateDependentExploration.squashOutput {
            throw ConfigurationError("policy_kwargs.squash_output is not available with MDPO: its KL term needs the closed form that only an unsquashed Gaussian has")
        }
    }

}

/// On-policy Mirror Descent Policy Optimization (ALGORITHMS-rl A7): iteration k of K takes its SGD steps
/// (`epochs` passes over `minibatchSize` minibatches) on −(mean(ρÂ) − mean(KL(π_θ ‖ π_k))/t_k) with
/// t_k = 1 − (k − 1)/K, advantages standardised over the whole batch with the population std and no ε; the value
/// function trains alongside with the configured value loss.
public final class MDPO: OnPolicyAlgorithm, OnPolicyLearner {
    public let configuration: MDPOConfiguration

    public init(_ configuration: MDPOConfiguration, environments: VectorEnvironment, policy: ActorCriticPolicy? = nil) throws {
        self.configuration = configuration.sized(for: environments)
        try super.init(configuration: self.configuration, environments: environments, policy: policy,
                       makeOptimizer: Self.adam(configuration.settings))
    }

    override func update(_ batch: TrainingBatch) throws -> [String: Double] {
        let config = configuration
        let advantages = config.normalizeAdvantages ? normalizeAdvantages(batch.advantages, eps: 0, unbiased: false) : batch.advantages
        let normalized = TrainingBatch(rollout: batch.rollout, advantages: advantages, returns: batch.returns,
                                       update: batch.update, totalUpdates: batch.totalUpdates, step: batch.step)
        var metrics = MetricAccumulator()
        var stepSize = 1.0
        for _ in 0..<config.epochs {
            for minibatch in normalized.minibatches(size: config.minibatchSize, generator: shuffleGenerator) {
                let (distribution, values) = policy(minibatch.observations)
                let old = distribution.sameFamily(parameters: minibatch.distributionParameters)
                let loss = MDPOLoss(new: distribution, old: old, actions: minibatch.actions, advantages: minibatch.advantages,
                                    iteration: batch.update, totalIterations: batch.totalUpdates, normalizeAdvantages: false)
                stepSize = loss.stepSize
                let (valueLoss, _) = ppoValueLoss(values: values, oldValues: minibatch.oldValues, returns: minibatch.returns,
                                                  clipRange: config.valueClipRange, variant: config.valueLoss)
                let entropyLoss = -distribution.entropy(estimatedFrom: distribution.logProb(minibatch.actions)).mean()
                let total = loss.loss + config.valueCoefficient * valueLoss + config.entropyCoefficient * entropyLoss
                let policyValue = loss.loss.item(Double.self), valueValue = valueLoss.item(Double.self)
                let norm = try optimization.step(total, parts: ["policy_loss": policyValue, "value_loss": valueValue],
                                                 maxGradNorm: config.maxGradientNorm, update: batch.step)
                metrics.add("train/policy_loss", policyValue)
                metrics.add("train/value_loss", valueValue)
                metrics.add("train/entropy_loss", entropyLoss.item(Double.self))
                metrics.add("train/kl", loss.klMean.item(Double.self))
                metrics.add("train/grad_norm", norm)
            }
        }
        var result = metrics.means
        result["train/mdpo_step_size"] = stepSize
        return result
    }
}
