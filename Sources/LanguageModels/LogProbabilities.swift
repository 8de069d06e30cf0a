import NeuralNetworks
import Torch

/// log p(target) under softmax(logits / temperature), per row: logits [N, V] (any floating dtype, computed in
/// float32, or float64 for float64 logits), targets int64 [N] → [N]. The one definition of a token's log-probability that generation
/// (recording what it sampled) and trainers (recomputing it) share, so the two agree up to the rounding of the
/// forward passes.
public func tokenLogProbabilities(logits: Tensor, targets: Tensor, temperature: Double = 1) -> Tensor {
    let wide = widened(logits)
    let scaled = temperature == 1 ? wide : wide / temperature
    let picked = scaled.gather(dim: 1, index: targets.unsqueezed(1)).squeezed(1)
    return picked - scaled.logSumExp(dim: 1)
}

/// Entropy of softmax(logits / temperature) per row, float32 [N].
public func tokenEntropies(logits: Tensor, temperature: Double = 1) -> Tensor {
    let scaled = widened(logits) / temperature
    let logProbabilities = scaled.logSoftmax(dim: 1)
    return -(logProbabilities.exp() * logProbabilities).sum(dim: 1)
}

/// float32, or float64 when already float64: the precision softmax and logsumexp are computed in.
func widened(_ t: Tensor) -> Tensor { t.dtype == .float64 || t.dtype == .float32 ? t : t.to(dtype: .float32) }

/// Per-token log-probabilities of completions under a model, with what trainers reduce them to.
public struct CompletionLogProbabilities {
    /// float32 [batch, completionColumns]: log p(completion token j | everything before it), 0 on padding.
    public let tokens: Tensor
    /// Boolean [batch, completionColumns]: true on real completion tokens.
    public let mask: Tensor
    /// float32 [batch, completionColumns], the entropy of each predicted distribution (0 on padding), when asked for;
    /// not differentiable.
    public let entropies: Tensor?
    /// float32 [batch]: the sum over each completion's tokens.
    public var sums: Tensor { tokens.sum(dim: 1) }
    /// float32 [batch]: the mean over each completion's tokens (0 for an empty completion).
    public var means: Tensor { sums / mask.to(dtype: .float32).sum(dim: 1).clamp(min: 1) }
}

extension TransformerDecoder {
    /// Log-probabilities of every completion token in `batch` given its prompt and the completion tokens before it.
    ///
    /// Only completion positions are scored, and never all at once: the hidden states of those positions are
    /// multiplied by the output embedding `chunkRows` rows at a time (gather + logsumexp per chunk; by default as
    /// many rows as keep one chunk's logits near `defaultChunkElements` numbers), so the float32
    /// logits of batch × sequence × vocabulary are never materialised — in the forward pass or the backward pass,
    /// which recomputes each chunk's logits instead of keeping them. Differentiable with respect to the model's
    /// parameters when gradients are recorded; equal in value and gradient to the full-logits computation.
    ///
    /// - Parameters:
    ///   - temperature: log-probabilities under softmax(logits / temperature), as the sampler reports them.
    ///   - entropies: also compute each position's entropy (detached).
    public func completionLogProbabilities(_ batch: CompletionBatch, temperature: Double = 1, entropies: Bool = false,
                                           chunkRows: Int? = nil) -> CompletionLogProbabilities {
        let tokens = batch.batch
        let columns = batch.completionColumns, rows = tokens.rows, width = tokens.columns
        // Row b's completion token j sits at column promptLength + j and is predicted at column promptLength + j − 1.
        var source: [Int64] = [], targetColumns: [Int64] = [], placement: [Int64] = []
        for b in 0..<rows {
            for j in 0..<batch.completionLengths[b] {
                let column = batch.promptLengths[b] + j
                source.append(Int64(b * width + column - 1))
                targetColumns.append(Int64(b * width + column))
                placement.append(Int64(b * columns + j))
            }
        }
        let mask = batch.completionMask
        guard !source.isEmpty else {
            let zeros = Tensor.zeros([rows, columns], dtype: outputEmbedding.dtype == .float64 ? .float64 : .float32)
            return CompletionLogProbabilities(tokens: zeros, mask: mask, entropies: entropies ? zeros : nil)
        }
        let flatHidden = scoredHiddenStates(tokens.ids, positions: tokens.positions, mask: tokens.causalMask, sources: source)
        let targets = tokens.ids.reshaped([-1]).indexSelect(dim: 0, index: Tensor(targetColumns))
        let (values, entropyValues) = chunkedLogProbabilities(hidden: flatHidden, outputEmbedding: outputEmbedding,
                                                              targets: targets, temperature: temperature,
                                                              chunkRows: chunkRows ?? defaultChunkRows, entropies: entropies)
        let index = Tensor(placement)
        let placed = Tensor.zeros([rows * columns], dtype: values.dtype).scatter(dim: 0, index: index, source: values).reshaped([rows, columns])
        let placedEntropies = entropyValues.map {
            Tensor.zeros([rows * columns], dtype: $0.dtype).scatter(dim: 0, index: index, source: $0).reshaped([rows, columns])
        }
        return CompletionLogProbabilities(tokens: placed, mask: mask, entropies: placedEntropies)
    }
}

/// The trimmed pass behind `TransformerDecoder.scoredHiddenStates`: a switch, and counters that show it ran.
public enum ScoredPositionPass {
    /// Whether passes that need a few positions' hidden states compute only what those need (default true); false
    /// runs every layer over every column and selects afterwards (the plain path, same values to rounding).
    nonisolated(unsafe) public static var isEnabled = true
    /// Columns the last layer skipped in trimmed passes of this process (leading columns before the first scored
    /// position, and columns after the last one, which no layer computed).
    nonisolated(unsafe) public private(set) static var skippedColumns = 0
    /// Columns of the batches those passes were given, in all.
    nonisolated(unsafe) public private(set) static var totalColumns = 0

    static func record(skipped: Int, total: Int) {
        skippedColumns += skipped
        totalColumns += total
    }
}

extension TransformerDecoder {
    /// The final hidden states [N, hidden] at flat positions `sources` (row × columns + column) of a pass over
    /// `inputIDs` [rows, columns]: what a loss on those positions alone needs, computed without what it does not.
    ///
    /// With `ScoredPositionPass.isEnabled`, the columns after the last scored one are left out of the pass (no earlier
    /// column attends to them), and the last layer computes its queries, feed-forward block and final norm only from
    /// the first scored column on (`hiddenStates(…, firstOutput:)`). On completion-only SFT of 32-token prompts and
    /// 30-token completions with two layers that takes about a quarter off the whole run. `mask` must let no query see a
    /// later key (every decoder's mask is causal). Same values as selecting from the full pass, to rounding; tested.
    /// `trimmed: false` runs the full pass (the plain path).
    public func scoredHiddenStates(_ inputIDs: Tensor, positions: Tensor, mask: Tensor?, sources: [Int64],
                                   trimmed: Bool = ScoredPositionPass.isEnabled) -> Tensor {
        let width = inputIDs.size(1)
        // The columns the pass computes outputs for, first..<end; all of them for the plain path.
        let scored = trimmed ? sources.map { Int($0) % width } : []
        let first = scored.min() ?? 0, end = scored.max().map { $0 + 1 } ?? width
        func keep(_ t: Tensor, dim: Int) -> Tensor { end < width && t.size(dim) == width ? t.narrow(dim: dim, start: 0, length: end) : t }
        let ids = keep(inputIDs, dim: 1), kept = keep(positions, dim: positions.rank - 1)
        let keptMask = mask.map { keep(keep($0, dim: $0.rank - 1), dim: $0.rank - 2) }
        let hidden = hiddenStates(ids, positions: kept, mask: keptMask, caches: nil, firstOutput: first)
        if !scored.isEmpty { ScoredPositionPass.record(skipped: first + width - end, total: width) }
        let outputs = end - first
        let remapped = sources.map { Int64((Int($0) / width) * outputs + Int($0) % width - first) }
        return hidden.reshaped([-1, hidden.size(-1)]).indexSelect(dim: 0, index: Tensor(remapped))
    }

    /// log p(`targets[k]`) as predicted at flat position `sources[k]` of a pass over `inputIDs`, [N]: the pass of
    /// `scoredHiddenStates` followed by the chunked output layer of `logProbabilities(selectedHiddenStates:…)`.
    public func logProbabilities(_ inputIDs: Tensor, positions: Tensor, mask: Tensor?, sources: [Int64], targets: [Int64],
                                 temperature: Double = 1) -> Tensor {
        precondition(sources.count == targets.count, "one target per scored position")
        return logProbabilities(selectedHiddenStates: scoredHiddenStates(inputIDs, positions: positions, mask: mask, sources: sources),
                                targets: targets, temperature: temperature)
    }

    /// log p(`targets[k]`) predicted by row k of `selectedHiddenStates` [N, hidden] (as `scoredHiddenStates` gives
    /// them), [N], by the chunked output layer.
    public func logProbabilities(selectedHiddenStates: Tensor, targets: [Int64], temperature: Double = 1) -> Tensor {
        precondition(selectedHiddenStates.size(0) == targets.count, "one target per selected hidden state")
        return chunkedLogProbabilities(hidden: selectedHiddenStates, outputEmbedding: outputEmbedding, targets: Tensor(targets),
                                       temperature: temperature, chunkRows: defaultChunkRows, entropies: false).0
    }

    /// Rows per chunk of the chunked log-probs when the caller names none: about `defaultChunkElements` logits
    /// (32 MB in float32) per chunk, at least 16 rows. The backward pass holds a few chunk-sized temporaries at once,
    /// so this bounds the memory the output layer adds to a step (a 49k vocabulary: 170 rows).
    public var defaultChunkRows: Int { Swift.max(16, defaultChunkElements / Swift.max(1, configuration.vocabularySize)) }
}

/// The logits per chunk that `defaultChunkRows` aims at.
public let defaultChunkElements = 8 << 20

/// The output layer's shortcut for a frozen output embedding (LoRA, a frozen model under a trained head): a switch,
/// and a counter that shows it ran.
///
/// With the embedding frozen, the only gradient the output layer passes back is the one to its hidden states, row i's
/// being incoming_i · (one-hot(t_i) − softmax_i) / temperature · W: a fixed [N, H] matrix times one number per row.
/// The shortcut computes that matrix in the forward pass, from the chunk's logits that pass has anyway, so the
/// backward pass only scales it — instead of computing every chunk's logits and softmax a second time. It holds
/// N × H numbers until the backward pass (N × V are never kept). Same gradients as the plain path, to rounding; tested.
public enum FrozenOutputGradient {
    /// Whether a differentiable output layer over a frozen embedding precomputes its gradient (default true); false
    /// recomputes the logits in the backward pass (the plain path).
    nonisolated(unsafe) public static var isEnabled = true
    /// Rows whose hidden-state gradient was precomputed in the forward pass, in this process.
    nonisolated(unsafe) public private(set) static var precomputedRows = 0

    static func record(rows: Int) { precomputedRows += rows }
}

/// log p(targets) for hidden states [N, H] under logits = hidden · Wᵀ / temperature, `chunkRows` rows at a time,
/// with a hand-written backward pass that recomputes each chunk's logits (softmax − one-hot, times the incoming
/// gradient) instead of storing them — or, for a frozen W, only scales the gradient `FrozenOutputGradient`
/// precomputed.
func chunkedLogProbabilities(hidden: Tensor, outputEmbedding weight: Tensor, targets: Tensor, temperature: Double,
                             chunkRows: Int, entropies: Bool,
                             precomputeFrozenGradient: Bool = FrozenOutputGradient.isEnabled) -> (Tensor, Tensor?) {
    let n = hidden.size(0)
    let starts = Array(stride(from: 0, to: n, by: Swift.max(1, chunkRows)))
    let wide: DType = hidden.dtype == .float64 ? .float64 : .float32
    func chunkLogits(_ start: Int) -> (logits: Tensor, rows: Int) {
        let rows = Swift.min(chunkRows, n - start)
        return (hidden.narrow(dim: 0, start: start, length: rows).matmul(weight.transposed(0, 1)), rows)
    }
    /// one-hot(t) − softmax(logits / temperature) for a chunk, in float32 (float64 for float64): times 1 / temperature,
    /// d log p(t) / d logits.
    func oneHotMinusSoftmax(_ logits: Tensor, start: Int, rows: Int) -> Tensor {
        let d = -(widened(logits) / temperature).softmax(dim: 1)
        let chunkTargets = targets.narrow(dim: 0, start: start, length: rows).unsqueezed(1)
        return d.scatterAdd(dim: 1, index: chunkTargets, source: Tensor.ones([rows, 1], dtype: wide))
    }
    let precompute = precomputeFrozenGradient && isGradEnabled && hidden.requiresGrad && !weight.requiresGrad
    var pieces: [Tensor] = [], entropyPieces: [Tensor] = [], gradientPieces: [Tensor] = []
    withNoGrad {
        for start in starts {
            let (logits, rows) = chunkLogits(start)
            pieces.append(tokenLogProbabilities(logits: logits, targets: targets.narrow(dim: 0, start: start, length: rows),
                                                temperature: temperature))
            if entropies { entropyPieces.append(tokenEntropies(logits: logits, temperature: temperature)) }
            if precompute {
                let dLogits = (oneHotMinusSoftmax(logits, start: start, rows: rows) / temperature).to(dtype: hidden.dtype)
                gradientPieces.append(dLogits.matmul(weight))
            }
        }
    }
    let values = Tensor.cat(pieces, dim: 0)
    let entropyValues = entropies ? Tensor.cat(entropyPieces, dim: 0) : nil
    if precompute {
        FrozenOutputGradient.record(rows: n)
        let perRow = Tensor.cat(gradientPieces, dim: 0)
        attachGradient(outputs: [values], inputs: [hidden], name: "chunkedLogProbabilities") { gradients in
            guard let incoming = gradients[0] else { return [nil] }
            return [withNoGrad { (widened(perRow) * incoming.unsqueezed(1)).to(dtype: hidden.dtype) }]
        }
        return (values, entropyValues)
    }
    attachGradient(outputs: [values], inputs: [hidden, weight], name: "chunkedLogProbabilities") { gradients in
        guard let incoming = gradients[0] else { return [nil, nil] }
        // A frozen output embedding (LoRA, a frozen reference) needs no gradient: skip its products.
        let needsWeight = weight.requiresGrad, needsHidden = hidden.requiresGrad
        var hiddenGradient: [Tensor] = []
        let weightGradient = Tensor.zeros(needsWeight ? weight.shape : [0], dtype: wide)
        withNoGrad {
            for start in starts {
                let (logits, rows) = chunkLogits(start)
                let d = oneHotMinusSoftmax(logits, start: start, rows: rows)
                let dLogits = (d * (incoming.narrow(dim: 0, start: start, length: rows).unsqueezed(1) / temperature)).to(dtype: hidden.dtype)
                if needsHidden { hiddenGradient.append(dLogits.matmul(weight)) }
                if needsWeight {
                    weightGradient.add_(dLogits.transposed(0, 1).matmul(hidden.narrow(dim: 0, start: start, length: rows)).to(dtype: wide))
                }
            }
        }
        return [needsHidden ? Tensor.cat(hiddenGradient, dim: 0) : nil, needsWeight ? weightGradient.to(dtype: weight.dtype) : nil]
    }
    return (values, entropyValues)
}
