import Torch

/// Token sequences of different lengths as one padded batch, with everything a forward pass needs derived from the
/// lengths — never from comparing ids with a pad id (a pad id can be a real token: these fixtures pad with EOS).
public struct TokenBatch {
    /// int64 [batch, columns].
    public let ids: Tensor
    /// The real tokens of each row.
    public let lengths: [Int]
    public let padding: PaddingSide
    /// The number of columns.
    public var columns: Int { ids.size(1) }
    public var rows: Int { lengths.count }

    /// Pads `sequences` with `padID` on `padding`'s side to the longest length.
    public init(_ sequences: [[Int]], padding: PaddingSide, padID: Int) {
        precondition(!sequences.isEmpty, "a batch needs at least one sequence")
        let width = Swift.max(1, sequences.map(\.count).max() ?? 1)
        var flat: [Int64] = []
        flat.reserveCapacity(width * sequences.count)
        for sequence in sequences {
            let pad = [Int64](repeating: Int64(padID), count: width - sequence.count)
            let ids = sequence.map(Int64.init)
            flat += padding == .left ? pad + ids : ids + pad
        }
        ids = Tensor(flat, shape: [sequences.count, width])
        lengths = sequences.map(\.count)
        self.padding = padding
    }

    /// Whether every row has the same length (no padding at all).
    public var isRectangular: Bool { lengths.allSatisfy { $0 == columns } }

    /// Boolean [batch, columns]: true on real tokens.
    public var attentionMask: Tensor { AttentionMask.keyMask(lengths: lengths, keyLength: columns, padding: padding) }

    /// int64 [batch, columns]: each real token's position within its own sequence (cumsum(mask) − 1), 0 on padding.
    public var positions: Tensor { positionIds(fromAttentionMask: attentionMask) }

    /// The causal-and-padding mask [batch, 1, columns, columns] of one pass over the whole batch, or nil when no row
    /// is padded (plain causal attention is then exact and takes the fused kernel's fastest path).
    public var causalMask: Tensor? {
        isRectangular ? nil : AttentionMask.from(lengths: lengths, keyLength: columns, padding: padding)
    }
}

/// Prompts and completions tokenised apart and concatenated (no token merges across the boundary, no second BOS),
/// right-padded into one training batch.
public struct CompletionBatch {
    public let batch: TokenBatch
    public let promptLengths: [Int]
    public let completionLengths: [Int]

    /// - Parameters:
    ///   - prompts: each prompt's ids, as the tokenizer gave them (with BOS when the tokenizer adds one).
    ///   - completions: each completion's ids, tokenised without special tokens (an EOS appended by the caller when
    ///     training should teach the model to stop).
    public init(prompts: [[Int]], completions: [[Int]], padID: Int) {
        precondition(prompts.count == completions.count, "\(prompts.count) prompts but \(completions.count) completions")
        precondition(prompts.allSatisfy { !$0.isEmpty }, "every prompt needs at least one token (the first completion token is predicted from it)")
        batch = TokenBatch(zip(prompts, completions).map { $0 + $1 }, padding: .right, padID: padID)
        promptLengths = prompts.map(\.count)
        completionLengths = completions.map(\.count)
    }

    /// Prompts and completions as text: each prompt encoded as the tokenizer encodes a text on its own (with the
    /// special tokens its post-processor adds, such as a BOS), each completion without special tokens, then
    /// concatenated — so no token merges across the boundary and no BOS lands in the middle. `appendEOS` ends every
    /// completion with the tokenizer's EOS (what teaches a model to stop).
    public init(prompts: [String], completions: [String], tokenizer: Tokenizer, appendEOS: Bool = false, padID: Int? = nil) {
        let eos = appendEOS ? tokenizer.eosTokenID.map { [$0] } ?? [] : []
        self.init(prompts: prompts.map { tokenizer.encode($0) },
                  completions: completions.map { tokenizer.encode($0, addSpecialTokens: false) + eos },
                  padID: padID ?? tokenizer.padTokenID ?? tokenizer.eosTokenID ?? 0)
    }

    /// The longest completion.
    public var completionColumns: Int { Swift.max(1, completionLengths.max() ?? 1) }

    /// Boolean [batch, completionColumns]: true on real completion tokens.
    public var completionMask: Tensor { AttentionMask.keyMask(lengths: completionLengths, keyLength: completionColumns) }
}
