import Foundation
import NeuralNetworks
import Torch

// GPT-2, as transformers' GPT2LMHeadModel computes it:
//
//   h = wte(ids) + wpe(position_ids)
//   for each block:  h = h + c_proj(attention(split(c_attn(ln_1(h)))))
//                    h = h + mlp.c_proj(gelu_tanh(mlp.c_fc(ln_2(h))))
//   logits = ln_f(h) · wteᵀ            (the head is tied to the token embedding)
//
// The projections are `Conv1D`: a weight stored [in, out] (the transpose of nn.Linear's), y = x·W + b. The learned
// positions make position ids essential: a left-padded prompt must start at position 0, as `cumsum(mask) − 1` gives.

/// GPT-2's projection: y = x·W + b with W stored [inputSize, outputSize]. `open` so that an adapter can wrap it
/// (`LoRAConv1D`).
open class Conv1D: Module, Layer {
    public let weight: Tensor
    public let bias: Tensor

    init(inputSize: Int, outputSize: Int, dtype: DType) {
        weight = Tensor.empty([inputSize, outputSize], dtype: dtype).requiringGrad()
        Initializer.normal(std: 0.02).apply(to: weight)
        bias = Tensor.zeros([outputSize], dtype: dtype).requiringGrad()
        super.init()
    }

    /// A projection over existing tensors (shared): `weight` [inputSize, outputSize], `bias` [outputSize].
    public init(weight: Tensor, bias: Tensor) {
        self.weight = weight
        self.bias = bias
        super.init()
    }

    public var inputSize: Int { weight.size(0) }
    public var outputSize: Int { weight.size(1) }

    /// x·W + b as one product that starts from the bias (addmm, as transformers' Conv1D), not a product and an addition.
    open func callAsFunction(_ x: Tensor) -> Tensor { x.linear(weight: weight.transposed(0, 1), bias: bias) }

    /// As `Linear.gradientSurrogate`: the gradients of ⟨`outputGradient`, self(input)⟩ without the product.
    open func gradientSurrogate(_ input: Tensor, outputGradient g: Tensor) -> Tensor {
        projectionGradientSurrogate(input, outputGradient: g, weight: weight.transposed(0, 1), bias: bias)
    }
}

/// Multi-head causal self-attention with one fused query/key/value projection (`attn`).
public final class GPT2Attention: Module, ContextualLayer {
    @Key("c_attn") public var queryKeyValue: Conv1D
    @Key("c_proj") public var outputProjection: Conv1D
    let heads: Int
    let headDimension: Int
    let scale: Double

    init(_ c: ModelConfiguration, layerIndex: Int, dtype: DType) {
        heads = c.headCount
        headDimension = c.headDimension
        var scale = 1 / Double(c.headDimension).squareRoot()
        if c.scaleAttentionByInverseLayerIndex { scale /= Double(layerIndex + 1) }
        self.scale = scale
        _queryKeyValue.wrappedValue = Conv1D(inputSize: c.hiddenSize, outputSize: 3 * c.hiddenSize, dtype: dtype)
        _outputProjection.wrappedValue = Conv1D(inputSize: c.hiddenSize, outputSize: c.hiddenSize, dtype: dtype)
        super.init()
    }

    public func callAsFunction(_ hiddenStates: Tensor, context: LayerContext) -> Tensor {
        callAsFunction(hiddenStates, context: context, firstQuery: 0)
    }

    /// The attention output for the columns `firstQuery...` of `hiddenStates` alone, attending over every column
    /// (keys and values come from all of them); `firstQuery` > 0 only without a cache (`hiddenStates` checks).
    func callAsFunction(_ hiddenStates: Tensor, context: LayerContext, firstQuery: Int) -> Tensor {
        let batch = hiddenStates.size(0), tokens = hiddenStates.size(1), width = heads * headDimension
        let parts = queryKeyValue(hiddenStates).split(size: width, dim: -1)
        if context.cache == nil || context.cache is PreallocatedKeyValueCache {
            let preallocated = context.cache as? PreallocatedKeyValueCache
            let buffers = preallocated?.buffers(batch: batch, kvHeads: heads, headDimension: headDimension, dtype: parts[1].dtype)
            let query = columns(of: parts[0], from: firstQuery)
            let attended = decoderAttention(query: query, key: parts[1], value: parts[2], heads: heads, kvHeads: heads,
                                            headDimension: headDimension, buffers: buffers,
                                            mask: queryRows(of: context.mask, from: firstQuery, tokens: tokens),
                                            causal: context.causal, scale: scale)
            preallocated?.advance(by: tokens)
            return outputProjection(attended)
        }
        let query = parts[0].view([batch, tokens, heads, headDimension]).transposed(1, 2)
        var key = parts[1].view([batch, tokens, heads, headDimension]).transposed(1, 2)
        var value = parts[2].view([batch, tokens, heads, headDimension]).transposed(1, 2)
        (key, value) = context.cache!.update(keys: key, values: value)
        let attended = Tensor.scaledDotProductAttention(query: query, key: key, value: value, mask: context.mask,
                                                        causal: context.mask == nil && context.causal, scale: scale,
                                                        training: false)
        return outputProjection(attended.transposed(1, 2).reshaped([batch, tokens, width]))
    }
}

/// The feed-forward block (`mlp`): c_proj(gelu_tanh(c_fc(x))).
public final class GPT2MLP: Module, Layer {
    @Key("c_fc") public var expand: Conv1D
    @Key("c_proj") public var project: Conv1D

    init(_ c: ModelConfiguration, dtype: DType) {
        _expand.wrappedValue = Conv1D(inputSize: c.hiddenSize, outputSize: c.intermediateSize, dtype: dtype)
        _project.wrappedValue = Conv1D(inputSize: c.intermediateSize, outputSize: c.hiddenSize, dtype: dtype)
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { project(projectionInput(x)) }

    /// gelu_tanh(c_fc(x)), what `c_proj` multiplies.
    func projectionInput(_ x: Tensor) -> Tensor { expand(x).gelu(approximate: true) }
}

/// One pre-norm block (`transformer.h.N`).
public final class GPT2Block: Module, ContextualLayer {
    @Key("ln_1") public var attentionNorm: LayerNorm
    @Key("attn") public var attention: GPT2Attention
    @Key("ln_2") public var mlpNorm: LayerNorm
    @Key("mlp") public var mlp: GPT2MLP

    init(_ c: ModelConfiguration, layerIndex: Int, dtype: DType) {
        _attentionNorm.wrappedValue = LayerNorm(c.hiddenSize, eps: c.normEpsilon, dtype: dtype)
        _attention.wrappedValue = GPT2Attention(c, layerIndex: layerIndex, dtype: dtype)
        _mlpNorm.wrappedValue = LayerNorm(c.hiddenSize, eps: c.normEpsilon, dtype: dtype)
        _mlp.wrappedValue = GPT2MLP(c, dtype: dtype)
        super.init()
    }

    public func callAsFunction(_ hiddenStates: Tensor, context: LayerContext) -> Tensor {
        callAsFunction(hiddenStates, context: context, firstOutput: 0)
    }

    /// The block's output for columns `firstOutput...` only (see `TransformerDecoder.hiddenStates`).
    func callAsFunction(_ hiddenStates: Tensor, context: LayerContext, firstOutput: Int) -> Tensor {
        let h = attentionResidual(hiddenStates, context: context, firstOutput: firstOutput)
        return h + mlp(mlpNorm(h))
    }

    /// The residual stream after the attention block, columns `firstOutput...`.
    private func attentionResidual(_ hiddenStates: Tensor, context: LayerContext, firstOutput: Int) -> Tensor {
        columns(of: hiddenStates, from: firstOutput) + attention(attentionNorm(hiddenStates), context: context, firstQuery: firstOutput)
    }

    /// A scalar with the gradients of ⟨g, self(x)⟩ (every column), computed without `mlp.c_proj`'s product (see
    /// `CheckpointRecomputation`): ⟨h, g⟩ for the residual, and the projection's surrogate on its input.
    func gradientSurrogate(_ hiddenStates: Tensor, outputGradient g: Tensor, context: LayerContext) -> Tensor {
        let h = attentionResidual(hiddenStates, context: context, firstOutput: 0)
        return (h * g).sum() + mlp.project.gradientSurrogate(mlp.projectionInput(mlpNorm(h)), outputGradient: g)
    }
}

/// The trunk (`transformer`): token and position embeddings, blocks, final norm.
public final class GPT2Model: Module {
    @Key("wte") public var tokenEmbedding: Embedding
    @Key("wpe") public var positionEmbedding: Embedding
    @Key("h") public var blocks: [GPT2Block]
    @Key("ln_f") public var finalNorm: LayerNorm

    init(_ c: ModelConfiguration, dtype: DType) {
        _tokenEmbedding.wrappedValue = Embedding(count: c.vocabularySize, dimension: c.hiddenSize, dtype: dtype)
        _positionEmbedding.wrappedValue = Embedding(count: c.maximumPositions, dimension: c.hiddenSize, dtype: dtype)
        _blocks.wrappedValue = (0..<c.layerCount).map { GPT2Block(c, layerIndex: $0, dtype: dtype) }
        _finalNorm.wrappedValue = LayerNorm(c.hiddenSize, eps: c.normEpsilon, dtype: dtype)
        super.init()
    }
}

/// GPT-2 with its output head (`GPT2LMHeadModel`).
public final class GPT2LMHeadModel: Module, TransformerDecoder {
    public let configuration: ModelConfiguration
    @Key("transformer") public var transformer: GPT2Model
    /// The untied output head (rare for GPT-2); nil when the head is the token embedding.
    @Key("lm_head") public var head: Linear?

    /// - Parameter outputHead: false builds the trunk alone, without an untied output head (for score models, whose
    ///   checkpoints have none).
    public init(_ configuration: ModelConfiguration, dtype: DType = .float32, outputHead: Bool = true) {
        self.configuration = configuration
        _transformer.wrappedValue = GPT2Model(configuration, dtype: dtype)
        _head.wrappedValue = outputHead ? untiedHead(configuration, dtype: dtype) : nil
        super.init()
    }

    public var outputEmbedding: Tensor { head?.weight ?? transformer.tokenEmbedding.weight }

    public var gradientCheckpointing = false

    public func hiddenStates(_ inputIDs: Tensor, positions: Tensor, mask: Tensor?, caches: [any KeyValueCache]?,
                             firstOutput: Int) -> Tensor {
        var h = transformer.tokenEmbedding(inputIDs) + transformer.positionEmbedding(positions)
        let blocks = transformer.blocks
        precondition(firstOutput == 0 || caches == nil, "firstOutput > 0 needs a pass without caches")
        for (i, block) in blocks.enumerated() {
            let context = LayerContext(mask: mask, causal: true, positions: positions, cache: caches?[i])
            let isLast = i == blocks.count - 1
            h = runLayer(block, h, cache: context.cache, isLast: isLast,
                         surrogate: { block.gradientSurrogate($0, outputGradient: $1, context: context) }) {
                block($0, context: context, firstOutput: isLast ? firstOutput : 0)
            }
        }
        return transformer.finalNorm(blocks.isEmpty ? columns(of: h, from: firstOutput) : h)
    }

    /// transformers writes the trunk under `transformer.`; the original OpenAI checkpoints have no prefix. The
    /// attention's cached causal masks (`attn.bias`, `attn.masked_bias`, older exports) are ignored.
    public static func parameterName(forCheckpointKey key: String) -> String? {
        if key.hasSuffix(".attn.bias") || key.hasSuffix(".attn.masked_bias") { return nil }
        if key.hasPrefix("transformer.") || key.hasPrefix("lm_head.") { return key }
        return "transformer." + key
    }
}
