import Torch

/// The two losses RSO fits on reference-normalised log-ratios, with temperature gamma (ALGORITHMS-preference.md
/// section 12.1). "norm" means normalised by the SFT/reference policy, not by length.
///
/// Source: Liu et al., "Statistical Rejection Sampling Improves Preference Optimization" (ICLR 2024). Default
/// gamma = 0.05 (the paper's choice for both). TRL: `loss_type="sigmoid"` / `"hinge"` with beta = gamma.
public enum RSOLosses {
    /// Logistic regression on h: softplus(-gamma h) [B] (DPO's sigmoid loss with beta = gamma).
    public static func sigmoidNorm(policyChosen: Tensor, policyRejected: Tensor, referenceChosen: Tensor, referenceRejected: Tensor,
                                   gamma: Double = 0.05) -> Tensor {
        DPOSigmoid.losses(policyChosen: policyChosen, policyRejected: policyRejected, referenceChosen: referenceChosen,
                          referenceRejected: referenceRejected, beta: gamma)
    }

    /// The SVM hinge on h: max(0, 1 - gamma h) [B].
    public static func hingeNorm(policyChosen: Tensor, policyRejected: Tensor, referenceChosen: Tensor, referenceRejected: Tensor,
                                 gamma: Double = 0.05) -> Tensor {
        let h = ImplicitRewards.margins(policyChosen: policyChosen, policyRejected: policyRejected,
                                        referenceChosen: referenceChosen, referenceRejected: referenceRejected)
        return (1 - gamma * h).relu()
    }
}
