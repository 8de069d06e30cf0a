import Foundation
import NeuralNetworks
import Torch

/// On-policy Mirror Descent Policy Optimization (ALGORITHMS-rl A7): iteration k of K takes its SGD steps
/// (`n_epochs` passes over `batch_size` minibatches) on −(mean(ρÂ) − mean(KL(π_θ ‖ π_k))/t_k) with
/// t_k = 1 − (k − 1)/K, advantages standardised over the whole batch with the population std and no ε; the value
/// function trains alongside with the configured value loss.
enum MDPO {
    static func update(policy: ActorCriticPolicy, optimization: Optimization, batch: TrainingBatch, config: OnPolicyConfig,
                       generator: Generator) throws -> [String: Double] {
        let rollout = batch.rollout
        let advantages = config.normalizeAdvantage ? normalizeAdvantages(batch.advantages, eps: 0, unbiased: false) : batch.advantages
        var metrics = MetricAccumulator()
        var stepSize = 1.0
        for _ in 0..<config.nEpochs {
            for indices in batch.minibatches(size: config.batchSize, generator: generator) {
                let (distribution, values) = policy(rollout.observations.indexSelect(dim: 0, index: indices))
                let old = distribution.sameFamily(parameters: rollout.distributionParameters.indexSelect(dim: 0, index: indices))
                let loss = MDPOLoss(new: distribution, old: old, actions: rollout.actions.indexSelect(dim: 0, index: indices),
                                    advantages: advantages.indexSelect(dim: 0, index: indices),
                                    iteration: batch.update, totalIterations: batch.totalUpdates, normalizeAdvantages: false)
                stepSize = loss.stepSize
                let (valueLoss, _) = ppoValueLoss(values: values, oldValues: rollout.values.indexSelect(dim: 0, index: indices),
                                                  returns: batch.returns.indexSelect(dim: 0, index: indices),
                                                  clipRange: config.clipRangeVf, variant: config.valueLoss)
                let entropyLoss = -distribution.entropy().mean()
                let total = loss.loss + config.vfCoef * valueLoss + config.entCoef * entropyLoss
                let norm = try optimization.step(total, parts: ["policy_loss": loss.loss.item(Double.self), "value_loss": valueLoss.item(Double.self)], maxGradNorm: config.maxGradNorm, update: batch.update)
                metrics.add("train/policy_loss", loss.loss.item(Double.self))
                metrics.add("train/value_loss", valueLoss.item(Double.self))
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
