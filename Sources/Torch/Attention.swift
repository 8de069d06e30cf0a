import CTorch

extension Tensor {
    /// Scaled dot-product attention, softmax(query·keyᵀ·scale + mask)·value, over ATen's fused kernel.
    ///
    /// - Parameters:
    ///   - query: [B, Hq, T, D] (any leading batch dimensions; heads third from the end).
    ///   - key: [B, Hkv, S, D]. Hq must be a multiple of Hkv (grouped-query attention): query head h reads key/value
    ///     head h / (Hq / Hkv), as Llama-style models lay them out.
    ///   - value: [B, Hkv, S, Dv].
    ///   - mask: broadcastable to [B, Hq, T, S]; boolean (true = may attend, e.g. from `AttentionMask`) or floating
    ///     (added to the scores). A query that may see no key gets zeros.
    ///   - causal: query t sees keys s ≤ t + S − T, i.e. the queries are the last T positions of the keys (for
    ///     T == S, torch's `is_causal`; for T < S, decoding with cached keys). Combines with `mask`.
    ///   - scale: multiplies the scores; 1/√D when nil.
    ///   - dropout: probability of dropping each attention weight (the rest scale by 1/(1 − p)) when `training`.
    ///     With dropout the computation is composed from separate operations so that the weights are drawn from
    ///     `generator` (the fused kernel only draws from the global one); identical seeds give identical results.
    ///   - training: dropout applies only when true (pass the module's training flag).
    ///   - generator: the source of the dropout mask (nil: libtorch's global generator).
    /// - Returns: [B, Hq, T, Dv], differentiable with respect to query, key, value and a floating mask.
    public static func scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, mask: Tensor? = nil,
                                                 causal: Bool = false, scale: Double? = nil, dropout: Double = 0,
                                                 training: Bool = true, generator: Generator? = nil) -> Tensor {
        let p = training ? dropout : 0
        return withExtendedLifetime((query, key, value, mask)) {
            withGenerator(generator) { g in
                wrap(ct_scaled_dot_product_attention(query.handle, key.handle, value.handle, mask?.handle,
                                                     causal ? 1 : 0, scale == nil ? 0 : 1, scale ?? 0, p, g),
                     "scaledDotProductAttention of query \(query.shape), key \(key.shape), value \(value.shape)"
                         + (mask.map { ", mask \($0.shape) \($0.dtype)" } ?? ""))
            }
        }
    }
}

/// Which end of a sequence its padding sits at.
public enum PaddingSide: String, Sendable, CaseIterable {
    /// Tokens first, then padding (training batches).
    case right
    /// Padding first, then tokens (batched generation, so that every sequence ends at the last column).
    case left
}

/// Boolean attention masks (true = may attend) for `Tensor.scaledDotProductAttention`.
///
/// Padding is always described by an attention mask or by lengths, never by comparing token ids with a pad id
/// (a pad id can also be a real token, e.g. when it equals the end-of-sequence id).
public enum AttentionMask {
    /// [T, S]: query t sees keys s ≤ t + S − T (the queries are the last T of the S key positions; S defaults to T).
    public static func causal(queryLength: Int, keyLength: Int? = nil) -> Tensor {
        let keys = keyLength ?? queryLength
        precondition(queryLength > 0 && keys > 0, "causal mask needs positive lengths, got \(queryLength) and \(keys)")
        let queryPositions = (Tensor.arange(queryLength) + (keys - queryLength)).unsqueezed(1)
        return Tensor.arange(keys).unsqueezed(0) .<= queryPositions
    }

    /// [B, S] boolean: true on the real tokens of sequences with the given lengths, padded on `padding`'s side to
    /// `keyLength` columns.
    public static func keyMask(lengths: [Int], keyLength: Int, padding: PaddingSide = .right) -> Tensor {
        precondition(lengths.allSatisfy { $0 >= 0 && $0 <= keyLength },
                     "lengths \(lengths) must lie in 0...\(keyLength)")
        let columns = Tensor.arange(keyLength).unsqueezed(0)
        let counts = Tensor(lengths).unsqueezed(1)
        switch padding {
        case .right: return columns .< counts
        case .left: return columns .>= (keyLength - counts)
        }
    }

    /// [B, 1, T, S] from an attention mask [B, S] (1 or true = real token): a query sees the real keys, and with
    /// `causal` only those at or before its own position (queries are the last T of the S positions; T defaults
    /// to S).
    public static func from(attentionMask: Tensor, queryLength: Int? = nil, causal: Bool = true) -> Tensor {
        precondition(attentionMask.rank == 2, "attention mask must be [batch, keys], got \(attentionMask.shape)")
        let keyMask = attentionMask.dtype == .bool ? attentionMask : attentionMask .!= 0
        return combine(keyMask: keyMask, queryLength: queryLength, causal: causal)
    }

    /// [B, 1, T, S] for sequences of the given lengths padded on `padding`'s side to `keyLength`; see
    /// `from(attentionMask:queryLength:causal:)`.
    public static func from(lengths: [Int], keyLength: Int, queryLength: Int? = nil, padding: PaddingSide = .right,
                            causal: Bool = true) -> Tensor {
        combine(keyMask: keyMask(lengths: lengths, keyLength: keyLength, padding: padding),
                queryLength: queryLength, causal: causal)
    }

    /// A boolean mask as the additive form the scores take: 0 where attending, −∞ where not.
    public static func additive(_ mask: Tensor, dtype: DType = .float32) -> Tensor {
        Tensor.zeros(mask.shape, dtype: dtype).maskedFill(mask.logicalNot(), -Double.infinity)
    }

    private static func combine(keyMask: Tensor, queryLength: Int?, causal: Bool) -> Tensor {
        let batch = keyMask.size(0), keys = keyMask.size(1)
        let queries = queryLength ?? keys
        let perKey = keyMask.view([batch, 1, 1, keys])
        guard causal else { return perKey.expanded([batch, 1, queries, keys]) }
        return perKey .& self.causal(queryLength: queries, keyLength: keys).view([1, 1, queries, keys])
    }
}

/// Position ids [B, S] (int64) for a batch described by its attention mask [B, S] (1 = real token): each real token's
/// index among the real tokens of its row, 0 on padding — cumsum(mask) − 1 with pads set to 0, as transformers
/// computes them for generation, so that a left-padded sequence starts at position 0 like an unpadded one.
public func positionIds(fromAttentionMask mask: Tensor) -> Tensor {
    precondition(mask.rank == 2, "attention mask must be [batch, keys], got \(mask.shape)")
    let real = mask.dtype == .bool ? mask : mask .!= 0
    let positions = real.to(dtype: .int64).cumsum(dim: 1) - 1
    return positions.maskedFill(real.logicalNot(), 0)
}
