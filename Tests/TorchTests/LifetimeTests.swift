import Testing
@testable import Torch
import TestSupport

@Suite("Handle lifetime (the ARC trap)", .serialized)
struct LifetimeTests {
    @Test("long chains of temporaries in one expression compute correctly, again and again")
    func temporaryChains() {
        let x = Tensor([0.5, -1, 2] as [Double])
        let expected = x.doubles.map { v in ((v + 1) * 2 - Foundation.exp(v)) }.map { Foundation.tanh($0) }.reduce(0, +)
        for _ in 0..<2000 {
            let value = (((x + 1) * 2 - x.exp()).tanh().sum() + Tensor.zeros([1], dtype: .float64).sum()).item(Double.self)
            #expect(Swift.abs(value - expected) < 1e-12)
            let chained = Tensor([1, 2, 3] as [Float]).reshaped(3, 1).expanded([3, 2]).contiguous().view(-1)[1...].sum()
            #expect(chained.item(Float.self) == 11)
        }
    }

    @Test("every handle is freed exactly once when tensors go away")
    func noLeaks() {
        let before = LibTorch.threadTensorBalance
        do {
            let a = Tensor.randn([4, 4])
            for _ in 0..<500 {
                _ = Tensor.stack(a.split(size: 1)).matmul(a).softmax(dim: -1).topK(2)
                _ = a[0..<2, .all].requiringGrad(false)
            }
        }
        #expect(LibTorch.threadTensorBalance == before)
    }
}

import Foundation
