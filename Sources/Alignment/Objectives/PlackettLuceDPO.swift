import Torch

/// Listwise DPO: the Plackett-Luce loss on the implicit rewards s = beta (pi - ref) of a ranked list
/// (ALGORITHMS-preference.md section 13).
///
/// Source: Rafailov et al., "Direct Preference Optimization" (2023), the Plackett-Luce generalisation in its appendix.
/// Default beta = 0.1; rows ordered best first, strict rankings. With K = 2 it equals the sigmoid loss.
public enum PlackettLuceDPO {
    /// Per-list losses [B] and the scores s [B, K] from summed log-probabilities [B, K].
    public static func evaluate(policy: Tensor, reference: Tensor, beta: Double = 0.1) -> (losses: Tensor, scores: Tensor) {
        let scores = beta * ImplicitRewards.logRatios(policy: policy, reference: reference)
        return (PlackettLuceReward.losses(rewards: scores), scores)
    }
}
