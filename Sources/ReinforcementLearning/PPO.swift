import FastKernels
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
        var metrics = MetricAccumulator()
        var stoppedEarly = false
        var gradientSteps = 0, fusedSteps = 0, fusedLosses = 0
        let fusedStep = config.ppoGradients == .fusedStep
            ? FusedActorCriticStep(policy: policy, optimization: optimization, batch: batch) : nil
        epochs: for _ in 0..<config.nEpochs {
            for indices in batch.minibatches(size: config.batchSize, generator: generator) {
                let objective = PPOObjective(
                    clipRange: clip, clipRangeValue: config.clipRangeVf,
                    normalizeAdvantages: config.normalizeAdvantage && indices.count > 1, entropyCoefficient: config.entCoef,
                    valueCoefficient: config.vfCoef, halvedMaximumValueLoss: config.valueLoss == .cleanrl)
                // The loss as a tensor to back-propagate, or nil when the fused step has written the gradients.
                let loss: Tensor?, values: PPOLossValues
                if let fusedStep, let computed = fusedStep.gradients(indices: indices, objective: objective) {
                    (loss, values) = (nil, computed)
                    fusedSteps += 1
                } else {
                    let step = minibatchLoss(policy: policy, batch: batch, indices: indices, objective: objective,
                                             fused: config.ppoGradients != .autograd)
                    (loss, values) = (step.loss, step.values)
                    if step.fused { fusedLosses += 1 }
                }
                if let target = config.targetKL, values.approxKL > 1.5 * target {
                    stoppedEarly = true
                    metrics.add("train/approx_kl", values.approxKL)
                    break epochs
                }
                let parts = ["policy_loss": values.policyLoss, "value_loss": values.valueLoss, "entropy_loss": values.entropyLoss]
                let norm = try loss.map { try optimization.step($0, parts: parts, maxGradNorm: config.maxGradNorm, update: batch.update) }
                    ?? optimization.step(computedLoss: values.loss, parts: parts, maxGradNorm: config.maxGradNorm, update: batch.update)
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
    static func minibatchLoss(policy: ActorCriticPolicy, batch: TrainingBatch, indices: Tensor, objective: PPOObjective,
                              fused: Bool) -> MinibatchLoss {
        let rollout = batch.rollout
        let observations = rollout.observations.indexSelect(dim: 0, index: indices)
        let actions = rollout.actions.indexSelect(dim: 0, index: indices)
        let (distribution, values) = policy(observations)
        let oldLogProbs = rollout.logProbs.indexSelect(dim: 0, index: indices)
        let advantages = batch.advantages.indexSelect(dim: 0, index: indices)
        let oldValues = rollout.values.indexSelect(dim: 0, index: indices)
        let returns = batch.returns.indexSelect(dim: 0, index: indices)
        if fused, let step = FusedPPOLoss.compute(
            distribution: distribution, values: values, actions: actions, oldLogProbs: oldLogProbs,
            advantages: advantages, oldValues: oldValues, returns: returns, objective: objective) {
            return step
        }
        let policyLoss = PPOPolicyLoss(
            logProbs: distribution.logProb(actions), oldLogProbs: oldLogProbs, advantages: advantages,
            clipLow: objective.clipRange, normalizeAdvantages: objective.normalizeAdvantages)
        let (valueLoss, valueClipFraction) = ppoValueLoss(
            values: values, oldValues: oldValues, returns: returns, clipRange: objective.clipRangeValue,
            variant: objective.halvedMaximumValueLoss ? .cleanrl : .sb3)
        let entropyLoss = -distribution.entropy().mean()
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
    /// policy + entCoef·entropy + vfCoef·value, differentiable.
    let loss: Tensor
    let values: PPOLossValues
    /// Whether the objective was the fused node (`FusedPPOLoss`) rather than the composed losses.
    var fused = false
}
