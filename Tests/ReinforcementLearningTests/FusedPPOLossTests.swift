import FastKernels
import Foundation
import Testing
import TestSupport
import Torch
@testable import NeuralNetworks
@testable import ReinforcementLearning

/// PPO trains with `FusedPPOLoss`; it must equal the composed losses (PPOPolicyLoss + ppoValueLoss + entropy, which the
/// golden files check) in value, diagnostics and every gradient, including at ties of max and the bounds of clamp.
@Suite struct FusedPPOLossTests {
    struct Case: CustomStringConvertible, Sendable {
        var gaussian: Bool
        var normalize: Bool
        var valueClip: Double?
        var variant: ValueLossVariant
        /// Old log-probabilities equal to the new ones (every ratio exactly 1: ties everywhere).
        var ratioOne = false
        var description: String {
            "\(gaussian ? "gaussian" : "categorical") normalize \(normalize) vclip \(valueClip.map { "\($0)" } ?? "-") \(variant.rawValue)\(ratioOne ? " ratio 1" : "")"
        }
    }

    static let cases: [Case] = [
        Case(gaussian: false, normalize: true, valueClip: nil, variant: .sb3),
        Case(gaussian: false, normalize: false, valueClip: 0.3, variant: .sb3),
        Case(gaussian: false, normalize: true, valueClip: 0.3, variant: .cleanrl),
        Case(gaussian: false, normalize: true, valueClip: nil, variant: .cleanrl, ratioOne: true),
        Case(gaussian: true, normalize: true, valueClip: nil, variant: .sb3),
        Case(gaussian: true, normalize: false, valueClip: 0.2, variant: .cleanrl),
        Case(gaussian: true, normalize: true, valueClip: 0.2, variant: .sb3, ratioOne: true),
    ]

    @Test("fused PPO loss equals the composed losses in value, diagnostics and gradients", arguments: cases)
    func matchesComposed(c: Case) throws {
        let g = Generator(seed: 11)
        let batch = 24, width = 3
        let head = (Tensor.randn([batch, width], dtype: .float64, generator: g) * 0.7).requiringGrad()
        let logStdParameter = (Tensor.randn([width], dtype: .float64, generator: g) * 0.3).requiringGrad()
        let values = Tensor.randn([batch], dtype: .float64, generator: g).requiringGrad()
        func distribution() -> PolicyDistribution {
            c.gaussian ? .gaussian(DiagonalGaussian(mean: head, logStd: logStdParameter))
                       : .categorical(Categorical(logits: head))
        }
        let actions = withNoGrad {
            c.gaussian ? head + Tensor.randn([batch, width], dtype: .float64, generator: g)
                       : Tensor.randint(0, width, shape: [batch], generator: g)
        }
        // Old log-probabilities spread the ratios well beyond [0.8, 1.2] on both sides.
        let current = withNoGrad { distribution().logProb(actions) }
        let oldLogProbs = c.ratioOne ? current : current + Tensor.randn([batch], dtype: .float64, generator: g) * 0.4
        let advantages = Tensor.randn([batch], dtype: .float64, generator: g) * 2
        let oldValues = withNoGrad { values + Tensor.randn([batch], dtype: .float64, generator: g) * 0.4 }
        let returns = Tensor.randn([batch], dtype: .float64, generator: g)
        let clip = 0.2, entCoef = 0.01, vfCoef = 0.5
        let inputs = [head, logStdParameter, values]

        let d = distribution()
        let fused = try #require(FusedPPOLoss.compute(
            distribution: d, values: values, actions: actions, oldLogProbs: oldLogProbs, advantages: advantages,
            oldValues: oldValues, returns: returns,
            objective: PPOObjective(clipRange: clip, clipRangeValue: c.valueClip, normalizeAdvantages: c.normalize,
                                    entropyCoefficient: entCoef, valueCoefficient: vfCoef,
                                    halvedMaximumValueLoss: c.variant == .cleanrl)))
        let fusedGrads = gradients(of: [fused.loss], withRespectTo: inputs, allowUnused: true)

        let e = distribution()
        let policy = PPOPolicyLoss(logProbs: e.logProb(actions), oldLogProbs: oldLogProbs, advantages: advantages,
                                   clipLow: clip, normalizeAdvantages: c.normalize)
        let (valueLoss, valueClipFraction) = ppoValueLoss(values: values, oldValues: oldValues, returns: returns,
                                                          clipRange: c.valueClip, variant: c.variant)
        let entropyLoss = -e.entropy()!.mean()
        let composed = policy.loss + entCoef * entropyLoss + vfCoef * valueLoss
        let composedGrads = gradients(of: [composed], withRespectTo: inputs, allowUnused: true)

        let tolerance = 1e-12
        expectClose([fused.loss.item(Double.self)], [composed.item(Double.self)], atol: tolerance, "\(c) loss")
        expectClose([fused.values.policyLoss, fused.values.valueLoss, fused.values.entropyLoss],
                    [policy.loss.item(Double.self), valueLoss.item(Double.self), entropyLoss.item(Double.self)],
                    atol: tolerance, "\(c) parts")
        expectClose([fused.values.approxKL, fused.values.clipFraction, fused.values.valueClipFraction],
                    [policy.approxKL3, policy.clipFractionRange, valueClipFraction], atol: tolerance, "\(c) diagnostics")
        if !c.ratioOne { #expect(fused.values.clipFraction > 0.2 && fused.values.clipFraction < 0.9, "\(c): both clipped and unclipped samples") }
        for (k, name) in ["head", "log_std", "values"].enumerated() {
            if !c.gaussian && k == 1 { #expect(fusedGrads[1] == nil); continue }
            let a = try #require(fusedGrads[k], "\(c): no fused gradient for \(name)")
            let b = try #require(composedGrads[k], "\(c): no composed gradient for \(name)")
            expectClose(a, b.doubles, atol: tolerance, rtol: 1e-10, "\(c) gradient of \(name)")
        }
    }

    @Test("float32 inputs give a float32 loss whose gradients agree with the composed ones")
    func float32() throws {
        let g = Generator(seed: 5)
        let logits = Tensor.randn([64, 2], generator: g).requiringGrad()
        let values = Tensor.randn([64], generator: g).requiringGrad()
        let actions = Tensor.randint(0, 2, shape: [64], generator: g)
        let old = withNoGrad { Categorical(logits: logits).logProb(actions) + Tensor.randn([64], generator: g) * 0.3 }
        let adv = Tensor.randn([64], generator: g), oldValues = Tensor.randn([64], generator: g), ret = Tensor.randn([64], generator: g)
        let fused = try #require(FusedPPOLoss.compute(
            distribution: .categorical(Categorical(logits: logits)), values: values, actions: actions, oldLogProbs: old,
            advantages: adv, oldValues: oldValues, returns: ret,
            objective: PPOObjective(clipRange: 0.2, clipRangeValue: nil, normalizeAdvantages: true, entropyCoefficient: 0,
                                    valueCoefficient: 0.5, halvedMaximumValueLoss: false)))
        #expect(fused.loss.dtype == .float32)
        let a = gradients(of: [fused.loss], withRespectTo: [logits, values])
        let policy = PPOPolicyLoss(logProbs: Categorical(logits: logits).logProb(actions), oldLogProbs: old, advantages: adv,
                                   clipLow: 0.2, normalizeAdvantages: true)
        let composed = policy.loss + 0.5 * ppoValueLoss(values: values, oldValues: oldValues, returns: ret, clipRange: nil, variant: .sb3).loss
        let b = gradients(of: [composed], withRespectTo: [logits, values])
        expectClose(a[0]!, b[0]!.doubles, atol: 1e-6, "logits")
        expectClose(a[1]!, b[1]!.doubles, atol: 1e-6, "values")
    }

    @Test("multi-categorical policies are left to the composed losses")
    func unsupported() {
        let logits = Tensor.randn([4, 2], generator: Generator(seed: 0))
        let fused = FusedPPOLoss.compute(
            distribution: .multiCategorical([Categorical(logits: logits)]), values: Tensor.zeros([4]),
            actions: Tensor.zeros([4, 1], dtype: .int64), oldLogProbs: Tensor.zeros([4]), advantages: Tensor.zeros([4]),
            oldValues: Tensor.zeros([4]), returns: Tensor.zeros([4]),
            objective: PPOObjective(clipRange: 0.2, clipRangeValue: nil, normalizeAdvantages: false, entropyCoefficient: 0,
                                    valueCoefficient: 0.5, halvedMaximumValueLoss: false))
        #expect(fused == nil)
    }
}
