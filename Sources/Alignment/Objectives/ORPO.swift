import Torch

/// Odds-ratio preference optimisation: the supervised NLL of the chosen responses plus lambda softplus(-log odds ratio)
/// of the chosen over the rejected response, with no reference model (ALGORITHMS-preference.md section 17).
///
/// Source: Hong, Lee, Thorne, "ORPO: Monolithic Preference Optimization without Reference Model" (2024); TRL's
/// experimental `ORPOTrainer`. Default lambda = 0.1 (TRL's `beta`). The NLL is an input, so either the paper's
/// (completion tokens) or TRL's (whole chosen sequence) can be supplied.
public enum ORPO {
    /// - Parameters:
    ///   - policyChosenAverage, policyRejectedAverage: per-token average log-probabilities [B], each < 0.
    ///   - chosenNLL: the supervised loss on the chosen responses, a scalar tensor; added to every example.
    /// - Returns: per-example losses [B] (NLL + odds-ratio loss), the odds-ratio losses and log odds ratios [B], and
    ///   TRL's metrics (rewards = lambda × average log-probs, `nll_loss`, `log_odds_ratio`, `log_odds_chosen`).
    /// - Throws: for an average log-probability that is not below 0 (probability 1 has infinite odds).
    public static func evaluate(policyChosenAverage: Tensor, policyRejectedAverage: Tensor, chosenNLL: Tensor,
                                lambda: Double = 0.1) throws
        -> (losses: Tensor, oddsRatioLosses: Tensor, logOdds: Tensor, metrics: [String: Double]) {
        let (chosen, rejected) = (policyChosenAverage.doubles, policyRejectedAverage.doubles)
        guard (chosen + rejected).allSatisfy({ $0 < 0 }) else {
            throw PreferenceLossError("ORPO: average log-probabilities must be below 0 (a probability of 1 has infinite odds)")
        }
        let logOdds = (policyChosenAverage - policyRejectedAverage)
            - (policyChosenAverage.logOneMinusExp - policyRejectedAverage.logOneMinusExp)
        let logSigmoid = logOdds.logSigmoid()
        let oddsRatioLosses = -lambda * logSigmoid
        var metrics = ImplicitRewards.metrics(chosenRewards: chosen.map { lambda * $0 }, rejectedRewards: rejected.map { lambda * $0 },
                                              chosenLogps: chosen, rejectedLogps: rejected)
        metrics["nll_loss"] = chosenNLL.item(Double.self)
        metrics["log_odds_ratio"] = average(logSigmoid.doubles)
        metrics["log_odds_chosen"] = average(logOdds.doubles)
        return (chosenNLL + oddsRatioLosses, oddsRatioLosses, logOdds, metrics)
    }
}
