import Foundation
import NeuralNetworks
import Torch

/// REINFORCE with a learned baseline (ALGORITHMS-rl A4): returns G_t with the bootstrap rule of A1 (GAE with λ = 1
/// gives advantages G − b and returns G), policy loss −mean(logπ·sg[G − b]) (optionally normalised), baseline loss
/// ½·mean((b − G)²) weighted by vf_coef, one gradient step per rollout.
enum Reinforce {
    static func update(policy: ActorCriticPolicy, optimization: Optimization, batch: TrainingBatch, config: OnPolicyConfig) throws -> [String: Double] {
        let rollout = batch.rollout
        let (distribution, baseline) = policy(rollout.observations)
        let loss = ReinforceLoss(logProbs: distribution.logProb(rollout.actions), returns: batch.returns, baseline: baseline,
                                 normalize: config.normalizeAdvantage)
        let entropyLoss = -distribution.entropy().mean()
        let total = loss.policyLoss + config.vfCoef * loss.baselineLoss! + config.entCoef * entropyLoss
        let norm = try optimization.step(total, parts: ["policy_loss": loss.policyLoss.item(Double.self), "baseline_loss": loss.baselineLoss!.item(Double.self)], maxGradNorm: config.maxGradNorm, update: batch.update)
        return ["train/policy_loss": loss.policyLoss.item(Double.self), "train/value_loss": loss.baselineLoss!.item(Double.self),
                "train/entropy_loss": entropyLoss.item(Double.self), "train/grad_norm": norm]
    }
}
