import Testing
import Torch
import TestSupport

/// softmax(q kᵀ·scale + bias, masked)·v written out with separate operations: the reference for the fused kernel.
private func composedAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, keep: Tensor? = nil, bias: Tensor? = nil,
                               scale: Double? = nil) -> Tensor {
    composedWeights(q, k, keep: keep, bias: bias, scale: scale).matmul(v)
}

private func composedWeights(_ q: Tensor, _ k: Tensor, keep: Tensor? = nil, bias: Tensor? = nil,
                             scale: Double? = nil) -> Tensor {
    var scores = q.matmul(k.transposed(-2, -1)) * (scale ?? 1 / Double(q.size(-1)).squareRoot())
    if let bias { scores = scores + bias }
    if let keep { scores = scores.maskedFill(keep.logicalNot(), -Double.infinity) }
    return scores.softmax(dim: -1)
}

/// Key/value heads repeated so that query head h reads head h / groups (repeat_interleave over the head axis).
private func repeatHeads(_ x: Tensor, _ groups: Int) -> Tensor {
    let s = x.shape
    return x.unsqueezed(2).expanded([s[0], s[1], groups, s[2], s[3]]).reshaped([s[0], s[1] * groups, s[2], s[3]])
}

private func maxDifference(_ a: Tensor, _ b: Tensor) -> Double { (a - b).abs().max().item(Double.self) }

private func qkv(_ g: Generator, batch: Int = 2, heads: Int = 3, kvHeads: Int? = nil, queries: Int = 5, keys: Int = 7,
                 dim: Int = 4) -> (Tensor, Tensor, Tensor) {
    (Tensor.randn([batch, heads, queries, dim], dtype: .float64, generator: g),
     Tensor.randn([batch, kvHeads ?? heads, keys, dim], dtype: .float64, generator: g),
     Tensor.randn([batch, kvHeads ?? heads, keys, dim], dtype: .float64, generator: g))
}

@Suite("Scaled dot-product attention")
struct AttentionTests {
    @Test("the fused kernel equals softmax(q kᵀ/√d)·v in float64")
    func plain() {
        let (q, k, v) = qkv(Generator(seed: 1))
        let fused = Tensor.scaledDotProductAttention(query: q, key: k, value: v)
        #expect(fused.shape == [2, 3, 5, 4])
        #expect(maxDifference(fused, composedAttention(q, k, v)) < 1e-12)
    }

    @Test("causal attention lets query t see keys up to t, aligned to the last key when there are fewer queries")
    func causal() {
        let (q, k, v) = qkv(Generator(seed: 2), queries: 6, keys: 6)
        let square = Tensor.scaledDotProductAttention(query: q, key: k, value: v, causal: true)
        let lower = Tensor.ones([6, 6], dtype: .bool).tril()
        #expect(maxDifference(square, composedAttention(q, k, v, keep: lower)) < 1e-12)
        // With 3 queries over 6 keys the queries are positions 3, 4, 5 (decoding with cached keys).
        let last = q.narrow(dim: 2, start: 3, length: 3)
        let cached = Tensor.scaledDotProductAttention(query: last, key: k, value: v, causal: true)
        #expect(maxDifference(cached, composedAttention(last, k, v, keep: Tensor.ones([3, 6], dtype: .bool).tril(3))) < 1e-12)
        #expect(maxDifference(cached, square.narrow(dim: 2, start: 3, length: 3)) < 1e-12)
    }

    @Test("a boolean mask keeps the true keys; a query that sees no key gets zeros")
    func booleanMask() {
        let g = Generator(seed: 3)
        let (q, k, v) = qkv(g)
        let keep = Tensor.rand([2, 1, 5, 7], dtype: .float64, generator: g) .< 0.6
        keep[.all, .all, .all, 3] = Tensor(true)
        keep[0, 0, 1] = Tensor(false)  // batch 0, every head: query 1 sees nothing
        let fused = Tensor.scaledDotProductAttention(query: q, key: k, value: v, mask: keep)
        let blind = fused[0, .all, 1]
        #expect(blind.abs().max().item(Double.self) == 0)
        keep[0, 0, 1, 0] = Tensor(true)  // the composed softmax would give NaN on the blind row; compare the others
        let reference = composedAttention(q, k, v, keep: keep)
        reference[0, .all, 1] = Tensor.zeros([3, 4], dtype: .float64)
        #expect(maxDifference(fused, reference) < 1e-12)
    }

    @Test("a floating mask is added to the scores")
    func additiveMask() {
        let g = Generator(seed: 4)
        let (q, k, v) = qkv(g)
        let bias = Tensor.randn([1, 3, 5, 7], dtype: .float64, generator: g)
        bias[0, 1, 2, 6] = Tensor(-Double.infinity)
        let fused = Tensor.scaledDotProductAttention(query: q, key: k, value: v, mask: bias)
        #expect(maxDifference(fused, composedAttention(q, k, v, bias: bias)) < 1e-12)
        let keep = Tensor.rand([2, 1, 5, 7], dtype: .float64, generator: g) .< 0.7
        keep[.all, .all, .all, 0] = Tensor(true)
        let asBias = Tensor.scaledDotProductAttention(query: q, key: k, value: v,
                                                      mask: AttentionMask.additive(keep, dtype: .float64))
        #expect(maxDifference(asBias, Tensor.scaledDotProductAttention(query: q, key: k, value: v, mask: keep)) < 1e-12)
    }

    @Test("a custom scale replaces 1/√d")
    func customScale() {
        let (q, k, v) = qkv(Generator(seed: 5))
        let fused = Tensor.scaledDotProductAttention(query: q, key: k, value: v, scale: 0.3)
        #expect(maxDifference(fused, composedAttention(q, k, v, scale: 0.3)) < 1e-12)
        #expect(maxDifference(fused, Tensor.scaledDotProductAttention(query: q, key: k, value: v)) > 1e-3)
    }

    @Test("causal and a mask together apply both")
    func causalWithMask() {
        let g = Generator(seed: 6)
        let (q, k, v) = qkv(g, queries: 7, keys: 7)
        let keep = Tensor.rand([2, 1, 7, 7], dtype: .float64, generator: g) .< 0.7
        keep[.all, .all, .all, 0] = Tensor(true)
        let both = keep .& Tensor.ones([7, 7], dtype: .bool).tril()
        let fused = Tensor.scaledDotProductAttention(query: q, key: k, value: v, mask: keep, causal: true)
        #expect(maxDifference(fused, composedAttention(q, k, v, keep: both)) < 1e-12)
        let additive = Tensor.scaledDotProductAttention(query: q, key: k, value: v,
                                                        mask: AttentionMask.additive(keep, dtype: .float64), causal: true)
        #expect(maxDifference(additive, composedAttention(q, k, v, keep: both)) < 1e-12)
    }

    @Test("grouped-query attention equals attention over explicitly repeated key/value heads")
    func groupedQuery() {
        let g = Generator(seed: 7)
        let (q, k, v) = qkv(g, heads: 6, kvHeads: 2, queries: 5, keys: 5)
        let keep = Tensor.rand([2, 1, 5, 5], dtype: .float64, generator: g) .< 0.7
        keep[.all, .all, .all, 0] = Tensor(true)
        let (kr, vr) = (repeatHeads(k, 3), repeatHeads(v, 3))
        for (mask, causal) in [(nil, false), (nil, true), (keep, false), (keep, true)] as [(Tensor?, Bool)] {
            let grouped = Tensor.scaledDotProductAttention(query: q, key: k, value: v, mask: mask, causal: causal)
            let repeated = Tensor.scaledDotProductAttention(query: q, key: kr, value: vr, mask: mask, causal: causal)
            let lower = Tensor.ones([5, 5], dtype: .bool).tril()
            let rule = causal ? (mask.map { $0 .& lower } ?? lower) : mask
            #expect(maxDifference(grouped, repeated) < 1e-12, "mask \(mask != nil), causal \(causal)")
            #expect(maxDifference(grouped, composedAttention(q, kr, vr, keep: rule)) < 1e-12,
                    "mask \(mask != nil), causal \(causal)")
        }
    }

    @Test("gradients of query, key, value and an additive mask match finite differences",
          arguments: [
              GradCase(name: "causal", shapes: [[1, 2, 4, 3], [1, 2, 4, 3], [1, 2, 4, 3]]) {
                  Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], causal: true)
              },
              GradCase(name: "boolean mask with a blind query, scale 0.7",
                       shapes: [[2, 1, 3, 2], [2, 1, 4, 2], [2, 1, 4, 2]]) {
                  let keep = Tensor([true, false, true, true, false, false, false, false, true, true, true, false,
                                     false, true, true, true, true, false, true, false, false, true, false, true],
                                    shape: [2, 1, 3, 4])
                  return Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], mask: keep, scale: 0.7)
              },
              GradCase(name: "additive mask", shapes: [[1, 2, 3, 2], [1, 2, 4, 2], [1, 2, 4, 3], [1, 1, 3, 4]]) {
                  Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], mask: $0[3])
              },
              GradCase(name: "grouped-query, causal, 2 fewer queries", shapes: [[1, 4, 2, 3], [1, 2, 4, 3], [1, 2, 4, 3]]) {
                  Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], causal: true)
              },
              GradCase(name: "additive −∞ mask with a blind query", shapes: [[1, 2, 3, 2], [1, 2, 3, 2], [1, 2, 3, 2]]) {
                  let keep = Tensor([true, true, false, false, false, false, true, false, true], shape: [1, 1, 3, 3])
                  return Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2],
                                                          mask: AttentionMask.additive(keep, dtype: .float64))
              },
              // The first query sees no key; with an additive mask a NaN from its softmax would reach q and k.
              GradCase(name: "dropout (fixed seed), grouped-query, causal, additive mask, a blind query",
                       shapes: [[1, 4, 4, 2], [1, 2, 4, 2], [1, 2, 4, 2]]) {
                  let keep = Tensor([false, false, false, false] + [Bool](repeating: true, count: 12), shape: [1, 1, 4, 4])
                  return Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2],
                                                          mask: AttentionMask.additive(keep, dtype: .float64),
                                                          causal: true, dropout: 0.3, generator: Generator(seed: 9))
              },
          ])
    func gradients(_ c: GradCase) {
        gradientCheck(c)
    }
}

@Suite("Attention dropout")
struct AttentionDropoutTests {
    // With values = identity (S = D) the output is the dropped, rescaled attention weights themselves.
    private func weightsOut(p: Double, seed: UInt64, training: Bool = true, causal: Bool = false, heads: Int = 4,
                            kvHeads: Int = 4) -> (out: Tensor, q: Tensor, k: Tensor) {
        let g = Generator(seed: 100)
        let q = Tensor.randn([2, heads, 64, 16], dtype: .float64, generator: g)
        let k = Tensor.randn([2, kvHeads, 64, 16], dtype: .float64, generator: g)
        let v = Tensor.eye(64, dtype: .float64).expanded([2, kvHeads, 64, 64])
        let out = Tensor.scaledDotProductAttention(query: q, key: k, value: v, causal: causal, dropout: p,
                                                   training: training, generator: Generator(seed: seed))
        return (out, q, k)
    }

    @Test("the same seed drops the same weights; another seed different ones")
    func seeds() {
        let a = weightsOut(p: 0.2, seed: 1).out, b = weightsOut(p: 0.2, seed: 1).out, c = weightsOut(p: 0.2, seed: 2).out
        #expect(a.equal(b))
        #expect(!a.equal(c))
    }

    @Test("p = 0, or not training, is attention without dropout")
    func noDropout() {
        let plain = weightsOut(p: 0, seed: 1)
        let reference = composedWeights(plain.q, plain.k)
        #expect(maxDifference(plain.out, reference) < 1e-12)
        #expect(maxDifference(weightsOut(p: 0.5, seed: 1, training: false).out, reference) < 1e-12)
    }

    struct DropoutCase: Sendable, CustomStringConvertible {
        let p: Double, causal: Bool, kvHeads: Int
        var description: String { "p \(p), causal \(causal), \(kvHeads) key/value heads" }
    }

    @Test("about p of the weights are dropped and the rest scaled by 1/(1-p), with causal and grouped heads",
          arguments: [DropoutCase(p: 0.1, causal: false, kvHeads: 4), DropoutCase(p: 0.25, causal: true, kvHeads: 2),
                      DropoutCase(p: 0.5, causal: false, kvHeads: 1)])
    func fractionDropped(_ c: DropoutCase) {
        let (p, causal, kvHeads) = (c.p, c.causal, c.kvHeads)
        let (out, q, k) = weightsOut(p: p, seed: 3, causal: causal, kvHeads: kvHeads)
        let allowed = causal ? Tensor.ones([64, 64], dtype: .bool).tril() : Tensor.ones([64, 64], dtype: .bool)
        let weights = composedWeights(q, repeatHeads(k, 4 / kvHeads), keep: allowed)
        let kept = out .!= 0
        let candidates = allowed.to(dtype: .float64).sum().item(Double.self) * 2 * 4
        let dropped = 1 - (kept.to(dtype: .float64).sum().item(Double.self)) / candidates
        // n ≥ 16k Bernoulli draws: the standard deviation of the fraction is below 0.004.
        #expect(Swift.abs(dropped - p) < 0.02, "dropped \(dropped), expected \(p)")
        #expect(maxDifference(out, weights * kept.to(dtype: .float64) / (1 - p)) < 1e-12)
    }
}

@Suite("Attention masks and position ids")
struct AttentionMaskTests {
    @Test("masks from lengths equal masks from attention masks, for both padding sides, causal or not")
    func lengthsMatchAttentionMasks() {
        let lengths = [3, 5, 0, 1]
        for side in PaddingSide.allCases {
            let keyMask = AttentionMask.keyMask(lengths: lengths, keyLength: 5, padding: side)
            let ints = keyMask.to(dtype: .int64)
            #expect(ints.sum(dim: 1).ints == lengths)
            for causal in [false, true] {
                for queries in [5, 2] {
                    let fromLengths = AttentionMask.from(lengths: lengths, keyLength: 5, queryLength: queries,
                                                         padding: side, causal: causal)
                    let fromMask = AttentionMask.from(attentionMask: ints, queryLength: queries, causal: causal)
                    #expect(fromLengths.shape == [4, 1, queries, 5])
                    #expect(fromLengths.dtype == .bool)
                    #expect(fromLengths.equal(fromMask), "\(side), causal \(causal), \(queries) queries")
                }
            }
        }
    }

    @Test("a left-padded causal mask, element by element")
    func leftPaddedExample() {
        let mask = AttentionMask.from(attentionMask: Tensor([[0, 1, 1], [1, 1, 1]] as [[Int]]))
        #expect(mask.bools == [false, false, false, false, true, false, false, true, true,
                               true, false, false, true, true, false, true, true, true])
        #expect(AttentionMask.causal(queryLength: 2, keyLength: 3).bools == [true, true, false, true, true, true])
    }

    @Test("position ids count the real tokens of each row from 0; padding gets 0")
    func positions() {
        let mask = Tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 1, 1, 0, 1]] as [[Int]])
        #expect(positionIds(fromAttentionMask: mask).ints == [0, 0, 0, 1, 2, 0, 1, 2, 3, 4, 0, 1, 2, 0, 0, 0, 0, 1, 0, 2])
        #expect(positionIds(fromAttentionMask: mask .!= 0).ints == positionIds(fromAttentionMask: mask).ints)
    }

    @Test("attention over a left-padded batch equals attention over each sequence alone")
    func leftPaddingIsInvisible() {
        let g = Generator(seed: 11)
        let lengths = [2, 5, 4]
        let (q, k, v) = qkv(g, batch: 3, heads: 2, queries: 5, keys: 5)
        let mask = AttentionMask.from(lengths: lengths, keyLength: 5, padding: .left)
        let batched = Tensor.scaledDotProductAttention(query: q, key: k, value: v, mask: mask)
        for (b, n) in lengths.enumerated() {
            func real(_ x: Tensor) -> Tensor { x.narrow(dim: 0, start: b, length: 1).narrow(dim: 2, start: 5 - n, length: n) }
            let alone = Tensor.scaledDotProductAttention(query: real(q), key: real(k), value: real(v), causal: true)
            #expect(maxDifference(real(batched), alone) < 1e-12, "sequence \(b)")
            if n < 5 {  // pad queries see no key at all under the causal rule
                #expect(batched.narrow(dim: 0, start: b, length: 1).narrow(dim: 2, start: 0, length: 5 - n)
                    .abs().max().item(Double.self) == 0)
            }
        }
    }
}
