import Torch

/// The Bradley-Terry reward-model loss softplus(-(r_c - r_r - m)), with the optional centring term c (r_c + r_r)^2
/// (ALGORITHMS-preference.md section 4).
///
/// Source: Bradley & Terry (1952) as used for RLHF reward models (InstructGPT; Llama 2 adds the margin); TRL's
/// `RewardTrainer`. Defaults: no margin, centring off (0.01 is the usual value when wanted).
public enum BradleyTerryReward {
    /// Per-pair losses [B] and TRL's metrics: accuracy (strict, margin not subtracted), margin, and the min, mean and
    /// max of all 2B rewards.
    /// - Parameters:
    ///   - margin: [B] required reward gaps (constants), or nil for none.
    ///   - centerCoefficient: TRL's `center_rewards_coefficient`, or nil for off.
    public static func evaluate(chosen: Tensor, rejected: Tensor, margin: Tensor? = nil, centerCoefficient: Double? = nil)
        -> (losses: Tensor, metrics: [String: Double]) {
        var gap = chosen - rejected
        if let margin { gap = gap - margin.detach() }
        var losses = -gap.logSigmoid()
        if let c = centerCoefficient { losses = losses + c * (chosen + rejected).square() }
        let (c, r) = (chosen.doubles, rejected.doubles)
        let all = c + r
        var metrics: [String: Double] = [:]
        metrics["accuracy"] = average(zip(c, r).map { $0 > $1 ? 1 : 0 })
        metrics["margin"] = average(zip(c, r).map { $0 - $1 })
        metrics["min_reward"] = all.min()
        metrics["mean_reward"] = average(all)
        metrics["max_reward"] = all.max()
        return (losses, metrics)
    }
}
