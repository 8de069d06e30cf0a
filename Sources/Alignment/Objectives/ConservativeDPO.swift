import Torch

/// Conservative DPO (cDPO): the sigmoid loss against a label smoothed by eps,
/// (1 - eps) softplus(-beta h) + eps softplus(beta h) (ALGORITHMS-preference.md section 7).
///
/// Source: Mitchell, "A note on DPO with noisy preferences and relationship to IPO" (2023); TRL <= 0.28's sigmoid loss
/// with `label_smoothing`. Defaults beta = 0.1, eps = 0 (plain DPO), eps in [0, 0.5]. The minimiser is the finite
/// h* = logit(1 - eps) / beta.
public enum ConservativeDPO {
    /// Per-pair losses [B] from summed completion log-probabilities [B]; the references are constants.
    public static func losses(policyChosen: Tensor, policyRejected: Tensor, referenceChosen: Tensor, referenceRejected: Tensor,
                              beta: Double = 0.1, labelSmoothing: Double = 0) -> Tensor {
        let h = ImplicitRewards.margins(policyChosen: policyChosen, policyRejected: policyRejected,
                                        referenceChosen: referenceChosen, referenceRejected: referenceRejected)
        return smoothedLogisticLoss(beta * h, labelSmoothing: labelSmoothing)
    }
}
