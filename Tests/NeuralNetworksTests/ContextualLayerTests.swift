import Foundation
import Testing
import TestSupport
import Torch
import NeuralNetworks

/// One-head causal self-attention written out by hand, following the `ContextualLayer` convention: positions from
/// the context (else from the cache's offset), keys and values through the cache, causal masking by position.
final class TinySelfAttention: Module, ContextualLayer {
    @Key("q_proj") var query = Linear(inputSize: 4, outputSize: 4, bias: false, dtype: .float64, generator: Generator(seed: 1))
    @Key("k_proj") var key = Linear(inputSize: 4, outputSize: 4, bias: false, dtype: .float64, generator: Generator(seed: 2))
    @Key("v_proj") var value = Linear(inputSize: 4, outputSize: 4, bias: false, dtype: .float64, generator: Generator(seed: 3))

    func callAsFunction(_ hiddenStates: Tensor, context: LayerContext) -> Tensor {
        let steps = hiddenStates.size(1)
        let offset = context.cache?.offset ?? 0
        let positions = context.positions ?? Tensor.arange(offset, offset + steps, step: 1)
        // A learned-free position signal so that positions matter: add position/10 to every feature.
        let h = hiddenStates + positions.to(dtype: .float64).reshaped([1, steps, 1]) * 0.1
        var k = key(h).unsqueezed(1), v = value(h).unsqueezed(1)
        if let cache = context.cache { (k, v) = cache.update(keys: k, values: v) }
        let q = query(h).unsqueezed(1)
        var scores = q.matmul(k.transposed(-1, -2)) * 0.5
        if context.causal {
            let keyPositions = Tensor.arange(0, k.size(-2), step: 1).reshaped([1, k.size(-2)])
            let hidden = keyPositions .> positions.reshaped([steps, 1])
            scores = scores.maskedFill(hidden, -Double.infinity)
        }
        if let mask = context.mask { scores = scores.maskedFill(mask.logicalNot(), -Double.infinity) }
        return scores.softmax(dim: -1).matmul(v).squeezed(1)
    }
}

@Suite("Contextual layers")
struct ContextualLayerTests {
    @Test("decoding one position at a time through a cache equals one causal pass over the sequence")
    func cachedDecoding() {
        let layer = TinySelfAttention()
        let x = Tensor.randn([2, 5, 4], dtype: .float64, generator: Generator(seed: 7))
        let full = layer(x, context: LayerContext())
        let cache = ConcatenatingKeyValueCache()
        var steps: [Tensor] = []
        for t in 0..<5 {
            steps.append(layer(x.narrow(dim: 1, start: t, length: 1), context: LayerContext(cache: cache)))
            #expect(cache.offset == t + 1)
        }
        #expect(cache.keys?.shape == [2, 1, 5, 4])
        expectClose(Tensor.cat(steps, dim: 1), full.doubles, atol: 1e-12, "cached vs full")
        // Without the causal flag the first position sees the whole sequence, so the outputs differ.
        #expect(!layer(x, context: LayerContext(causal: false)).allClose(full))
    }

    @Test("an explicit mask and explicit positions reach the layer")
    func maskAndPositions() {
        let layer = TinySelfAttention()
        let x = Tensor.randn([1, 3, 4], dtype: .float64, generator: Generator(seed: 8))
        let onlyFirstKey = Tensor([true, false, false]).reshaped([1, 1, 3])
        let masked = layer(x, context: LayerContext(mask: onlyFirstKey, causal: false))
        // Every query attends to key 0 only, so every output row is value(h₀).
        let rows = masked.reshaped([3, 4]).doubles
        expectClose(Array(rows[4..<8]), Array(rows[0..<4]), atol: 1e-12, "row 1 = row 0")
        let shifted = layer(x, context: LayerContext(positions: Tensor.arange(10, 13, step: 1)))
        #expect(!shifted.allClose(layer(x, context: LayerContext())))
    }
}
