import Foundation
import Testing
import TestSupport
import Torch
@testable import NeuralNetworks

// Log-prob, entropy and KL against golden/rl (categorical, diag_gaussian, diag_gaussian_kl) are checked with the
// rest of that folder in ReinforcementLearningTests/RLGoldenTests.swift.

@Suite("Distributions")
struct DistributionTests {
    @Test("masked categorical never picks a masked action and keeps a finite entropy")
    func masking() {
        let logits = Tensor([[5, 0, 0], [0, 0, 0]] as [[Double]])
        let mask = Tensor([[false, true, true], [true, false, false]])
        let d = Categorical(logits: logits, mask: mask)
        let samples = Tensor.stack((0..<200).map { _ in d.sample(generator: Generator(seed: UInt64.random(in: 0...1000))) })
        #expect((samples[.all, 0] .== 0).sum().item(Int.self) == 0)
        #expect((samples[.all, 1] .!= 0).sum().item(Int.self) == 0)
        expectClose(d.entropy(), [Foundation.log(2), 0], atol: 1e-9, "entropy")
        #expect(d.mode().ints == [1, 0])
    }

    @Test("Gaussian sampling is seeded and has the right moments; rsample carries gradients")
    func gaussianSampling() {
        let mean = Tensor.full([20000, 1], value: 2.0, dtype: .float64)
        let d = DiagonalGaussian(mean: mean, logStd: Tensor([Foundation.log(0.5)] as [Double]))
        let s = d.sample(generator: Generator(seed: 1))
        #expect(s.equal(d.sample(generator: Generator(seed: 1))))
        #expect(Swift.abs(s.mean().item(Double.self) - 2) < 0.02)
        #expect(Swift.abs(s.std().item(Double.self) - 0.5) < 0.02)
        let mu = Tensor([0.0] as [Double]).requiringGrad()
        let r = DiagonalGaussian(mean: mu, logStd: Tensor([0.0] as [Double])).rsample(generator: Generator(seed: 2))
        #expect(gradients(of: [r.sum()], withRespectTo: [mu])[0]!.doubles == [1])
    }

    @Test("Bernoulli log-prob and entropy match closed forms, stably")
    func bernoulli() {
        let logits = Tensor([-2, 0, 3, 800] as [Double])
        let d = Bernoulli(logits: logits)
        let p = logits.doubles.map { 1 / (1 + Foundation.exp(-$0)) }
        let expectedLogProb: [Double] = [Foundation.log(p[0]), Foundation.log(1 - p[1]), Foundation.log(p[2]), 0]
        expectClose(d.logProb(Tensor([1, 0, 1, 1] as [Double])), expectedLogProb, atol: 1e-12, "log_prob")
        let expectedEntropy: [Double] = (0..<3).map { i in
            let q = p[i]
            return -(q * Foundation.log(q) + (1 - q) * Foundation.log(1 - q))
        }
        expectClose(d.entropy()[0..<3], expectedEntropy, atol: 1e-12, "entropy")
        #expect(d.entropy()[3].item(Double.self).isFinite)
        #expect(d.mode().doubles == [0, 0, 1, 1])
    }
}
