import FastKernels
import Foundation
import Testing
import TestSupport
import Torch
import Environments
@testable import NeuralNetworks
@testable import ReinforcementLearning

/// PPO trains MLPActorCritic through `ppoActorCriticGradients` (forward, objective and backward pass in C++, no
/// autograd); it must give the gradients autograd gives for the same networks and composed losses.
@Suite struct FusedActorCriticStepTests {
    struct Case: CustomStringConvertible, Sendable {
        var categorical: Bool
        var activations: [DenseActivation]
        var valueClip: Double?
        var variant: ValueLossVariant
        var normalize = true
        /// gSDE (docs/gsde.md), with one log S per latent feature and action or per feature.
        var sde: FusedStateDependentNoise?
        var fullStd = true
        var description: String {
            "\(categorical ? "categorical" : "gaussian") \(activations) vclip \(valueClip.map { "\($0)" } ?? "-") \(variant.rawValue) normalize \(normalize)"
                + (sde.map { " gSDE \($0) full_std \(fullStd)" } ?? "")
        }
    }

    static let cases: [Case] = [
        Case(categorical: true, activations: [.tanh, .tanh], valueClip: nil, variant: .sb3),
        Case(categorical: true, activations: [.relu, .tanh], valueClip: 0.3, variant: .cleanrl, normalize: false),
        Case(categorical: true, activations: [.tanh], valueClip: 0.3, variant: .sb3),
        Case(categorical: false, activations: [.tanh, .tanh], valueClip: nil, variant: .sb3),
        Case(categorical: false, activations: [.relu, .relu, .tanh], valueClip: 0.2, variant: .cleanrl),
        Case(categorical: false, activations: [.tanh, .tanh], valueClip: nil, variant: .sb3, sde: .exp),
        Case(categorical: false, activations: [.relu], valueClip: 0.2, variant: .cleanrl, sde: .expln, fullStd: false),
    ]

    @Test("the fused actor-critic gradient equals autograd's on the composed losses", arguments: cases)
    func matchesAutograd(c: Case) throws {
        let g = Generator(seed: 21)
        let features = 5, actionWidth = 3, rollout = 40, hidden = 12
        // Networks: features → hidden (× activations) → head; biases on all but the first value layer.
        func network(outputs: Int, biasOnFirst: Bool) -> [(weight: Tensor, bias: Tensor?, activation: DenseActivation)] {
            var inputs = features
            var layers: [(weight: Tensor, bias: Tensor?, activation: DenseActivation)] = []
            for (i, activation) in (c.activations + [.identity]).enumerated() {
                let out = i == c.activations.count ? outputs : hidden
                let weight = (Tensor.randn([out, inputs], dtype: .float64, generator: g) * 0.5).requiringGrad()
                let bias = (i > 0 || biasOnFirst) ? (Tensor.randn([out], dtype: .float64, generator: g) * 0.1).requiringGrad() : nil
                layers.append((weight, bias, activation))
                inputs = out
            }
            return layers
        }
        let policy = network(outputs: actionWidth, biasOnFirst: true), value = network(outputs: 1, biasOnFirst: false)
        let logStd = (Tensor.randn(c.sde == nil ? [actionWidth] : [hidden, c.fullStd ? actionWidth : 1], dtype: .float64, generator: g)
            * (c.sde == nil ? 0.3 : 0.6)).requiringGrad()
        let observations = Tensor.randn([rollout, features], dtype: .float64, generator: g)
        let indices = Tensor.randperm(rollout, generator: g).narrow(dim: 0, start: 0, length: 24)
        let x = observations.indexSelect(dim: 0, index: indices)

        /// The policy's distribution on `input` through autograd (gSDE: σ from the detached last hidden features).
        func distribution(_ input: Tensor) -> PolicyDistribution {
            if let sde = c.sde {
                let phi = input.mlp(Array(policy.dropLast()))
                let std = stateDependentStandardDeviations(logStd: logStd, useExpln: sde == .expln, actionSize: actionWidth)
                return .stateDependent(StateDependentGaussian(mean: phi.mlp([policy.last!]), latent: phi.detach(), standardDeviations: std,
                                                              explorationMatrices: nil, squashed: false))
            }
            let head = input.mlp(policy)
            return c.categorical ? .categorical(Categorical(logits: head)) : .gaussian(DiagonalGaussian(mean: head, logStd: logStd))
        }
        let actions = withNoGrad {
            c.categorical ? Tensor.randint(0, actionWidth, shape: [rollout], generator: g)
                          : Tensor.randn([rollout, actionWidth], dtype: .float64, generator: g)
        }
        let batchActions = actions.indexSelect(dim: 0, index: indices)
        // Old log-probabilities around the current ones, so that ratios fall on both sides of the clip range.
        let current = withNoGrad { distribution(observations).logProb(actions) }
        let oldLogProbs = current + Tensor.randn([rollout], dtype: .float64, generator: g) * 0.4
        let advantages = Tensor.randn([rollout], dtype: .float64, generator: g) * 2
        let oldValues = withNoGrad { observations.mlp(value).squeezed(-1) + Tensor.randn([rollout], dtype: .float64, generator: g) * 0.4 }
        let returns = Tensor.randn([rollout], dtype: .float64, generator: g)
        let objective = PPOObjective(clipRange: 0.2, clipRangeValue: c.valueClip, normalizeAdvantages: c.normalize,
                                     entropyCoefficient: 0.01, valueCoefficient: 0.5, halvedMaximumValueLoss: c.variant == .cleanrl)

        // Autograd on the composed losses.
        let d = distribution(x)
        let v = x.mlp(value).squeezed(-1)
        let policyLoss = PPOPolicyLoss(logProbs: d.logProb(batchActions), oldLogProbs: oldLogProbs.indexSelect(dim: 0, index: indices),
                                       advantages: advantages.indexSelect(dim: 0, index: indices), clipLow: 0.2,
                                       normalizeAdvantages: c.normalize)
        let (valueLoss, valueClipFraction) = ppoValueLoss(
            values: v, oldValues: oldValues.indexSelect(dim: 0, index: indices), returns: returns.indexSelect(dim: 0, index: indices),
            clipRange: c.valueClip, variant: c.variant)
        let entropyLoss = -d.entropy()!.mean()
        let loss = policyLoss.loss + 0.01 * entropyLoss + 0.5 * valueLoss
        let parameters = (policy + value).flatMap { [$0.weight] + ($0.bias.map { [$0] } ?? []) } + (c.categorical ? [] : [logStd])
        let expected = gradients(of: [loss], withRespectTo: parameters)

        // The fused step, writing into gradient tensors that start out holding garbage.
        func withGradients(_ layers: [(weight: Tensor, bias: Tensor?, activation: DenseActivation)]) -> [DenseLayerWithGradients] {
            layers.map { DenseLayerWithGradients(weight: $0.weight, bias: $0.bias, weightGradient: Tensor.full($0.weight.shape, value: 7.0, dtype: .float64),
                                                 biasGradient: $0.bias.map { Tensor.full($0.shape, value: 7.0, dtype: .float64) },
                                                 activation: $0.activation) }
        }
        let fusedPolicy = withGradients(policy), fusedValue = withGradients(value)
        let logStdGradient = Tensor.full(logStd.shape, value: 7.0, dtype: .float64)
        let losses = try #require(ppoActorCriticGradients(
            policy: fusedPolicy, value: fusedValue, logStd: c.categorical ? nil : (logStd, logStdGradient), categorical: c.categorical,
            stateDependentNoise: c.sde,
            observations: observations, actions: actions, oldLogProbs: oldLogProbs, advantages: advantages, oldValues: oldValues,
            returns: returns, indices: indices, objective: objective))
        let actual = (fusedPolicy + fusedValue).flatMap { [$0.weightGradient] + ($0.biasGradient.map { [$0] } ?? []) }
            + (c.categorical ? [] : [logStdGradient])

        let tolerance = 1e-11
        expectClose([losses.loss, losses.policyLoss, losses.valueLoss, losses.entropyLoss],
                    [loss.item(Double.self), policyLoss.loss.item(Double.self), valueLoss.item(Double.self), entropyLoss.item(Double.self)],
                    atol: tolerance, "\(c) losses")
        expectClose([losses.approxKL, losses.clipFraction, losses.valueClipFraction],
                    [policyLoss.approxKL3, policyLoss.clipFractionRange, valueClipFraction], atol: tolerance, "\(c) diagnostics")
        #expect(losses.clipFraction > 0 && losses.clipFraction < 1, "\(c): both clipped and unclipped ratios")
        #expect(actual.count == expected.count)
        for (k, (a, e)) in zip(actual, expected).enumerated() {
            let reference = try #require(e, "\(c): no autograd gradient for parameter \(k)")
            expectClose(a, reference.doubles, atol: tolerance, rtol: 1e-9, "\(c) gradient of parameter \(k) \(a.shape)")
        }
    }

    @Test("tensors the kernel cannot take (mixed dtypes, wrong widths) are declined, not misread")
    func declines() {
        let g = Generator(seed: 1)
        let layer = { (o: Int, i: Int, dtype: DType) in
            DenseLayerWithGradients(weight: Tensor.randn([o, i], dtype: dtype, generator: g), bias: nil,
                                    weightGradient: Tensor.zeros([o, i], dtype: dtype), biasGradient: nil, activation: .tanh)
        }
        let objective = PPOObjective(clipRange: 0.2, clipRangeValue: nil, normalizeAdvantages: true, entropyCoefficient: 0,
                                     valueCoefficient: 0.5, halvedMaximumValueLoss: false)
        func attempt(policy: [DenseLayerWithGradients], value: [DenseLayerWithGradients], observations: Tensor) -> PPOLossValues? {
            ppoActorCriticGradients(policy: policy, value: value, logStd: nil, categorical: true, observations: observations,
                                    actions: Tensor.zeros([6], dtype: .int64), oldLogProbs: Tensor.zeros([6]), advantages: Tensor.zeros([6]),
                                    oldValues: Tensor.zeros([6]), returns: Tensor.zeros([6]), indices: Tensor(Array(0..<6)),
                                    objective: objective)
        }
        let x = Tensor.randn([6, 4], generator: g)
        #expect(attempt(policy: [layer(2, 4, .float32)], value: [layer(1, 4, .float32)], observations: x) != nil)
        #expect(attempt(policy: [layer(2, 4, .float64)], value: [layer(1, 4, .float32)], observations: x) == nil)
        #expect(attempt(policy: [layer(2, 5, .float32)], value: [layer(1, 4, .float32)], observations: x) == nil)
        #expect(attempt(policy: [layer(2, 4, .float32)], value: [layer(2, 4, .float32)], observations: x) == nil)
    }

    @Test("a fused rollout step samples what the policy's distribution samples (gSDE: with the policy's noise matrices)",
          arguments: ["CartPole-v1", "Pendulum-v1", "Pendulum-v1 gSDE", "Pendulum-v1 gSDE expln shared", "Pendulum-v1 gSDE one row"])
    func rolloutStep(name: String) throws {
        let env = String(name.split(separator: " ")[0])
        let environment = try Environments.Registry.make(env)
        var options = PolicyOptions()
        options.useSDE = name.contains("gSDE")
        options.logStdInit = -0.5
        options.stateDependentExploration.useExpln = name.contains("expln")
        options.stateDependentExploration.fullStd = !name.contains("shared")
        let policy = try MLPActorCritic(observationSize: environment.observationSpace.flatSize, actionSpace: environment.actionSpace,
                                        options: options, generator: Generator(seed: 4))
        let rows = name.contains("one row") ? 1 : 16
        policy.resetNoise(count: rows, generator: Generator(seed: 7))
        let observations = Tensor.randn([rows, environment.observationSpace.flatSize], generator: Generator(seed: 5))
        let step = try #require(policy.fusedRolloutStep())
        let fused = try #require(step(observations, Generator(seed: 6)))
        let (distribution, values) = withNoGrad { policy(observations) }
        let actions = distribution.sample(generator: Generator(seed: 6))
        if case .discrete = environment.actionSpace {
            #expect(fused.actions.equal(actions), "\(env) actions")
        } else {
            expectClose(fused.actions, actions.doubles, atol: 1e-5, "\(env) actions")
        }
        expectClose(fused.logProbs, distribution.logProb(fused.actions).doubles, atol: 1e-5, "\(env) log-probabilities")
        expectClose(fused.values, values.doubles, atol: 1e-5, "\(env) values")
        expectClose(fused.parameters, distribution.parameters.doubles, atol: 1e-5, "\(env) parameters")
        #expect(fused.actions.shape == actions.shape && fused.parameters.shape == distribution.parameters.shape)
    }
}
