import Foundation
import NeuralNetworks
import Torch

// Llama, as transformers' LlamaForCausalLM computes it:
//
//   h = embed_tokens(ids)
//   for each layer:  h = h + o_proj(attention(rope(q_proj(n)), rope(k_proj(n)), v_proj(n)))   n = input_layernorm(h)
//                    h = h + down_proj(silu(gate_proj(m)) * up_proj(m))                          m = post_attention_layernorm(h)
//   logits = lm_head(norm(h))          (lm_head is embed_tokens when tie_word_embeddings)
//
// RMSNorm in float32; rotary positions in the half-split layout from per-token position ids; grouped-query attention
// (num_key_value_heads ≤ num_attention_heads). Qwen2 (Qwen2.swift) and Qwen3 (Qwen3.swift) are this model with
// projection biases and per-head query/key norms respectively; `LlamaVariant` says which.

/// What distinguishes the members of the Llama family in this file.
public struct LlamaVariant: Sendable, Equatable {
    /// Biases on q_proj, k_proj and v_proj.
    public var queryKeyValueBias: Bool
    /// A bias on o_proj.
    public var outputBias: Bool
    /// RMSNorm over each head of the queries and keys, before the rotation (`q_norm`, `k_norm`).
    public var queryKeyNorm: Bool

    /// The variant a configuration describes.
    public init(_ configuration: ModelConfiguration) {
        queryKeyValueBias = configuration.attentionBias
        outputBias = configuration.outputProjectionBias
        queryKeyNorm = configuration.architecture == .qwen3
    }
}

/// Grouped-query self-attention with rotary positions (`self_attn`).
public final class LlamaAttention: Module, ContextualLayer {
    @Key("q_proj") public var queryProjection: Linear
    @Key("k_proj") public var keyProjection: Linear
    @Key("v_proj") public var valueProjection: Linear
    @Key("o_proj") public var outputProjection: Linear
    @Key("q_norm") public var queryNorm: RMSNorm?
    @Key("k_norm") public var keyNorm: RMSNorm?
    let heads: Int
    let keyValueHeads: Int
    let headDimension: Int
    let rotary: RotaryEmbedding

    init(_ c: ModelConfiguration, variant: LlamaVariant, dtype: DType) {
        heads = c.headCount
        keyValueHeads = c.keyValueHeadCount
        headDimension = c.headDimension
        let rotary = RotaryEmbedding(dimension: c.headDimension, base: c.ropeTheta, scaling: c.ropeScaling)
        self.rotary = c.rotaryFrequencyDType.map { rotary.roundingFrequencies(to: $0) } ?? rotary
        let q = c.headCount * c.headDimension, kv = c.keyValueHeadCount * c.headDimension
        _queryProjection.wrappedValue = Linear(inputSize: c.hiddenSize, outputSize: q, bias: variant.queryKeyValueBias, dtype: dtype)
        _keyProjection.wrappedValue = Linear(inputSize: c.hiddenSize, outputSize: kv, bias: variant.queryKeyValueBias, dtype: dtype)
        _valueProjection.wrappedValue = Linear(inputSize: c.hiddenSize, outputSize: kv, bias: variant.queryKeyValueBias, dtype: dtype)
        _outputProjection.wrappedValue = Linear(inputSize: q, outputSize: c.hiddenSize, bias: variant.outputBias, dtype: dtype)
        _queryNorm.wrappedValue = variant.queryKeyNorm ? RMSNorm(c.headDimension, eps: c.normEpsilon, dtype: dtype) : nil
        _keyNorm.wrappedValue = variant.queryKeyNorm ? RMSNorm(c.headDimension, eps: c.normEpsilon, dtype: dtype) : nil
        super.init()
    }

    public func callAsFunction(_ hiddenStates: Tensor, context: LayerContext) -> Tensor {
        let positions = context.positions ?? defaultPositions(batch: hiddenStates.size(0), tokens: hiddenStates.size(1), cache: context.cache)
        return attend(hiddenStates, rotaryTables: rotary.cosSin(positionIds: positions, dtype: hiddenStates.dtype),
                      mask: context.mask, causal: context.causal, cache: context.cache)
    }

    /// The attention output for `hiddenStates` with the rotary tables of their positions (computed once per forward
    /// pass and shared by every layer).
    /// `firstQuery` > 0 (without a cache; `hiddenStates` checks): the output for columns `firstQuery...` alone, attending
    /// over every column.
    func attend(_ hiddenStates: Tensor, rotaryTables: (cos: Tensor, sin: Tensor), mask: Tensor?, causal: Bool,
                cache: (any KeyValueCache)?, firstQuery: Int = 0) -> Tensor {
        let query = queryProjection(columns(of: hiddenStates, from: firstQuery))
        let key = keyProjection(hiddenStates), value = valueProjection(hiddenStates)
        let mask = queryRows(of: mask, from: firstQuery, tokens: hiddenStates.size(1))
        let scale = 1 / Double(headDimension).squareRoot()
        // Proxima's own cache is written in place by the fused call; another cache type gets keys and values to store.
        if cache == nil || cache is PreallocatedKeyValueCache {
            let preallocated = cache as? PreallocatedKeyValueCache
            let buffers = preallocated?.buffers(batch: hiddenStates.size(0), kvHeads: keyValueHeads, headDimension: headDimension,
                                                 dtype: key.dtype)
            let attended = decoderAttention(query: query, key: key, value: value, heads: heads, kvHeads: keyValueHeads,
                                            headDimension: headDimension, queryNorm: queryNorm?.weight, keyNorm: keyNorm?.weight,
                                            normEpsilon: queryNorm?.eps ?? 1e-6, rotary: rotaryTables, buffers: buffers,
                                            mask: mask, causal: causal, scale: scale)
            preallocated?.advance(by: hiddenStates.size(1))
            return outputProjection(attended)
        }
        return outputProjection(attendThrough(cache!, query: query, key: key, value: value, rotaryTables: rotaryTables,
                                              mask: mask, causal: causal))
    }

    /// The same attention step by separate operations, for a cache that stores what it is given.
    private func attendThrough(_ cache: any KeyValueCache, query: Tensor, key: Tensor, value: Tensor,
                               rotaryTables: (cos: Tensor, sin: Tensor), mask: Tensor?, causal: Bool) -> Tensor {
        let batch = query.size(0), tokens = query.size(1)
        var q = query.view([batch, tokens, heads, headDimension])
        var k = key.view([batch, tokens, keyValueHeads, headDimension])
        if let queryNorm, let keyNorm {
            q = queryNorm(q)
            k = keyNorm(k)
        }
        var v = value.view([batch, tokens, keyValueHeads, headDimension]).transposed(1, 2)
        (q, k) = applyRotary(query: q.transposed(1, 2), key: k.transposed(1, 2), cos: rotaryTables.cos, sin: rotaryTables.sin)
        (k, v) = cache.update(keys: k, values: v)
        let attended = Tensor.scaledDotProductAttention(query: q, key: k, value: v, mask: mask, causal: mask == nil && causal,
                                                        training: false)
        return attended.transposed(1, 2).reshaped([batch, tokens, heads * headDimension])
    }
}

/// Positions `offset ..< offset + tokens` for every row, `offset` being the cache's length.
func defaultPositions(batch: Int, tokens: Int, cache: (any KeyValueCache)?) -> Tensor {
    let offset = cache?.offset ?? 0
    return Tensor.arange(offset, offset + tokens, step: 1).to(dtype: .int64).unsqueezed(0).expanded([batch, tokens])
}

/// SwiGLU feed-forward: down_proj(silu(gate_proj(x)) · up_proj(x)).
public final class LlamaMLP: Module, Layer {
    @Key("gate_proj") public var gateProjection: Linear
    @Key("up_proj") public var upProjection: Linear
    @Key("down_proj") public var downProjection: Linear

    init(_ c: ModelConfiguration, dtype: DType) {
        _gateProjection.wrappedValue = Linear(inputSize: c.hiddenSize, outputSize: c.intermediateSize, bias: c.mlpBias, dtype: dtype)
        _upProjection.wrappedValue = Linear(inputSize: c.hiddenSize, outputSize: c.intermediateSize, bias: c.mlpBias, dtype: dtype)
        _downProjection.wrappedValue = Linear(inputSize: c.intermediateSize, outputSize: c.hiddenSize, bias: c.mlpBias, dtype: dtype)
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { downProjection(downProjectionInput(x)) }

    /// silu(gate_proj(x)) · up_proj(x), what `down_proj` multiplies.
    func downProjectionInput(_ x: Tensor) -> Tensor { gateProjection(x).siluMul(upProjection(x)) }
}

/// One pre-norm transformer block (`model.layers.N`).
public final class LlamaDecoderLayer: Module, ContextualLayer {
    @Key("input_layernorm") public var inputNorm: RMSNorm
    @Key("self_attn") public var attention: LlamaAttention
    @Key("post_attention_layernorm") public var postAttentionNorm: RMSNorm
    @Key("mlp") public var mlp: LlamaMLP

    init(_ c: ModelConfiguration, variant: LlamaVariant, dtype: DType) {
        _inputNorm.wrappedValue = RMSNorm(c.hiddenSize, eps: c.normEpsilon, dtype: dtype)
        _attention.wrappedValue = LlamaAttention(c, variant: variant, dtype: dtype)
        _postAttentionNorm.wrappedValue = RMSNorm(c.hiddenSize, eps: c.normEpsilon, dtype: dtype)
        _mlp.wrappedValue = LlamaMLP(c, dtype: dtype)
        super.init()
    }

    public func callAsFunction(_ hiddenStates: Tensor, context: LayerContext) -> Tensor {
        let h = hiddenStates + attention(inputNorm(hiddenStates), context: context)
        return h + mlp(postAttentionNorm(h))
    }

    /// The block's output for columns `firstOutput...` only (see `TransformerDecoder.hiddenStates`).
    func forward(_ hiddenStates: Tensor, rotaryTables: (cos: Tensor, sin: Tensor), mask: Tensor?, cache: (any KeyValueCache)?,
                 firstOutput: Int = 0) -> Tensor {
        let h = attentionResidual(hiddenStates, rotaryTables: rotaryTables, mask: mask, cache: cache, firstOutput: firstOutput)
        return h + mlp(postAttentionNorm(h))
    }

    /// The residual stream after the attention block, columns `firstOutput...`.
    private func attentionResidual(_ hiddenStates: Tensor, rotaryTables: (cos: Tensor, sin: Tensor), mask: Tensor?,
                                   cache: (any KeyValueCache)?, firstOutput: Int) -> Tensor {
        let attended = attention.attend(inputNorm(hiddenStates), rotaryTables: rotaryTables, mask: mask, causal: true,
                                        cache: cache, firstQuery: firstOutput)
        return columns(of: hiddenStates, from: firstOutput) + attended
    }

    /// A scalar with the gradients of ⟨g, forward(x)⟩ (no cache, every column), computed without `down_proj`'s
    /// product (see `CheckpointRecomputation`): ⟨h, g⟩ for the residual, and the projection's surrogate on its input.
    func gradientSurrogate(_ hiddenStates: Tensor, outputGradient g: Tensor, rotaryTables: (cos: Tensor, sin: Tensor),
                           mask: Tensor?) -> Tensor {
        let h = attentionResidual(hiddenStates, rotaryTables: rotaryTables, mask: mask, cache: nil, firstOutput: 0)
        let inner = mlp.downProjectionInput(postAttentionNorm(h))
        return (h * g).sum() + mlp.downProjection.gradientSurrogate(inner, outputGradient: g)
    }
}

/// The trunk (`model`): token embedding, blocks, final norm.
public final class LlamaModel: Module {
    @Key("embed_tokens") public var embedding: Embedding
    @Key("layers") public var layers: [LlamaDecoderLayer]
    @Key("norm") public var norm: RMSNorm

    init(_ c: ModelConfiguration, dtype: DType) {
        let variant = LlamaVariant(c)
        _embedding.wrappedValue = Embedding(count: c.vocabularySize, dimension: c.hiddenSize, dtype: dtype)
        _layers.wrappedValue = (0..<c.layerCount).map { _ in LlamaDecoderLayer(c, variant: variant, dtype: dtype) }
        _norm.wrappedValue = RMSNorm(c.hiddenSize, eps: c.normEpsilon, dtype: dtype)
        super.init()
    }
}

/// Llama, Qwen2 or Qwen3 with its output head (`LlamaForCausalLM`, `Qwen2ForCausalLM`, `Qwen3ForCausalLM`).
public final class LlamaForCausalLM: Module, TransformerDecoder {
    public let configuration: ModelConfiguration
    @Key("model") public var model: LlamaModel
    /// The untied output head; nil when the head is the token embedding.
    @Key("lm_head") public var head: Linear?

    /// - Parameter outputHead: false builds the trunk alone, without an untied output head (for score models, whose
    ///   checkpoints have none).
    public init(_ configuration: ModelConfiguration, dtype: DType = .float32, outputHead: Bool = true) {
        self.configuration = configuration
        _model.wrappedValue = LlamaModel(configuration, dtype: dtype)
        _head.wrappedValue = outputHead ? untiedHead(configuration, dtype: dtype) : nil
        super.init()
    }

    public var outputEmbedding: Tensor { head?.weight ?? model.embedding.weight }

    public var gradientCheckpointing = false

    public func hiddenStates(_ inputIDs: Tensor, positions: Tensor, mask: Tensor?, caches: [any KeyValueCache]?,
                             firstOutput: Int) -> Tensor {
        precondition(firstOutput == 0 || caches == nil, "firstOutput > 0 needs a pass without caches")
        var h = model.embedding(inputIDs)
        let layers = model.layers
        guard let first = layers.first else { return model.norm(columns(of: h, from: firstOutput)) }
        let tables = first.attention.rotary.cosSin(positionIds: positions, dtype: h.dtype)
        for (i, layer) in layers.enumerated() {
            let cache = caches?[i]
            let isLast = i == layers.count - 1
            h = runLayer(layer, h, cache: cache, isLast: isLast,
                         surrogate: { layer.gradientSurrogate($0, outputGradient: $1, rotaryTables: tables, mask: mask) }) {
                layer.forward($0, rotaryTables: tables, mask: mask, cache: cache, firstOutput: isLast ? firstOutput : 0)
            }
        }
        return model.norm(h)
    }

    /// One step by `DecodeKernel` when every projection is a plain `Linear` (no adapter), the model computes in
    /// float32 without recording gradients, and the caches hold this batch's float32 buffers.
    public func decodeStep(tokens: [Int], positions: [Int], firstKey: [Int], caches: [PreallocatedKeyValueCache]) -> Tensor? {
        guard !isGradEnabled || !model.embedding.weight.requiresGrad, !configuration.mlpBias,
              model.embedding.weight.dtype == .float32, caches.count == model.layers.count, let first = model.layers.first else { return nil }
        let offset = caches[0].offset
        var layers: [DecodeKernel.Layer] = []
        layers.reserveCapacity(model.layers.count)
        for (layer, cache) in zip(model.layers, caches) {
            let a = layer.attention, m = layer.mlp
            let projections: [Linear] = [a.queryProjection, a.keyProjection, a.valueProjection, a.outputProjection,
                                         m.gateProjection, m.upProjection, m.downProjection]
            guard projections.allSatisfy({ type(of: $0) == Linear.self }), cache.offset == offset,
                  let keys = cache.keys, let values = cache.values else { return nil }
            layers.append(DecodeKernel.Layer(
                inputNorm: layer.inputNorm.weight, queryWeight: a.queryProjection.weight, queryBias: a.queryProjection.bias,
                keyWeight: a.keyProjection.weight, keyBias: a.keyProjection.bias, valueWeight: a.valueProjection.weight,
                valueBias: a.valueProjection.bias, outputWeight: a.outputProjection.weight, outputBias: a.outputProjection.bias,
                queryNorm: a.queryNorm?.weight, keyNorm: a.keyNorm?.weight, postNorm: layer.postAttentionNorm.weight,
                gateWeight: m.gateProjection.weight, upWeight: m.upProjection.weight, downWeight: m.downProjection.weight,
                cacheKeys: keys, cacheValues: values))
        }
        let c = configuration
        let shape = DecodeKernel.Shape(layers: c.layerCount, hidden: c.hiddenSize, heads: c.headCount, kvHeads: c.keyValueHeadCount,
                                       headDimension: c.headDimension, intermediate: c.intermediateSize, vocabulary: c.vocabularySize,
                                       normEpsilon: c.normEpsilon, queryKeyNorm: first.attention.queryNorm != nil)
        guard let logits = DecodeKernel.step(shape: shape, layers: layers, embedding: model.embedding.weight, finalNorm: model.norm.weight,
                                             output: outputEmbedding, inverseFrequencies: first.attention.rotary.inverseFrequencies,
                                             tokens: tokens, positions: positions, firstKey: firstKey, offset: offset) else { return nil }
        for cache in caches { cache.advance(by: 1) }
        return logits
    }

    /// Checkpoint keys are the module's names; cached rotary tables (`rotary_emb.inv_freq`, older exports) are
    /// ignored.
    public static func parameterName(forCheckpointKey key: String) -> String? {
        key.hasSuffix("rotary_emb.inv_freq") ? nil : key
    }
}
