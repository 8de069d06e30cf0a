import Torch

/// What a transformer block receives besides its hidden states. A model builds one per forward pass and hands each
/// layer a copy carrying that layer's own cache:
///
/// ```swift
/// for (i, layer) in layers.enumerated() {
///     var layerContext = context
///     layerContext.cache = caches?[i]
///     h = layer(h, context: layerContext)
/// }
/// ```
public struct LayerContext {
    /// Broadcastable to [batch, heads, queries, keys]: boolean (true = may attend) or floating (added to the
    /// scores), as `Tensor.scaledDotProductAttention` takes it; nil for no mask beyond `causal`.
    public var mask: Tensor?
    /// Whether a query sees only keys at or before its own position. The queries are the last positions of the keys,
    /// so the same flag serves a full pass and decoding with cached keys.
    public var causal: Bool
    /// Absolute positions of the queries, int64 [batch, queries] or [queries], for rotary or learned position
    /// embeddings; nil means `offset ..< offset + queries`, with `offset` the cache's length (0 without a cache).
    public var positions: Tensor?
    /// This layer's key/value cache, or nil (training, or one pass over a whole sequence).
    public var cache: (any KeyValueCache)?

    public init(mask: Tensor? = nil, causal: Bool = true, positions: Tensor? = nil, cache: (any KeyValueCache)? = nil) {
        self.mask = mask
        self.causal = causal
        self.positions = positions
        self.cache = cache
    }
}

/// The keys and values one attention layer has computed for earlier positions, for incremental decoding.
public protocol KeyValueCache: AnyObject {
    /// The number of positions cached: the absolute position of the next query.
    var offset: Int { get }
    /// Appends this step's keys and values ([batch, kvHeads, steps, headDim]) and returns every cached key and value,
    /// these included.
    func update(keys: Tensor, values: Tensor) -> (keys: Tensor, values: Tensor)
}

/// A `KeyValueCache` that concatenates along the sequence dimension: simple and exact, reallocating at every step.
public final class ConcatenatingKeyValueCache: KeyValueCache {
    /// Every key cached so far, [batch, kvHeads, offset, headDim] (nil before the first update).
    public private(set) var keys: Tensor?
    /// Every value cached so far, shaped like `keys`.
    public private(set) var values: Tensor?

    public init() {}

    public var offset: Int { keys?.size(-2) ?? 0 }

    public func update(keys newKeys: Tensor, values newValues: Tensor) -> (keys: Tensor, values: Tensor) {
        let allKeys = keys.map { Tensor.cat([$0, newKeys], dim: -2) } ?? newKeys
        let allValues = values.map { Tensor.cat([$0, newValues], dim: -2) } ?? newValues
        keys = allKeys
        values = allValues
        return (allKeys, allValues)
    }
}

/// A module whose call takes hidden states and a `LayerContext` (mask, positions, cache) — attention layers and the
/// transformer blocks around them. `Layer` stays the protocol of one-tensor modules (normalisations, MLPs, `Linear`).
public protocol ContextualLayer: Module {
    /// The block's output for `hiddenStates` [batch, queries, hidden], of the same shape.
    func callAsFunction(_ hiddenStates: Tensor, context: LayerContext) -> Tensor
}
