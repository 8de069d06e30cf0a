import FastKernels
import Foundation
import NeuralNetworks
import Torch

/// The whole PPO minibatch objective — clipped surrogate, value loss and entropy bonus — as one differentiable
/// operation with a hand-derived gradient, plus its diagnostics, for categorical and diagonal-Gaussian policies
/// (unsquashed gSDE policies included: σ per row, differentiable through the policy's own graph).
///
/// It computes exactly what `PPOPolicyLoss`, `ppoValueLoss` and the distributions' `entropy()` compute together
/// (ALGORITHMS-rl A6, in double precision; the arithmetic is `ppoObjective`'s, in C++), including how autograd splits
/// the gradient at ties of `max` and at the bounds of `clamp`. Recording those ~40 small operations one by one costs
/// far more than the arithmetic for minibatches of a few hundred samples (tests compare both against the composed
/// losses). Other distributions go through the composed losses.
enum FusedPPOLoss {
    /// The objective (differentiable `loss`) and its diagnostics; nil when the distribution is not one this loss
    /// handles (then use the composed losses).
    static func compute(distribution: PolicyDistribution, values: Tensor, actions: Tensor, oldLogProbs: Tensor,
                        advantages: Tensor, oldValues: Tensor, returns: Tensor, objective: PPOObjective) -> MinibatchLoss? {
        let batch = values.count
        guard values.shape == [batch], batch > 0 else { return nil }
        let head: Tensor, logStd: Tensor?
        // An unsquashed gSDE distribution is, row by row, a diagonal Gaussian with its own σ: the same objective.
        switch distribution.unsquashedGaussian {
        case .categorical(let d):
            head = d.logProbabilities
            logStd = nil
            guard head.rank == 2, head.size(0) == batch, actions.count == batch else { return nil }
        case .gaussian(let d):
            head = d.mean
            logStd = d.logStd
            guard head.rank == 2, head.size(0) == batch, actions.shape == head.shape, d.logStd.shape == head.shape else { return nil }
        case .multiCategorical, .stateDependent:
            return nil
        }
        let dtype = head.dtype
        guard dtype == .float32 || dtype == .float64, values.dtype == dtype else { return nil }

        let (losses, gradHead, gradLogStd, gradValues) = ppoObjective(
            head: head, logStd: logStd, values: values, actions: actions, oldLogProbs: oldLogProbs, advantages: advantages,
            oldValues: oldValues, returns: returns, objective: objective)
        let loss = Tensor(losses.loss, dtype: dtype)
        let inputs = [head] + (logStd.map { [$0] } ?? []) + [values]
        let gradients = [gradHead] + (gradLogStd.map { [$0] } ?? []) + [gradValues]
        attachGradient(outputs: [loss], inputs: inputs, name: "PPOLoss") { upstream in
            guard let g = upstream[0] else { return Array(repeating: nil, count: gradients.count) }
            let scale = g.item(Double.self)
            return scale == 1 ? gradients : gradients.map { $0 * scale }
        }
        return MinibatchLoss(loss: loss, values: losses, fused: true)
    }
}
