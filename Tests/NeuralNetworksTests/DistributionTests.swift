import Foundation
import Testing
import TestSupport
import Torch
@testable import NeuralNetworks

/// The distribution families of golden/rl (the rest of that folder is checked by the RL tests).
let distributionFunctions: Set<String> = ["categorical", "diag_gaussian", "diag_gaussian_kl"]

@Suite("Distributions")
struct DistributionTests {
    static var goldenFiles: [URL] {
        Fixtures.goldenFiles("rl").filter { distributionFunctions.contains(String($0.lastPathComponent.split(separator: "_").dropLast(2).joined(separator: "_"))) || distributionFunctions.contains(String($0.lastPathComponent.components(separatedBy: "__")[0])) }
    }

    @Test("golden distribution files are present")
    func present() {
        #expect(Self.goldenFiles.count >= 9)
    }

    @Test("log-prob, entropy, KL and their gradients match the golden values", arguments: DistributionTests.goldenFiles)
    func golden(file: URL) throws {
        let json = try Fixtures.json(file)
        let inputs = json["inputs"] as! [String: Any]
        let expected = json["expected"] as! [String: Any]
        let tol = json["tolerance"] as? Double ?? 1e-6
        let name = file.lastPathComponent
        func check(_ actual: Tensor, _ key: String) {
            expectClose(actual.doubles, flatten(expected[key]).values, atol: tol, rtol: tol, "\(name) \(key)")
        }
        switch json["function"] as! String {
        case "categorical":
            let logits = tensor(inputs["logits"]).requiringGrad()
            let actions = tensor(inputs["actions"], dtype: .int64)
            let d = Categorical(logits: logits)
            let logProb = d.logProb(actions)
            check(logProb, "log_prob")
            check(d.entropy(), "entropy")
            check(d.probabilities, "probs")
            check(gradients(of: [logProb.sum()], withRespectTo: [logits])[0]!, "grad_logits_log_prob")
            check(gradients(of: [Categorical(logits: logits).entropy().sum()], withRespectTo: [logits])[0]!, "grad_logits_entropy")
        case "diag_gaussian":
            let mean = tensor(inputs["mean"]).requiringGrad(), logStd = tensor(inputs["log_std"]).requiringGrad()
            let d = DiagonalGaussian(mean: mean, logStd: logStd)
            let logProb = d.logProb(tensor(inputs["actions"]))
            check(logProb, "log_prob")
            check(d.entropy(), "entropy")
            let grads = gradients(of: [logProb.sum()], withRespectTo: [mean, logStd])
            check(grads[0]!, "grad_mean")
            check(grads[1]!, "grad_log_std")
            check(gradients(of: [d.entropy().sum()], withRespectTo: [logStd])[0]!, "grad_entropy_log_std")
        case "diag_gaussian_kl":
            let names = ["mean_p", "log_std_p", "mean_q", "log_std_q"]
            let t = names.map { tensor(inputs[$0]).requiringGrad() }
            let kl = DiagonalGaussian(mean: t[0], logStd: t[1]).kl(to: DiagonalGaussian(mean: t[2], logStd: t[3]))
            check(kl, "kl")
            let grads = gradients(of: [kl.sum()], withRespectTo: t)
            for (g, n) in zip(grads, names) { check(g!, "grad_\(n)") }
        default:
            Issue.record("\(name): not a distribution golden")
        }
    }

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
