import Torch

/// Summed completion log-probabilities of a batch of pairs, [B] each, plus completion token counts [B] (same dtype).
public struct PairLogProbabilities {
    /// The policy's summed log-probabilities of the chosen and rejected completions.
    public var policyChosen: Tensor, policyRejected: Tensor
    /// The frozen reference's log-probabilities; nil when no loss in use needs a reference.
    public var referenceChosen: Tensor?, referenceRejected: Tensor?
    /// Completion token counts (section 2's `token_counts`); a 0 is read as 1 where a loss divides by it.
    public var chosenLengths: Tensor, rejectedLengths: Tensor

    /// A batch of pairs; leave the references out for losses without a reference model.
    public init(policyChosen: Tensor, policyRejected: Tensor, referenceChosen: Tensor? = nil, referenceRejected: Tensor? = nil,
                chosenLengths: Tensor, rejectedLengths: Tensor) {
        self.policyChosen = policyChosen
        self.policyRejected = policyRejected
        self.referenceChosen = referenceChosen
        self.referenceRejected = referenceRejected
        self.chosenLengths = chosenLengths
        self.rejectedLengths = rejectedLengths
    }
}

/// Lists of K responses per row, [B, K] each.
public struct ListLogProbabilities {
    /// Summed completion log-probabilities under the policy and (for dpo_plackett_luce and lipo_lambda) the reference.
    public var policy: Tensor, reference: Tensor?
    /// Completion token counts (pro divides by them).
    public var lengths: Tensor
    /// Ordered best first for dpo_plackett_luce and pro (rewards for pro); graded labels in any order for lipo_lambda.
    public var scores: Tensor

    /// A batch of lists; leave the reference out for pro.
    public init(policy: Tensor, reference: Tensor? = nil, lengths: Tensor, scores: Tensor) {
        self.policy = policy
        self.reference = reference
        self.lengths = lengths
        self.scores = scores
    }
}

/// Per-example losses [B] (already including any batch-level term, so the batch loss is their mean) and TRL's logged
/// metrics for this batch.
public struct ObjectiveResult {
    /// Per-example losses [B].
    public var losses: Tensor
    /// The scalar to back-propagate: the mean of `losses`.
    public var loss: Tensor { losses.mean() }
    /// Metric name → value; an absent key is undefined for this batch (never a stand-in 0).
    public var metrics: [String: Double]

    /// A result from per-example losses and the batch's metrics.
    public init(losses: Tensor, metrics: [String: Double] = [:]) {
        self.losses = losses
        self.metrics = metrics
    }
}
