import Torch

/// SLiC-HF's calibration loss on raw sequence log-likelihoods, max(0, delta - (pi_c - pi_r)), plus the regulariser
/// -lambda_reg pi_target (ALGORITHMS-preference.md section 11). No reference model.
///
/// Source: Zhao et al., "SLiC-HF: Sequence Likelihood Calibration with Human Feedback" (2023). Defaults delta = 1,
/// lambda_reg = 0 (the RSO authors found the regulariser did not help when reproducing SLiC).
public enum SLiCHF {
    /// Per-pair losses [B] and their two parts; `policyTarget` is the policy's summed log-probability of the
    /// regularisation target (often the chosen response).
    public static func evaluate(policyChosen: Tensor, policyRejected: Tensor, policyTarget: Tensor, delta: Double = 1,
                                regularization: Double = 0)
        -> (losses: Tensor, calibrationLosses: Tensor, regularizationLosses: Tensor) {
        let calibration = (delta - (policyChosen - policyRejected)).relu()
        let regularizer = -regularization * policyTarget
        return (calibration + regularizer, calibration, regularizer)
    }
}
