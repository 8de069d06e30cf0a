import Foundation
import Torch

/// LiPO-lambda: the LambdaLoss pairwise logistic loss over a list with graded labels, each correctly ordered pair
/// weighted by the DCG change of swapping it under the policy's current ranking (ALGORITHMS-preference.md section 14).
///
/// Source: Liu et al., "LiPO: Listwise Preference Optimization through Learning-to-Rank" (2024), without the printed
/// formula's stray minus sign; natural-log discount. Default beta = 0.1. Lists in any order, one length per batch.
public enum LiPOLambda {
    /// - Parameters:
    ///   - policy, reference: summed log-probabilities [B, K].
    ///   - labels: graded labels psi [B, K], higher is better (constants).
    /// - Returns: per-list losses [B], scores s = beta (pi - ref) [B, K], 1-based int64 ranks of s (descending, ties
    ///   to the lower index) [B, K], and the lambda weights [B, K, K] (Delta_ij where psi_i > psi_j, else 0; constants).
    public static func evaluate(policy: Tensor, reference: Tensor, labels: Tensor, beta: Double = 0.1)
        -> (losses: Tensor, scores: Tensor, ranks: Tensor, lambdaWeights: Tensor) {
        precondition(policy.rank == 2 && labels.shape == policy.shape,
                     "LiPO needs policy and labels [B, K], got \(policy.shape), \(labels.shape)")
        let scores = beta * ImplicitRewards.logRatios(policy: policy, reference: reference)
        let (rows, count) = (policy.size(0), policy.size(1))
        let order = scores.detach().sorted(dim: 1, descending: true, stable: true).indices
        let places = Tensor.arange(1, count + 1, step: 1, dtype: .int64, device: policy.device).expanded([rows, count]).contiguous()
        let ranks = Tensor.zeros([rows, count], dtype: .int64, device: policy.device).scatter(dim: 1, index: order, source: places)
        let psi = labels.detach().to(dtype: scores.dtype)
        let gains = (psi * Foundation.log(2.0)).expm1()
        let discounts = 1 / ranks.to(dtype: scores.dtype).log1p()
        func pairwise(_ x: Tensor) -> Tensor { x.unsqueezed(2) - x.unsqueezed(1) }
        let better = (psi.unsqueezed(2) .> psi.unsqueezed(1)).to(dtype: scores.dtype)
        let weights = pairwise(gains).abs() * pairwise(discounts).abs() * better
        let losses = (weights * -pairwise(scores).logSigmoid()).sum(dims: [1, 2])
        return (losses, scores, ranks, weights)
    }
}
