import Foundation
import Testing
import TestSupport
import Torch
import NeuralNetworks

/// The README's library example, kept compiling and checked for what it claims.
@Suite struct ReadmeSnippetTests {
    @Test("the README's transformer pieces and safetensors loading do what it says")
    func readmeExample() throws {
        let (q, k, v) = (Tensor.randn([1, 8, 16, 64]), Tensor.randn([1, 2, 16, 64]), Tensor.randn([1, 2, 16, 64]))
        let mask = Tensor([[0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]])
        let rope = RotaryEmbedding(dimension: 64, base: 500_000, scaling: .llama3(factor: 8, lowFrequencyFactor: 1,
                                   highFrequencyFactor: 4, originalMaxPositionEmbeddings: 8192))
        let (cos, sin) = rope.cosSin(positionIds: positionIds(fromAttentionMask: mask))
        let (qr, kr) = applyRotary(query: q, key: k, cos: cos, sin: sin)
        let out = Tensor.scaledDotProductAttention(query: qr, key: kr, value: v, mask: AttentionMask.from(attentionMask: mask))
        #expect(out.shape == [1, 8, 16, 64])

        let net = Sequential.mlp(sizes: [4, 64, 64, 2])
        let file = try temporaryDirectory().appendingPathComponent("weights.safetensors")
        try SafeTensors.write(net.stateDict(), to: file)
        let fresh = Sequential.mlp(sizes: [4, 64, 64, 2])
        let report = try fresh.load(safetensors: file)
        #expect(report.missing.isEmpty && report.unexpected.isEmpty)
        let x = Tensor.randn([3, 4])
        #expect(fresh(x).equal(net(x)))
    }
}
