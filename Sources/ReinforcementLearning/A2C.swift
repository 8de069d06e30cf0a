import Environments
import Foundation
import NeuralNetworks
import Torch

/// A2C's configuration. `init()` is Stable-Baselines3's defaults: 5-step rollouts, learning rate 7e-4, n-step returns
/// (GAE λ = 1), no advantage normalisation, RMSprop.
public struct A2CConfiguration: OnPolicyConfiguration, Equatable {
    public typealias Learner = A2C
    public static var algorithm: Algorithm { .a2c }
    public var settings: OnPolicySettings = {
        var s = OnPolicySettings()
        s.rolloutSteps = 5
        s.learningRate = 7e-4
        s.gaeLambda = 1
        s.normalizeAdvantages = false
        return s
    }()
    /// RMSprop (α = 0.99) instead of Adam (`use_rms_prop`).
    public var useRMSprop = true
    /// RMSprop's ε (`rms_prop_eps`).
    public var rmspropEpsilon = 1e-5

    public init() {}

    public static var ownHyperparameters: [Hyperparameter<A2CConfiguration>] {
        [.boolean("use_rms_prop", \.useRMSprop), .number("rms_prop_eps", \.rmspropEpsilon)]
    }

    public func validateOwn() throws {
        if rmspropEpsilon <= 0 { throw ConfigurationError("rms_prop_eps must be positive, got \(rmspropEpsilon)") }
    }

}

/// Synchronous advantage actor-critic (ALGORITHMS-rl A5), Stable-Baselines3's form: one gradient step per rollout
/// on the whole batch, n-step returns from GAE with λ = 1, RMSprop by default.
public final class A2C: OnPolicyAlgorithm, OnPolicyLearner {
    public let configuration: A2CConfiguration

    public init(_ configuration: A2CConfiguration, environments: VectorEnvironment, policy: ActorCriticPolicy? = nil) throws {
        self.configuration = configuration.sized(for: environments)
        let adam = Self.adam(configuration.settings)
        try super.init(configuration: self.configuration, environments: environments, policy: policy) { parameters in
            guard configuration.useRMSprop else { return adam(parameters) }
            return RMSprop(parameters: parameters, learningRate: configuration.learningRate.base, alpha: 0.99, eps: configuration.rmspropEpsilon)
        }
    }

    override func update(_ batch: TrainingBatch) throws -> [String: Double] {
        let rollout = batch.rollout
        let (distribution, values) = policy(rollout.observations)
        let logProbs = distribution.logProb(rollout.actions)
        let loss = A2CLoss(logProbs: logProbs, advantages: batch.advantages, returns: batch.returns,
                           values: values, entropy: distribution.entropy(estimatedFrom: logProbs), valueCoefficient: configuration.valueCoefficient,
                           entropyCoefficient: configuration.entropyCoefficient, normalizeAdvantage: configuration.normalizeAdvantages)
        let policyLoss = loss.policyLoss.item(Double.self), valueLoss = loss.valueLoss.item(Double.self)
        let norm = try optimization.step(loss.loss, parts: ["policy_loss": policyLoss, "value_loss": valueLoss],
                                         maxGradNorm: configuration.maxGradientNorm, update: batch.step)
        return ["train/policy_loss": policyLoss, "train/value_loss": valueLoss,
                "train/entropy_loss": loss.entropyLoss.item(Double.self), "train/grad_norm": norm]
    }
}
