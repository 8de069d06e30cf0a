import Torch

/// Simple preference optimisation: the reference-free sigmoid loss on beta-scaled average log-likelihoods with a target
/// margin gamma, softplus(-(beta (a_c - a_r) - gamma)), optionally label-smoothed (ALGORITHMS-preference.md section 18).
///
/// Source: Meng, Xia, Chen, "SimPO: Simple Preference Optimization with a Reference-Free Reward" (2024); TRL's
/// experimental `CPOTrainer` with `loss_type="simpo"`, `cpo_alpha=0`. Defaults beta = 2.0, gamma = 0.5 (the reference
/// code's gamma/beta = 0.25), label smoothing 0. TRL's CPO defaults (beta = 0.1) are not SimPO's.
public enum SimPO {
    /// Per-pair losses [B] from per-token average log-probabilities [B], and TRL's metrics (rewards = beta × averages,
    /// logps = the averages).
    public static func evaluate(policyChosenAverage: Tensor, policyRejectedAverage: Tensor, beta: Double = 2, gamma: Double = 0.5,
                                labelSmoothing: Double = 0) -> (losses: Tensor, metrics: [String: Double]) {
        let z = beta * (policyChosenAverage - policyRejectedAverage) - gamma
        let (chosen, rejected) = (policyChosenAverage.doubles, policyRejectedAverage.doubles)
        let metrics = ImplicitRewards.metrics(chosenRewards: chosen.map { beta * $0 }, rejectedRewards: rejected.map { beta * $0 },
                                              chosenLogps: chosen, rejectedLogps: rejected)
        return (smoothedLogisticLoss(z, labelSmoothing: labelSmoothing), metrics)
    }
}
