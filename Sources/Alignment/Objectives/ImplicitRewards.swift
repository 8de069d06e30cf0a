import Torch

/// DPO's implicit reward beta (log pi_theta - log pi_ref) and the batch metrics TRL logs from it
/// (ALGORITHMS-preference.md section 3). Reference log-probabilities are constants: they are detached here.
public enum ImplicitRewards {
    /// log pi_theta(y|x) - log pi_ref(y|x), per example.
    public static func logRatios(policy: Tensor, reference: Tensor) -> Tensor { policy - reference.detach() }

    /// h = (pi_c - ref_c) - (pi_r - ref_r), the DPO logit.
    public static func margins(policyChosen: Tensor, policyRejected: Tensor, referenceChosen: Tensor,
                               referenceRejected: Tensor) -> Tensor {
        logRatios(policy: policyChosen, reference: referenceChosen) - logRatios(policy: policyRejected, reference: referenceRejected)
    }

    /// rewards/{chosen, rejected, accuracies, margins} with rewards = scale * summed log-ratios, and
    /// logps/{chosen, rejected} (summed policy log-probabilities), as Doubles from detached values.
    public static func metrics(policyChosen: Tensor, policyRejected: Tensor, referenceChosen: Tensor, referenceRejected: Tensor,
                               scale: Double) -> [String: Double] {
        let (pc, pr) = (policyChosen.doubles, policyRejected.doubles)
        let (rc, rr) = (referenceChosen.doubles, referenceRejected.doubles)
        return metrics(chosenRewards: zip(pc, rc).map { scale * ($0 - $1) }, rejectedRewards: zip(pr, rr).map { scale * ($0 - $1) },
                       chosenLogps: pc, rejectedLogps: pr)
    }

    /// The same metrics from per-example rewards and log-probabilities already at hand (SimPO and ORPO log
    /// beta-scaled average log-probabilities as rewards). Accuracy is strict: a tie counts as wrong.
    public static func metrics(chosenRewards: [Double], rejectedRewards: [Double], chosenLogps: [Double],
                               rejectedLogps: [Double]) -> [String: Double] {
        var metrics = logpMetrics(chosen: chosenLogps, rejected: rejectedLogps)
        metrics["rewards/chosen"] = average(chosenRewards)
        metrics["rewards/rejected"] = average(rejectedRewards)
        metrics["rewards/accuracies"] = average(zip(chosenRewards, rejectedRewards).map { $0 > $1 ? 1 : 0 })
        metrics["rewards/margins"] = average(zip(chosenRewards, rejectedRewards).map { $0 - $1 })
        return metrics
    }

    /// logps/chosen and logps/rejected alone (losses without a reference).
    static func logpMetrics(chosen: [Double], rejected: [Double]) -> [String: Double] {
        var metrics: [String: Double] = [:]
        metrics["logps/chosen"] = average(chosen)
        metrics["logps/rejected"] = average(rejected)
        return metrics
    }
}
