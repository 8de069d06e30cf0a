import Torch

/// Length-normalised DPO: the sigmoid loss on per-token average log-ratios, softplus(-beta d)
/// (ALGORITHMS-preference.md section 10).
///
/// Source: the length-normalised DPO ablation of Meng, Xia, Chen, "SimPO" (2024) and the Tulu 3 recipe; TRL's
/// `loss_type="sigmoid_norm"` (not RSO's sigmoid-norm). Default beta = 0.1.
public enum LengthNormalizedDPO {
    /// d = (pi_c - ref_c) / L_c - (pi_r - ref_r) / L_r [B], a length of 0 read as 1.
    public static func normalizedGap(policyChosen: Tensor, policyRejected: Tensor, referenceChosen: Tensor,
                                     referenceRejected: Tensor, chosenLengths: Tensor, rejectedLengths: Tensor) -> Tensor {
        IPO.gap(policyChosen: policyChosen, policyRejected: policyRejected, referenceChosen: referenceChosen,
                referenceRejected: referenceRejected, chosenLengths: chosenLengths, rejectedLengths: rejectedLengths)
    }

    /// Per-pair losses [B].
    public static func losses(policyChosen: Tensor, policyRejected: Tensor, referenceChosen: Tensor, referenceRejected: Tensor,
                              chosenLengths: Tensor, rejectedLengths: Tensor, beta: Double = 0.1) -> Tensor {
        let d = normalizedGap(policyChosen: policyChosen, policyRejected: policyRejected, referenceChosen: referenceChosen,
                              referenceRejected: referenceRejected, chosenLengths: chosenLengths, rejectedLengths: rejectedLengths)
        return -(beta * d).logSigmoid()
    }
}
