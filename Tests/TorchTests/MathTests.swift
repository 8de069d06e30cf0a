import Foundation
import Testing
@testable import Torch
import TestSupport

@Suite("Elementwise math, reductions and linear algebra")
struct MathTests {
    @Test("operators broadcast and promote like PyTorch")
    func operators() {
        let a = Tensor([[1, 2], [3, 4]] as [[Float]])
        let b = Tensor([10, 20] as [Float])
        #expect((a + b).floats == [11, 22, 13, 24])
        #expect((a - b).floats == [-9, -18, -7, -16])
        #expect((a * b).floats == [10, 40, 30, 80])
        #expect((b / a).floats == [10, 10, 10.0 / 3, 5])
        #expect((-a).floats == [-1, -2, -3, -4])
        #expect((a + 1).dtype == .float32)
        #expect((2 * a - 1).floats == [1, 3, 5, 7])
        #expect((1 - a).floats == [0, -1, -2, -3])
        #expect((12 / a).floats == [12, 6, 4, 3])
        #expect((Tensor([1, 2] as [Int]) + 0.5).dtype == .float32)
        #expect((Tensor([1, 2] as [Int]) * 3).ints == [3, 6])
        #expect((Tensor([1, 2] as [Int]) + Tensor([0.5, 0.5] as [Double])).dtype == .float64)
    }

    @Test("comparisons return boolean tensors")
    func comparisons() {
        let a = Tensor([1, 2, 3] as [Float])
        let b = Tensor([3, 2, 1] as [Float])
        #expect((a .< b).bools == [true, false, false])
        #expect((a .<= b).bools == [true, true, false])
        #expect((a .> 2).bools == [false, false, true])
        #expect((a .>= 2).bools == [false, true, true])
        #expect((a .== b).bools == [false, true, false])
        #expect((a .!= 2).bools == [true, false, true])
        #expect((a .< b).dtype == .bool)
        #expect(((a .> 1) .& (a .< 3)).bools == [false, true, false])
        #expect(((a .< 2) .| (a .> 2)).bools == [true, false, true])
    }

    @Test("unary functions match their closed forms")
    func unaryFunctions() {
        let values: [Double] = [-2.5, -0.3, 0.4, 1.7]
        let x = Tensor(values)
        func check(_ t: Tensor, _ f: (Double) -> Double, _ name: String) {
            expectClose(t, values.map(f), atol: 1e-12, rtol: 1e-12, name)
        }
        check(x.exp(), Foundation.exp, "exp")
        check(x.abs().log(), { Foundation.log(Swift.abs($0)) }, "log")
        check(x.abs().log1p(), { Foundation.log1p(Swift.abs($0)) }, "log1p")
        check(x.expm1(), Foundation.expm1, "expm1")
        check(x.abs().sqrt(), { Swift.abs($0).squareRoot() }, "sqrt")
        check(x.abs().rsqrt(), { 1 / Swift.abs($0).squareRoot() }, "rsqrt")
        check(x.abs(), Swift.abs, "abs")
        check(x.sign(), { $0 > 0 ? 1 : -1 }, "sign")
        check(x.tanh(), Foundation.tanh, "tanh")
        check(x.sigmoid(), { 1 / (1 + Foundation.exp(-$0)) }, "sigmoid")
        check(x.logSigmoid(), { -Foundation.log1p(Foundation.exp(-$0)) }, "logSigmoid")
        check(x.relu(), { Swift.max($0, 0) }, "relu")
        check(x.gelu(), { 0.5 * $0 * (1 + Foundation.erf($0 / (2.0).squareRoot())) }, "gelu")
        check(x.gelu(approximate: true), { 0.5 * $0 * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) }, "gelu tanh")
        check(x.silu(), { $0 / (1 + Foundation.exp(-$0)) }, "silu")
        check(x.softplus(), { Foundation.log1p(Foundation.exp($0)) }, "softplus")
        check(x.pow(3), { $0 * $0 * $0 }, "pow")
        check(x.clamp(min: -1, max: 1), { Swift.min(Swift.max($0, -1), 1) }, "clamp")
        check(x.clamp(max: 0), { Swift.min($0, 0) }, "clamp max")
    }

    @Test("logSigmoid and softplus stay finite for huge arguments")
    func stableFunctions() {
        let x = Tensor([-800, 800] as [Double])
        expectClose(x.logSigmoid(), [-800, 0], atol: 1e-12, "logSigmoid")
        expectClose(x.softplus(), [0, 800], atol: 1e-12, "softplus")
        expectClose(x.logSumExp(dim: 0), [800], atol: 1e-12, "logSumExp")
    }

    @Test("minimum, maximum, pow with tensors and tensor-bounded clamp")
    func binaryFunctions() {
        let a = Tensor([1, 5, 3] as [Float]), b = Tensor([4, 2, 3] as [Float])
        #expect(a.minimum(b).floats == [1, 2, 3])
        #expect(a.maximum(b).floats == [4, 5, 3])
        #expect(a.pow(Tensor([2, 0, 1] as [Float])).floats == [1, 1, 3])
        #expect(a.clamp(min: Tensor([2, 2, 2] as [Float]), max: b).floats == [2, 2, 3])
    }

    @Test("reductions over all, one and several dimensions with keepDim")
    func reductions() {
        let x = Tensor(Array(1...6).map(Double.init), shape: [2, 3])
        #expect(x.sum().item(Double.self) == 21)
        #expect(x.sum(dim: 0).doubles == [5, 7, 9])
        #expect(x.sum(dim: 1, keepDim: true).shape == [2, 1])
        #expect(x.mean(dims: [0, 1]).item(Double.self) == 3.5)
        #expect(x.mean(dim: -1).doubles == [2, 5])
        #expect(x.prod().item(Double.self) == 720)
        #expect(x.prod(dim: 1).doubles == [6, 120])
        #expect(x.prod(dims: [0, 1]).item(Double.self) == 720)
        #expect(x.max().item(Double.self) == 6)
        #expect(x.min(dims: [1]).doubles == [1, 4])
        let (values, indices) = x.max(dim: 1)
        #expect(values.doubles == [3, 6] && indices.ints == [2, 2])
        #expect(x.min(dim: 0).indices.ints == [0, 0, 0])
        #expect(x.argmax().item(Int.self) == 5)
        #expect(x.argmin(dim: 1).ints == [0, 0])
        expectClose(x.variance(), [3.5], "unbiased variance")
        expectClose(x.variance(correction: 0), [35.0 / 12], "population variance")
        expectClose(x.std(dims: [1]), [1, 1], "std")
        expectClose(x.norm(), [(91.0).squareRoot()], "L2 norm")
        expectClose(x.norm(1, dims: [1]), [6, 15], "L1 norm")
        expectClose(x.norm(.infinity), [6], "inf norm")
        expectClose(x.logSumExp(dim: 1), [Foundation.log(Foundation.exp(1) + Foundation.exp(2) + Foundation.exp(3)),
                                          Foundation.log(Foundation.exp(4) + Foundation.exp(5) + Foundation.exp(6))], "logsumexp")
        #expect((x .> 3).any().item(Bool.self))
        #expect(!(x .> 3).all().item(Bool.self))
        #expect((x .> 3).all(dims: [1]).bools == [false, true])
    }

    @Test("softmax and logSoftmax normalise along the dimension")
    func softmax() {
        let x = Tensor([[1, 2, 3], [1000, 1000, 1000]] as [[Double]])
        let p = x.softmax(dim: 1)
        expectClose(p.sum(dim: 1), [1, 1], "rows sum to one")
        expectClose(p[1], [1.0 / 3, 1.0 / 3, 1.0 / 3], "no overflow")
        expectClose(x.logSoftmax(dim: 1), p.log().doubles, atol: 1e-12, "logSoftmax = log softmax")
    }

    @Test("cumsum, sort, topK and multinomial")
    func ordering() {
        let v = Tensor([3, 1, 2] as [Float])
        #expect(v.cumsum(dim: 0).floats == [3, 4, 6])
        let s = v.sorted()
        #expect(s.values.floats == [1, 2, 3] && s.indices.ints == [1, 2, 0])
        #expect(v.sorted(descending: true).values.floats == [3, 2, 1])
        let top = v.topK(2)
        #expect(top.values.floats == [3, 2] && top.indices.ints == [0, 2])
        #expect(v.topK(1, largest: false).values.floats == [1])
        let draws = Tensor([0, 0, 1] as [Float]).multinomial(numSamples: 5, replacement: true, generator: Generator(seed: 1))
        #expect(draws.ints == [2, 2, 2, 2, 2])
    }

    @Test("matmul, bmm, linear and einsum agree")
    func linearAlgebra() {
        let a = Tensor([[1, 2], [3, 4]] as [[Double]])
        let b = Tensor([[5, 6], [7, 8]] as [[Double]])
        #expect(a.matmul(b).doubles == [19, 22, 43, 50])
        #expect(a.matmul(Tensor([1, 1] as [Double])).doubles == [3, 7])
        let batch = Tensor.stack([a, b])
        #expect(batch.bmm(batch).shape == [2, 2, 2])
        #expect(batch.bmm(batch)[1].doubles == b.matmul(b).doubles)
        #expect(Tensor.einsum("ij,jk->ik", a, b).doubles == a.matmul(b).doubles)
        #expect(Tensor.einsum("bij,bjk->bik", batch, batch).doubles == batch.bmm(batch).doubles)
        #expect(Tensor.einsum("ii->", a).item(Double.self) == 5)
        #expect(Tensor.einsum("i,j->ij", Tensor([1, 2] as [Double]), Tensor([3, 4] as [Double])).doubles == [3, 4, 6, 8])
        let bias = Tensor([1, -1] as [Double])
        #expect(a.linear(weight: b, bias: bias).doubles == (a.matmul(b.T) + bias).doubles)
    }

    @Test("crossEntropy, nllLoss and mseLoss match hand-computed values")
    func losses() {
        let logits = Tensor([[2, 1, 0], [0, 0, 3]] as [[Double]])
        let target = Tensor([0, 2] as [Int])
        let logp = logits.logSoftmax(dim: 1)
        let lp = logp.doubles
        let expected = -(lp[0] + lp[5]) / 2
        expectClose(logits.crossEntropy(target: target), [expected], atol: 1e-12, "mean")
        expectClose(logits.crossEntropy(target: target, reduction: .sum), [2 * expected], atol: 1e-12, "sum")
        expectClose(logits.crossEntropy(target: target, reduction: .none), [-lp[0], -lp[5]], atol: 1e-12, "none")
        expectClose(logits.crossEntropy(target: Tensor([0, -100] as [Int])), [-lp[0]], atol: 1e-12, "ignore_index")
        // Label smoothing ε mixes the target with the uniform distribution: (1-ε)·NLL + ε·mean(-log p).
        let eps = 0.1
        let smooth0 = (1 - eps) * -lp[0] + eps * -(lp[0] + lp[1] + lp[2]) / 3
        let smooth1 = (1 - eps) * -lp[5] + eps * -(lp[3] + lp[4] + lp[5]) / 3
        expectClose(logits.crossEntropy(target: target, labelSmoothing: eps), [(smooth0 + smooth1) / 2], atol: 1e-12, "label smoothing")
        expectClose(logp.nllLoss(target: target), [expected], atol: 1e-12, "nll")
        let weight = Tensor([2, 1, 1] as [Double])
        expectClose(logp.nllLoss(target: target, weight: weight), [-(2 * lp[0] + lp[5]) / 3], atol: 1e-12, "weighted nll")
        let p = Tensor([1, 2, 3] as [Double])
        #expect(p.mseLoss(Tensor([1, 0, 0] as [Double])).item(Double.self) == 13.0 / 3)
        #expect(p.mseLoss(Tensor([1, 0, 0] as [Double]), reduction: .sum).item(Double.self) == 13)
    }

    @Test("in-place updates used by optimizers")
    func inPlace() {
        let t = Tensor([1, 2] as [Double])
        t.add_(Tensor([1, 1] as [Double]), alpha: 2)
        #expect(t.doubles == [3, 4])
        t.mul_(2)
        #expect(t.doubles == [6, 8])
        t.div_(Tensor([2, 4] as [Double]))
        #expect(t.doubles == [3, 2])
        t.addcmul_(Tensor([1, 2] as [Double]), Tensor([3, 4] as [Double]), value: 0.5)
        #expect(t.doubles == [4.5, 6])
        t.addcdiv_(Tensor([3, 4] as [Double]), Tensor([3, 2] as [Double]), value: -1)
        #expect(t.doubles == [3.5, 4])
        t.lerp_(Tensor([5.5, 0] as [Double]), weight: 0.5)
        #expect(t.doubles == [4.5, 2])
        t.copy_(Tensor([9] as [Double]))
        #expect(t.doubles == [9, 9])
        t.add_(1.0)
        t.sqrt_()
        expectClose(t, [(10.0).squareRoot(), (10.0).squareRoot()], "sqrt_")
        t.fill_(4.0)
        t.maximum_(Tensor([1, 7] as [Double]))
        #expect(t.doubles == [4, 7])
        t.clamp_(max: 5)
        #expect(t.doubles == [4, 5])
        t.zero_()
        #expect(t.doubles == [0, 0])
    }

    @Test("float32 tanh (Proxima's own kernel) is within 2.5 ulp of the exact value and keeps NaN, ±inf and -0")
    func float32Tanh() {
        // A dense grid over the whole interesting range, every float32 around the worst case (|x| ≈ 0.0156), tiny and
        // huge magnitudes.
        var values: [Float] = stride(from: -12.0, through: 12.0, by: 0.000731).map { Float($0) }
        var near: Float = 0.0155
        while near < 0.0157 { values += [near, -near]; near = near.nextUp }
        values += [0, -0.0, 1e-30, -1e-20, 1e-7, 3e-4, 0.4999999, 0.5, 0.5000001, 19.9, 20, 20.1, 88, -1e30, .infinity, -.infinity]
        let fast = Tensor(values).tanh().floats
        for (x, y) in zip(values, fast) {
            let exact = Foundation.tanh(Double(x))
            let ulp = Double(Float(exact).ulp)
            if Swift.abs(Double(y) - exact) > 2.5 * ulp {
                Issue.record("tanh(\(x)) = \(y), exact \(exact): \(Swift.abs(Double(y) - exact) / ulp) ulp")
                return
            }
        }
        let special = Tensor([Float.nan, -0.0] as [Float]).tanh().floats
        #expect(special[0].isNaN)
        #expect(special[1] == 0 && special[1].sign == .minus)
        // Non-contiguous input and a tensor that needs gradients take libtorch's path and agree.
        let m = Tensor(values).narrow(dim: 0, start: 0, length: 1000).reshaped([100, 10]).transposed(0, 1)
        expectClose(m.tanh().contiguous().doubles, m.contiguous().tanh().doubles, atol: 0, rtol: 0, "strided")
        let x = Tensor(values.prefix(100).map { $0 }).requiringGrad()
        expectClose(x.tanh(), x.detach().tanh().doubles, atol: 2.5e-7, rtol: 0, "autograd path")
    }
}

