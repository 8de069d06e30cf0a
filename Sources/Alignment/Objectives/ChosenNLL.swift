import Torch

/// The `sft` preference loss: the negative log-likelihood of the chosen completions, averaged over all their tokens
/// in the batch (TRL's `-chosen_per_token_logps[mask].mean()`). No reference, no parameters.
public enum ChosenNLL {
    /// Per-example shares [B] of the batch token mean, -B pi_c[i] / sum_j L_c[j], so that their mean is the loss;
    /// a batch without tokens (sum 0, so every pi_c is 0) gives 0.
    public static func losses(policyChosen: Tensor, chosenLengths: Tensor) -> Tensor {
        let tokens = chosenLengths.detach().to(dtype: policyChosen.dtype).sum().clamp(min: 1)
        return -policyChosen * Double(policyChosen.count) / tokens
    }
}
