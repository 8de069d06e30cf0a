import Torch

/// Robust DPO (rDPO): the unbiased estimate of the clean sigmoid loss under labels flipped at rate eps,
/// [(1 - eps) softplus(-beta h) - eps softplus(beta h)] / (1 - 2 eps) (ALGORITHMS-preference.md section 8).
///
/// Source: Chowdhury, Kini, Natarajan, "Provably Robust DPO: Aligning Language Models with Noisy Feedback" (2024);
/// TRL's `loss_type="robust"`. Defaults beta = 0.1, eps = 0.1 suggested, eps in [0, 0.5). Unlike cDPO the loss is not
/// bounded below.
public enum RobustDPO {
    /// Per-pair losses [B] from summed completion log-probabilities [B]; the references are constants.
    public static func losses(policyChosen: Tensor, policyRejected: Tensor, referenceChosen: Tensor, referenceRejected: Tensor,
                              beta: Double = 0.1, epsilon: Double = 0.1) -> Tensor {
        precondition((0..<0.5).contains(epsilon), "robust DPO needs a flip rate in [0, 0.5), got \(epsilon)")
        let z = beta * ImplicitRewards.margins(policyChosen: policyChosen, policyRejected: policyRejected,
                                               referenceChosen: referenceChosen, referenceRejected: referenceRejected)
        return ((1 - epsilon) * -z.logSigmoid() - epsilon * z.exactSoftplus) / (1 - 2 * epsilon)
    }
}
