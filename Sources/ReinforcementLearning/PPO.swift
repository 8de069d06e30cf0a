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
                let oldLogProbs = rollout.logProbs.indexSelect(dim: 0, index: indices)
                let advantages = batch.advantages.indexSelect(dim: 0, index: indices)
                let oldValues = rollout.values.indexSelect(dim: 0, index: indices)
                let returns = batch.returns.indexSelect(dim: 0, index: indices)
                let normalize = config.normalizeAdvantage && indices.count > 1
                let step: MinibatchLoss
                if config.fusedLoss, let fused = FusedPPOLoss.compute(
                    distribution: distribution, values: values, actions: actions, oldLogProbs: oldLogProbs,
                    advantages: advantages, oldValues: oldValues, returns: returns,
                    settings: .init(clipRange: clip, clipRangeValue: config.clipRangeVf, normalizeAdvantages: normalize,
                                    entropyCoefficient: config.entCoef, valueCoefficient: config.vfCoef,
                                    valueLoss: config.valueLoss)) {
                    step = fused
                } else {
                    let policyLoss = PPOPolicyLoss(
                        logProbs: distribution.logProb(actions), oldLogProbs: oldLogProbs, advantages: advantages,
                        clipLow: clip, normalizeAdvantages: normalize)
                    let (valueLoss, valueClipFraction) = ppoValueLoss(
                        values: values, oldValues: oldValues, returns: returns, clipRange: config.clipRangeVf,
                        variant: config.valueLoss)
                    let entropyLoss = -distribution.entropy().mean()
                    let loss = policyLoss.loss + config.entCoef * entropyLoss + config.vfCoef * valueLoss
                    step = MinibatchLoss(loss: loss, policyLoss: policyLoss.loss.item(Double.self),
                                         valueLoss: valueLoss.item(Double.self), entropyLoss: entropyLoss.item(Double.self),
                                         approxKL: policyLoss.approxKL3, clipFraction: policyLoss.clipFractionRange,
                                         valueClipFraction: valueClipFraction)
                }
                if let target = config.targetKL, step.approxKL > 1.5 * target {
                    stoppedEarly = true
                    metrics.add("train/approx_kl", step.approxKL)
                    break epochs
                }
                let norm = try optimization.step(step.loss, parts: ["policy_loss": step.policyLoss, "value_loss": step.valueLoss,
                                                                   "entropy_loss": step.entropyLoss],
                                                 maxGradNorm: config.maxGradNorm, update: batch.update)
                gradientSteps += 1
                metrics.add("train/policy_loss", step.policyLoss)
                metrics.add("train/value_loss", step.valueLoss)
                metrics.add("train/entropy_loss", step.entropyLoss)
                metrics.add("train/approx_kl", step.approxKL)
                metrics.add("train/clip_fraction", step.clipFraction)
                metrics.add("train/value_clip_fraction", step.valueClipFraction)
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

/// One minibatch's PPO objective and the diagnostics logged for it.
struct MinibatchLoss {
    /// policy + entCoef·entropy + vfCoef·value, differentiable.
    let loss: Tensor
    let policyLoss: Double
    let valueLoss: Double
    let entropyLoss: Double
    /// mean(ρ − 1 − log ρ) (k3).
    let approxKL: Double
    /// Fraction with ρ outside [1 − ε, 1 + ε].
    let clipFraction: Double
    let valueClipFraction: Double
}

