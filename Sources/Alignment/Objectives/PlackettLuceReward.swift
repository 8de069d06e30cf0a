import Foundation
import Torch

/// The Plackett-Luce ranking loss, the listwise Bradley-Terry: sum_k logsumexp(r[k...]) - r[k] over a row ordered best
/// first (ALGORITHMS-preference.md section 5).
///
/// Source: Plackett (1975), Luce (1959); the DPO paper's ranking model. Rankings must be strict and lists of one
/// length per batch; with K = 2 it is the Bradley-Terry loss without margin.
public enum PlackettLuceReward {
    /// Per-list losses [B] of rewards [B, K] (K >= 2), each row ordered best first.
    public static func losses(rewards: Tensor) -> Tensor {
        precondition(rewards.rank == 2 && rewards.size(1) >= 2, "Plackett-Luce needs lists [B, K] with K >= 2, got \(rewards.shape)")
        let count = rewards.size(1)
        let position = Tensor.arange(count, device: rewards.device)
        // suffixes[b, k, j] = r[b, j] for j >= k: the responses still in the running when position k is filled.
        let earlier = position.unsqueezed(0) .< position.unsqueezed(1)
        let suffixes = rewards.unsqueezed(1).expanded([-1, count, -1]).maskedFill(earlier, -Double.infinity)
        return (suffixes.logSumExp(dim: 2) - rewards)[.all, 0..<(count - 1)].sum(dim: 1)
    }
}
