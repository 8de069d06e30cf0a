import Foundation
import NeuralNetworks
import Torch

/// Synchronous advantage actor-critic (ALGORITHMS-rl A5), Stable-Baselines3's form: one gradient step per rollout
/// on the whole batch, n-step returns from GAE with λ = 1, RMSprop by default.
enum A2C {
    static func update(policy: ActorCriticPolicy, optimization: Optimization, batch: TrainingBatch, config: OnPolicyConfig) throws -> [String: Double] {
        let rollout = batch.rollout
        let (distribution, values) = policy(rollout.observations)
        let loss = A2CLoss(logProbs: distribution.logProb(rollout.actions), advantages: batch.advantages, returns: batch.returns,
                           values: values, entropy: distribution.entropy(), valueCoefficient: config.vfCoef,
                           entropyCoefficient: config.entCoef, normalizeAdvantage: config.normalizeAdvantage)
        let norm = try optimization.step(loss.loss, parts: ["policy_loss": loss.policyLoss.item(Double.self), "value_loss": loss.valueLoss.item(Double.self)], maxGradNorm: config.maxGradNorm, update: batch.update)
        return ["train/policy_loss": loss.policyLoss.item(Double.self), "train/value_loss": loss.valueLoss.item(Double.self),
                "train/entropy_loss": loss.entropyLoss.item(Double.self), "train/grad_norm": norm]
    }
}
