import Torch

/// Identity preference optimisation: the squared distance of the log-ratio gap from 1/(2 tau)
/// (ALGORITHMS-preference.md section 9).
///
/// Source: Azar et al., "A General Theoretical Paradigm to Understand Learning from Human Preferences" (2023); TRL's
/// `loss_type="ipo"`. Defaults tau = 0.1 (TRL's `beta`; target gap 5) and length normalisation on, as TRL does (the
/// paper's sequence-level gap is `lengthNormalize: false`).
public enum IPO {
    /// The gap d [B]: per-token log-ratios (lengths of 0 read as 1) when `lengthNormalize`, else h.
    public static func gap(policyChosen: Tensor, policyRejected: Tensor, referenceChosen: Tensor, referenceRejected: Tensor,
                           chosenLengths: Tensor, rejectedLengths: Tensor, lengthNormalize: Bool = true) -> Tensor {
        let chosen = ImplicitRewards.logRatios(policy: policyChosen, reference: referenceChosen)
        let rejected = ImplicitRewards.logRatios(policy: policyRejected, reference: referenceRejected)
        return lengthNormalize ? chosen.perToken(chosenLengths) - rejected.perToken(rejectedLengths) : chosen - rejected
    }

    /// Per-pair losses (d - 1/(2 tau))^2 [B].
    public static func losses(policyChosen: Tensor, policyRejected: Tensor, referenceChosen: Tensor, referenceRejected: Tensor,
                              chosenLengths: Tensor, rejectedLengths: Tensor, tau: Double = 0.1,
                              lengthNormalize: Bool = true) -> Tensor {
        let d = gap(policyChosen: policyChosen, policyRejected: policyRejected, referenceChosen: referenceChosen,
                    referenceRejected: referenceRejected, chosenLengths: chosenLengths, rejectedLengths: rejectedLengths,
                    lengthNormalize: lengthNormalize)
        return (d - 1 / (2 * tau)).square()
    }
}
