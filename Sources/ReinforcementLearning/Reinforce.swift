import Environments
import Foundation
import NeuralNetworks
import Torch

/// REINFORCE's configuration. `init()`: 500-step rollouts, Monte-Carlo returns (GAE λ = 1), learning rate 1e-3.
public struct ReinforceConfiguration: OnPolicyConfiguration, Equatable {
    public typealias Learner = Reinforce
    public static var algorithm: Algorithm { .reinforce }
    public var settings: OnPolicySettings = {
        var s = OnPolicySettings()
        s.rolloutSteps = 500
        s.gaeLambda = 1
        s.learningRate = 1e-3
        return s
    }()

    public init() {}

    public static var ownHyperparameters: [Hyperparameter<ReinforceConfiguration>] { [] }

    public func validateOwn() throws {}

}

/// REINFORCE with a learned baseline (ALGORITHMS-rl A4): returns G_t with the bootstrap rule of A1 (GAE with λ = 1
/// gives advantages G − b and returns G), policy loss −mean(logπ·sg[G − b]) (optionally normalised), baseline loss
/// ½·mean((b − G)²) weighted by `valueCoefficient`, one gradient step per rollout.
public final class Reinforce: OnPolicyAlgorithm, OnPolicyLearner {
    public let configuration: ReinforceConfiguration

    public init(_ configuration: ReinforceConfiguration, environments: VectorEnvironment, policy: ActorCriticPolicy? = nil) throws {
        self.configuration = configuration.sized(for: environments)
        try super.init(configuration: self.configuration, environments: environments, policy: policy,
                       makeOptimizer: Self.adam(configuration.settings))
    }

    override func update(_ batch: TrainingBatch) throws -> [String: Double] {
        let rollout = batch.rollout
        let (distribution, baseline) = policy(rollout.observations)
        let logProbs = distribution.logProb(rollout.actions)
        let loss = ReinforceLoss(logProbs: logProbs, returns: batch.returns, baseline: baseline,
                                 normalize: configuration.normalizeAdvantages)
        let entropyLoss = -distribution.entropy(estimatedFrom: logProbs).mean()
        let baselineLoss = loss.baselineLoss!
        let total = loss.policyLoss + configuration.valueCoefficient * baselineLoss + configuration.entropyCoefficient * entropyLoss
        let policyValue = loss.policyLoss.item(Double.self), baselineValue = baselineLoss.item(Double.self)
        let norm = try optimization.step(total, parts: ["policy_loss": policyValue, "baseline_loss": baselineValue],
                                         maxGradNorm: configuration.maxGradientNorm, update: batch.step)
        return ["train/policy_loss": policyValue, "train/value_loss": baselineValue,
                "train/entropy_loss": entropyLoss.item(Double.self), "train/grad_norm": norm]
    }
}
