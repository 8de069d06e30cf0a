import CTorch

extension Tensor {
    /// weight · x / √(mean(x², last axis) + eps), computed in float32 (float64 stays float64) and cast back before
    /// the scale — transformers' LlamaRMSNorm in one call.
    public func rmsNorm(weight: Tensor, eps: Double) -> Tensor {
        withExtendedLifetime((self, weight)) { wrap(ct_rms_norm(handle, weight.handle, eps), "rmsNorm of \(shape)") }
    }

    /// silu(self) · up, the SwiGLU nonlinearity.
    public func siluMul(_ up: Tensor) -> Tensor {
        withExtendedLifetime((self, up)) { wrap(ct_silu_mul(handle, up.handle), "siluMul of \(shape) and \(up.shape)") }
    }
}

/// Where a decoder layer's attention keeps its keys and values: buffers [batch, kvHeads, capacity, headDim] holding
/// `offset` earlier positions.
public struct KeyValueBuffers {
    public let keys: Tensor
    public let values: Tensor
    public let offset: Int
    public init(keys: Tensor, values: Tensor, offset: Int) {
        self.keys = keys
        self.values = values
        self.offset = offset
    }
}

/// The attention of one decoder layer, from its query/key/value projections to the input of its output projection,
/// in one call: split into heads, optional per-head RMSNorm (Qwen3), optional rotation by rotary tables, writing the
/// new keys and values into `buffers` (when given) and attending over every cached position, grouped-query heads.
///
/// - Parameters:
///   - query: [B, T, heads · headDimension]; key, value: [B, T, kvHeads · headDimension].
///   - rotary: cos and sin tables [B, T, headDimension], or nil (GPT-2's learned positions).
///   - mask: boolean, broadcastable to [B, 1, T, offset + T], true = may attend; it replaces the causal rule, which
///     applies when the mask is nil and `causal` (the queries being the last T positions).
/// - Returns: [B, T, heads · headDimension]. A single query per sequence is computed by batched products; longer
///   inputs by ATen's fused attention kernel. Differentiable (composed of ATen operations).
public func decoderAttention(query: Tensor, key: Tensor, value: Tensor, heads: Int, kvHeads: Int, headDimension: Int,
                             queryNorm: Tensor? = nil, keyNorm: Tensor? = nil, normEpsilon: Double = 1e-6,
                             rotary: (cos: Tensor, sin: Tensor)? = nil, buffers: KeyValueBuffers? = nil,
                             mask: Tensor? = nil, causal: Bool = true, scale: Double) -> Tensor {
    withExtendedLifetime((query, key, value, queryNorm, keyNorm, rotary?.cos, rotary?.sin, buffers?.keys, buffers?.values, mask)) {
        wrap(ct_decoder_attention(query.handle, key.handle, value.handle, Int64(heads), Int64(kvHeads), Int64(headDimension),
                                  queryNorm?.handle, keyNorm?.handle, normEpsilon, rotary?.cos.handle, rotary?.sin.handle,
                                  buffers?.keys.handle, buffers?.values.handle, Int64(buffers?.offset ?? 0), mask?.handle,
                                  causal ? 1 : 0, scale),
             "decoderAttention of query \(query.shape), key \(key.shape), value \(value.shape)")
    }
}

/// The kernel behind `Tensor.gelu(approximate: true)` while training: for a float32 CPU tensor that a gradient is
/// recorded through, value and derivative come from one pass (one tanh per element) and the derivative is kept for
/// the backward pass instead of the input — where libtorch's backward evaluates tanh again. Same values and gradients
/// as libtorch's gelu (its arithmetic, operation for operation; tested).
public enum FusedGELU {
    /// How many GELUs took the kernel so far (in this process).
    public static var calls: Int { Int(ct_gelu_tanh_fused_calls()) }

    /// Whether the kernel is used where it applies (default true); false sends every GELU to libtorch.
    public static var isEnabled: Bool {
        get { ct_gelu_tanh_fused_enabled() != 0 }
        set { ct_set_gelu_tanh_fused(newValue ? 1 : 0) }
    }
}

/// The skinny-product kernel behind `Tensor.linear` (libtorch's linear otherwise): float32 CPU inputs of at most 16
/// rows with no gradient recorded through the product — the shape of decoding a few sequences — multiplied reading
/// each weight once, where MKL copies the whole weight matrix on every call.
public enum SkinnyLinear {
    /// Whether this build has the kernel on this CPU (x86-64 with AVX2/FMA; a portable build has none).
    public static var isAvailable: Bool { ct_skinny_linear_available() != 0 }

    /// How many products took the kernel so far (in this process).
    public static var calls: Int { Int(ct_skinny_linear_calls()) }

    /// Whether the kernel is used where it applies (default true); false sends every product to libtorch's linear.
    public static var isEnabled: Bool {
        get { ct_skinny_linear_enabled() != 0 }
        set { ct_set_skinny_linear(newValue ? 1 : 0) }
    }
}

/// One decoding step of a Llama-family model in one call over raw float32 buffers (ctorch_decode.h): what makes
/// generation with small models fast, where each of the ~40 ATen operations of a step through the layers would
/// cost microseconds. The general path (the model's modules) computes the same; `calls` shows which one ran.
public enum DecodeKernel {
    /// The model's shape.
    public struct Shape {
        public var layers, hidden, heads, kvHeads, headDimension, intermediate, vocabulary: Int
        public var normEpsilon: Double
        public var queryKeyNorm: Bool
        public init(layers: Int, hidden: Int, heads: Int, kvHeads: Int, headDimension: Int, intermediate: Int,
                    vocabulary: Int, normEpsilon: Double, queryKeyNorm: Bool) {
            (self.layers, self.hidden, self.heads, self.kvHeads) = (layers, hidden, heads, kvHeads)
            (self.headDimension, self.intermediate, self.vocabulary) = (headDimension, intermediate, vocabulary)
            self.normEpsilon = normEpsilon
            self.queryKeyNorm = queryKeyNorm
        }
    }

    /// One layer's tensors (float32, contiguous) and its cache buffers [rows, kvHeads, capacity, headDimension].
    public struct Layer {
        public var inputNorm, queryWeight, keyWeight, valueWeight, outputWeight, postNorm, gateWeight, upWeight, downWeight: Tensor
        public var queryBias, keyBias, valueBias, outputBias, queryNorm, keyNorm: Tensor?
        public var cacheKeys, cacheValues: Tensor
        public init(inputNorm: Tensor, queryWeight: Tensor, queryBias: Tensor?, keyWeight: Tensor, keyBias: Tensor?,
                    valueWeight: Tensor, valueBias: Tensor?, outputWeight: Tensor, outputBias: Tensor?, queryNorm: Tensor?,
                    keyNorm: Tensor?, postNorm: Tensor, gateWeight: Tensor, upWeight: Tensor, downWeight: Tensor,
                    cacheKeys: Tensor, cacheValues: Tensor) {
            (self.inputNorm, self.queryWeight, self.queryBias, self.keyWeight, self.keyBias) = (inputNorm, queryWeight, queryBias, keyWeight, keyBias)
            (self.valueWeight, self.valueBias, self.outputWeight, self.outputBias) = (valueWeight, valueBias, outputWeight, outputBias)
            (self.queryNorm, self.keyNorm, self.postNorm) = (queryNorm, keyNorm, postNorm)
            (self.gateWeight, self.upWeight, self.downWeight, self.cacheKeys, self.cacheValues) = (gateWeight, upWeight, downWeight, cacheKeys, cacheValues)
        }
    }

    /// Steps the kernel computed in this process.
    public static var calls: Int { Int(ct_decode_step_calls()) }

    /// Why the last step the kernel was asked for went to the general path instead (nil when it ran).
    nonisolated(unsafe) public private(set) static var lastRefusal: String?

    /// Next-token logits [rows, vocabulary] for one token per row, or nil (with `lastRefusal`) when the kernel does not
    /// apply; see ctorch_decode.h for the arguments.
    public static func step(shape: Shape, layers: [Layer], embedding: Tensor, finalNorm: Tensor, output: Tensor,
                            inverseFrequencies: Tensor, tokens: [Int], positions: [Int], firstKey: [Int], offset: Int) -> Tensor? {
        var cShape = ct_decode_shape(layers: Int64(shape.layers), hidden: Int64(shape.hidden), heads: Int64(shape.heads),
                                     kv_heads: Int64(shape.kvHeads), head_dim: Int64(shape.headDimension),
                                     intermediate: Int64(shape.intermediate), vocabulary: Int64(shape.vocabulary),
                                     norm_eps: shape.normEpsilon, query_key_norm: shape.queryKeyNorm ? 1 : 0)
        let handle = withExtendedLifetime((layers, embedding, finalNorm, output, inverseFrequencies)) { () -> ct_tensor? in
            var cLayers = layers.map { l in
                ct_decode_layer(input_norm: l.inputNorm.handle, q_weight: l.queryWeight.handle, q_bias: l.queryBias?.handle,
                                k_weight: l.keyWeight.handle, k_bias: l.keyBias?.handle, v_weight: l.valueWeight.handle,
                                v_bias: l.valueBias?.handle, o_weight: l.outputWeight.handle, o_bias: l.outputBias?.handle,
                                q_norm: l.queryNorm?.handle, k_norm: l.keyNorm?.handle, post_norm: l.postNorm.handle,
                                gate_weight: l.gateWeight.handle, up_weight: l.upWeight.handle, down_weight: l.downWeight.handle,
                                cache_keys: l.cacheKeys.handle, cache_values: l.cacheValues.handle)
            }
            let t = tokens.map(Int64.init), p = positions.map(Int64.init), f = firstKey.map(Int64.init)
            return ct_decode_step(&cShape, &cLayers, embedding.handle, finalNorm.handle, output.handle, inverseFrequencies.handle,
                                  t, p, f, Int64(tokens.count), Int64(offset))
        }
        guard let handle else {
            lastRefusal = lastTorchError
            return nil
        }
        lastRefusal = nil
        return Tensor(owning: handle)
    }
}

extension DecodeKernel {
    /// One token per row of float32 `logits` [rows, vocabulary] in one call (ct_sample_rows): greedy when
    /// `temperature` is 0, else a draw with the row's uniform after the temperature, top-k, top-p and min-p — what
    /// the sampler's tensor operations compute, without their per-operation cost. nil when it does not apply.
    public static func sample(logits: Tensor, temperature: Double, topK: Int?, topP: Double?, minP: Double?,
                              uniforms: Tensor?, recordProcessed: Bool) -> (tokens: [Int], logProbabilities: [Double], processed: [Double]?)? {
        guard logits.rank == 2, logits.dtype == .float32 else { return nil }
        let rows = logits.size(0)
        var tokens = [Int64](repeating: 0, count: rows)
        var logProbabilities = [Double](repeating: 0, count: rows)
        var processed = [Double](repeating: 0, count: recordProcessed ? rows : 0)
        let contiguous = logits.contiguous()
        let status = withExtendedLifetime((contiguous, uniforms)) {
            processed.withUnsafeMutableBufferPointer { processedBuffer in
                ct_sample_rows(contiguous.handle, temperature, Int64(topK ?? 0), topP ?? 1, minP ?? 0, uniforms?.handle,
                               &tokens, &logProbabilities, recordProcessed ? processedBuffer.baseAddress : nil)
            }
        }
        guard status == 0 else {
            lastRefusal = lastTorchError
            return nil
        }
        return (tokens.map(Int.init), logProbabilities, recordProcessed ? processed : nil)
    }
}
