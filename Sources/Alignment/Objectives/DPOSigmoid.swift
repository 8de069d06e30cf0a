import Torch

/// DPO's sigmoid loss, -log sigmoid(beta h) (ALGORITHMS-preference.md section 6).
///
/// Source: Rafailov et al., "Direct Preference Optimization: Your Language Model is Secretly a Reward Model" (2023).
/// Default beta = 0.1 (TRL); a larger beta keeps the policy closer to the reference.
public enum DPOSigmoid {
    /// Per-pair losses [B] from summed completion log-probabilities [B]; the references are constants.
    public static func losses(policyChosen: Tensor, policyRejected: Tensor, referenceChosen: Tensor, referenceRejected: Tensor,
                              beta: Double = 0.1) -> Tensor {
        let h = ImplicitRewards.margins(policyChosen: policyChosen, policyRejected: policyRejected,
                                        referenceChosen: referenceChosen, referenceRejected: referenceRejected)
        return -(beta * h).logSigmoid()
    }
}
