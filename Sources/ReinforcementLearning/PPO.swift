import Foundation
import NeuralNetworks
import Torch

/// Proximal Policy Optimization (ALGORITHMS-rl A6), as Stable-Baselines3 implements it: `n_epochs` passes of
/// shuffled minibatches; per minibatch the clipped surrogate on (optionally normalised) advantages, the value loss,
/// the entropy bonus, global gradient-norm clipping; early stop when approx-KL (k3) > 1.5 × target_kl.
enum PPO {
    static func update(policy: ActorCriticPolicy, optimization: Optimization, batch: TrainingBatch, config: OnPolicyConfig,
                       generator: Generator) throws -> [String: Double] {
        let clip = config.clipRange.value(progressRemaining: batch.progressRemaining)
        let rollout = batch.rollout
        var metrics = MetricAccumulator()
        var stoppedEarly = false
        var gradientSteps = 0
        epochs: for _ in 0..<config.nEpochs {
            for indices in batch.minibatches(size: config.batchSize, generator: generator) {
                let observations = rollout.observations.indexSelect(dim: 0, index: indices)
                let actions = rollout.actions.indexSelect(dim: 0, index: indices)
                let (distribution, values) = policy(observations)
                let logProbs = distribution.logProb(actions)
                let policyLoss = PPOPolicyLoss(
                    logProbs: logProbs, oldLogProbs: rollout.logProbs.indexSelect(dim: 0, index: indices),
                    advantages: batch.advantages.indexSelect(dim: 0, index: indices), clipLow: clip,
                    normalizeAdvantages: config.normalizeAdvantage && indices.count > 1)
                let (valueLoss, valueClipFraction) = ppoValueLoss(
                    values: values, oldValues: rollout.values.indexSelect(dim: 0, index: indices),
                    returns: batch.returns.indexSelect(dim: 0, index: indices), clipRange: config.clipRangeVf, variant: config.valueLoss)
                let entropyLoss = -distribution.entropy().mean()
                let approxKL = policyLoss.approxKL3
                if let target = config.targetKL, approxKL > 1.5 * target {
                    stoppedEarly = true
                    metrics.add("train/approx_kl", approxKL)
                    break epochs
                }
                let loss = policyLoss.loss + config.entCoef * entropyLoss + config.vfCoef * valueLoss
                let norm = try optimization.step(loss, parts: ["policy_loss": policyLoss.loss, "value_loss": valueLoss, "entropy_loss": entropyLoss], maxGradNorm: config.maxGradNorm, update: batch.update)
                gradientSteps += 1
                metrics.add("train/policy_loss", policyLoss.loss.item(Double.self))
                metrics.add("train/value_loss", valueLoss.item(Double.self))
                metrics.add("train/entropy_loss", entropyLoss.item(Double.self))
                metrics.add("train/approx_kl", approxKL)
                metrics.add("train/clip_fraction", policyLoss.clipFractionRange)
                metrics.add("train/value_clip_fraction", valueClipFraction)
                metrics.add("train/grad_norm", norm)
            }
        }
        var result = metrics.means
        result["train/clip_range"] = clip
        result["train/gradient_steps"] = Double(gradientSteps)
        result["train/early_stop"] = stoppedEarly ? 1 : 0
        return result
    }
}
