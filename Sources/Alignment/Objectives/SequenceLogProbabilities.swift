import Torch

/// Per-sequence completion log-probabilities from causal-LM logits (ALGORITHMS-preference.md section 2): the logits at
/// position t score the token at t + 1, only tokens whose completion-mask entry is set count, and position 0 (which
/// nothing predicts) is never scored.
public enum SequenceLogProbabilities {
    /// - Parameters:
    ///   - logits: [B, T, V] model outputs (the last position is unused); half-precision logits are scored in float32.
    ///   - inputIDs: [B, T] integer tokens fed to the model.
    ///   - completionMask: [B, T], non-zero where a token must be scored.
    /// - Returns: `perToken` [B, T-1] (0 where unscored), `summed` [B], `counts` [B] (token counts in the log-probs'
    ///   floating dtype, exact integers) and `average` [B] (0 for an empty completion).
    public static func compute(logits: Tensor, inputIDs: Tensor, completionMask: Tensor)
        -> (perToken: Tensor, summed: Tensor, counts: Tensor, average: Tensor) {
        precondition(logits.rank == 3 && inputIDs.shape == Array(logits.shape.prefix(2)) && completionMask.shape == inputIDs.shape,
                     "sequence log-probabilities need logits [B, T, V] with input IDs and completion mask [B, T]")
        let width = logits.size(1)
        let scored = logits.dtype.byteSize < 4 ? logits.to(dtype: .float32) : logits
        let predicting = scored[.all, 0..<(width - 1)]
        let mask = completionMask[.all, 1...] .!= 0
        // Unscored positions may hold any padding id: read token 0 there, the value is discarded.
        let targets = inputIDs[.all, 1...].to(dtype: .int64).maskedFill(mask.logicalNot(), 0)
        let picked = predicting.gather(dim: 2, index: targets.unsqueezed(2)).squeezed(2)
        let perToken = (picked - predicting.logSumExp(dim: 2)).maskedFill(mask.logicalNot(), 0.0)
        let summed = perToken.sum(dim: 1)
        let counts = mask.to(dtype: scored.dtype).sum(dim: 1)
        return (perToken, summed, counts, summed / counts.clamp(min: 1))
    }
}
