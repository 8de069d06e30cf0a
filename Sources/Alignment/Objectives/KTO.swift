import Torch

/// Kahneman-Tversky optimisation on unpaired examples labelled desirable or undesirable: lambda sigmoid(-x) with
/// x = ±beta (r - z0) around the reference point z0, a clamped KL estimate (ALGORITHMS-preference.md section 16).
///
/// Source: Ethayarajh et al., "KTO: Model Alignment as Prospect Theoretic Optimization" (2024); TRL's `KTOTrainer`,
/// `loss_type="kto"`. Defaults beta = 0.1, desirable and undesirable weights 1 (choose them so that
/// lambda_D n_D / (lambda_U n_U) lies in [1, 4/3]).
public enum KTO {
    /// - Parameters:
    ///   - policy, reference: summed log-probabilities [N].
    ///   - labels: [N], 1 (or true) for desirable, 0 for undesirable.
    ///   - policyKL, referenceKL: log-probabilities [M] of mismatched prompt/completion pairs; only their detached mean
    ///     log-ratio enters, as z0 = max(0, mean).
    /// - Returns: per-example losses [N] in input order, z0 (a detached scalar) and TRL's metrics: `kl`, and the
    ///   rewards/logps means over each group (absent for a group without examples).
    public static func evaluate(policy: Tensor, reference: Tensor, labels: Tensor, policyKL: Tensor, referenceKL: Tensor,
                                beta: Double = 0.1, desirableWeight: Double = 1, undesirableWeight: Double = 1)
        -> (losses: Tensor, kl: Tensor, metrics: [String: Double]) {
        precondition(policyKL.count > 0, "KTO needs a non-empty KL batch")
        let kl = (policyKL - referenceKL).detach().mean().clamp(min: 0)
        let logRatios = ImplicitRewards.logRatios(policy: policy, reference: reference)
        let desirable = labels.detach().to(dtype: policy.dtype)
        let x = beta * (2 * desirable - 1) * (logRatios - kl)
        let weights = desirableWeight * desirable + undesirableWeight * (1 - desirable)
        let losses = weights * (-x).sigmoid()

        let (flags, ratios, logps) = (desirable.doubles.map { $0 > 0.5 }, logRatios.doubles, policy.doubles)
        func mean(_ values: [Double], _ wanted: Bool) -> Double? { average(zip(values, flags).filter { $0.1 == wanted }.map(\.0)) }
        var metrics = ["kl": kl.item(Double.self)]
        let chosen = mean(ratios, true).map { beta * $0 }, rejected = mean(ratios, false).map { beta * $0 }
        metrics["rewards/chosen"] = chosen
        metrics["rewards/rejected"] = rejected
        if let chosen, let rejected { metrics["rewards/margins"] = chosen - rejected }
        metrics["logps/chosen"] = mean(logps, true)
        metrics["logps/rejected"] = mean(logps, false)
        return (losses, kl, metrics)
    }
}
