import Foundation
import Torch

/// Preference Ranking Optimisation: K - 1 successive "best of the rest" softmax problems over length-normalised policy
/// log-likelihoods, with reward-gap temperatures, plus an SFT term on one response (ALGORITHMS-preference.md section 15).
///
/// Source: Song et al., "Preference Ranking Optimization for Human Alignment" (AAAI 2024) and its reference code.
/// Defaults sft_weight = 0.05 (scaled by (K - 1)^2 as that code does), temperatures on, eps = 0 (the code's 1e-10
/// inside the log is opt-in), sft_index = 0. No reference model.
public enum PRO {
    /// - Parameters:
    ///   - policy: summed log-probabilities [B, K], rows ordered best first.
    ///   - lengths: completion token counts [B, K], each >= 1.
    ///   - rewards: reward-model scores [B, K], non-increasing along a row (constants; ordering is the caller's duty).
    /// - Returns: per-list losses [B] = rank losses + SFT losses, and the scores policy / lengths [B, K].
    /// - Throws: for a length below 1 or an `sftIndex` outside the list.
    public static func evaluate(policy: Tensor, lengths: Tensor, rewards: Tensor, sftWeight: Double = 0.05,
                                useTemperature: Bool = true, epsilon: Double = 0, sftIndex: Int = 0) throws
        -> (losses: Tensor, rankLosses: Tensor, sftLosses: Tensor, scores: Tensor) {
        precondition(policy.rank == 2 && lengths.shape == policy.shape && rewards.shape == policy.shape,
                     "PRO needs policy, lengths and rewards [B, K], got \(policy.shape), \(lengths.shape), \(rewards.shape)")
        let (rows, count) = (policy.size(0), policy.size(1))
        guard count >= 2 else { throw PreferenceLossError("PRO needs lists of at least 2 responses, got \(count)") }
        guard (0..<count).contains(sftIndex) else { throw PreferenceLossError("pro_sft_index \(sftIndex) is outside lists of \(count)") }
        guard lengths.doubles.allSatisfy({ $0 >= 1 }) else { throw PreferenceLossError("PRO: every completion length must be at least 1") }
        let scores = policy / lengths.detach().to(dtype: policy.dtype)
        let position = Tensor.arange(count, device: policy.device)
        let (k, j) = (position.unsqueezed(1), position.unsqueezed(0))
        // Row k of these [B, K-1, K] matrices is step k: response k against the responses j > k after it.
        let steps = 0..<(count - 1)
        let exponents: Tensor, positive: Tensor
        if useTemperature {
            let gaps = (rewards.unsqueezed(2) - rewards.unsqueezed(1)).detach().to(dtype: policy.dtype)[.all, steps]
            let later = (j .> k)[steps]
            let hottest = gaps.maskedFill(later.logicalNot(), -Double.infinity).max(dims: [2])
            positive = scores[.all, steps] * hottest
            exponents = Tensor.where((j .== k)[steps], positive.unsqueezed(2), scores.unsqueezed(1) * gaps)
        } else {
            positive = scores[.all, steps]
            exponents = scores.unsqueezed(1).expanded([rows, count - 1, count])
        }
        var terms = exponents.maskedFill((j .< k)[steps], -Double.infinity)
        if epsilon > 0 {
            terms = Tensor.cat([terms, Tensor.full([rows, count - 1, 1], value: Foundation.log(epsilon), dtype: policy.dtype,
                                                   device: policy.device)], dim: 2)
        }
        let rankLosses = (terms.logSumExp(dim: 2) - positive).sum(dim: 1)
        let sftLosses = -sftWeight * Double((count - 1) * (count - 1)) * policy[.all, sftIndex]
        return (rankLosses + sftLosses, rankLosses, sftLosses, scores)
    }
}
