import Environments
import Foundation
import NeuralNetworks
import Testing
import TestSupport
import Torch
@testable import ReinforcementLearning

/// gSDE (docs/gsde.md): the distribution against its definition in float64, gradients by finite
/// differences, the noise's behaviour, the policy, the collector's resampling, the PPO paths and the settings.
@Suite("gSDE: generalized state-dependent exploration")
struct StateDependentExplorationTests {
    static let latentSize = 3, actionSize = 2, batch = 4

    /// log S values of both signs (expln treats them differently), away from 0 where expln has its kink.
    static let logStdValues: [Double] = [-0.7, 0.4, 0.9, -1.3, 0.2, -0.1]

    struct Inputs {
        let mean: Tensor, latent: Tensor, logStd: Tensor, actions: Tensor
    }

    static func inputs(fullStd: Bool, squashed: Bool) -> Inputs {
        let g = Generator(seed: 11)
        let mean = Tensor.randn([batch, actionSize], dtype: .float64, generator: g) * 0.5
        let latent = Tensor.randn([batch, latentSize], dtype: .float64, generator: g)
        let values = fullStd ? logStdValues : Array(logStdValues.prefix(latentSize))
        let logStd = Tensor(values, shape: [latentSize, fullStd ? actionSize : 1])
        let raw = Tensor.randn([batch, actionSize], dtype: .float64, generator: g)
        return Inputs(mean: mean, latent: latent, logStd: logStd, actions: squashed ? (raw * 0.8).tanh() : raw)
    }

    /// S_kj from log S by the definition (eˢ; expln: eˢ for s ≤ 0, log(1 + s) + 1 above), broadcast over actions.
    static func standardDeviations(_ logStd: [Double], fullStd: Bool, expln: Bool) -> [[Double]] {
        (0..<latentSize).map { k in
            (0..<actionSize).map { j in
                let s = logStd[fullStd ? k * actionSize + j : k]
                return expln ? (s <= 0 ? Foundation.exp(s) : Foundation.log(1 + s) + 1) : Foundation.exp(s)
            }
        }
    }

    /// Log-density and entropy per row from the definition, in Double.
    static func reference(_ x: Inputs, fullStd: Bool, expln: Bool, squashed: Bool) -> (logProb: [Double], entropy: [Double]) {
        let s = standardDeviations(x.logStd.doubles, fullStd: fullStd, expln: expln)
        let mu = x.mean.doubles, phi = x.latent.doubles, a = x.actions.doubles
        var logProbs: [Double] = [], entropies: [Double] = []
        for b in 0..<batch {
            var logProb = 0.0, entropy = 0.0
            for j in 0..<actionSize {
                var variance = 1e-6
                for k in 0..<latentSize { variance += phi[b * latentSize + k] * phi[b * latentSize + k] * s[k][j] * s[k][j] }
                let action = a[b * actionSize + j]
                let u = squashed ? Foundation.atanh(Swift.min(Swift.max(action, -1 + Double(Float.ulpOfOne)), 1 - Double(Float.ulpOfOne))) : action
                let d = u - mu[b * actionSize + j]
                logProb += -d * d / (2 * variance) - 0.5 * Foundation.log(2 * Double.pi * variance)
                if squashed { logProb -= Foundation.log(1 - Foundation.tanh(u) * Foundation.tanh(u) + 1e-6) }
                entropy += 0.5 * Foundation.log(2 * Double.pi * M_E * variance)
            }
            logProbs.append(logProb)
            entropies.append(entropy)
        }
        return (logProbs, entropies)
    }

    static func distribution(_ x: Inputs, mean: Tensor? = nil, logStd: Tensor? = nil, expln: Bool, squashed: Bool) -> StateDependentGaussian {
        let std = stateDependentStandardDeviations(logStd: logStd ?? x.logStd, useExpln: expln, actionSize: actionSize)
        return StateDependentGaussian(mean: mean ?? x.mean, latent: x.latent, standardDeviations: std, explorationMatrices: nil,
                                      squashed: squashed)
    }

    static let variants: [(fullStd: Bool, expln: Bool, squashed: Bool)] = [
        (true, false, false), (false, false, false), (true, true, false), (false, true, true), (true, false, true),
    ]

    @Test("log-density and entropy equal the definition in float64 (full_std, use_expln, squash_output)",
          arguments: variants.indices)
    func densityMatchesDefinition(variant: Int) {
        let (fullStd, expln, squashed) = Self.variants[variant]
        let x = Self.inputs(fullStd: fullStd, squashed: squashed)
        let d = Self.distribution(x, expln: expln, squashed: squashed)
        let want = Self.reference(x, fullStd: fullStd, expln: expln, squashed: squashed)
        expectClose(d.logProb(x.actions), want.logProb, atol: 1e-10, "log-prob, variant \(variant)")
        if squashed {
            #expect(d.entropy == nil, "a squashed Gaussian has no closed-form entropy")
            // The trainers' stand-in: −log π of the taken actions.
            let policyDistribution = PolicyDistribution.stateDependent(d)
            expectClose(policyDistribution.entropy(estimatedFrom: d.logProb(x.actions)), want.logProb.map { -$0 }, atol: 1e-10, "estimate")
        } else {
            expectClose(try! #require(d.entropy), want.entropy, atol: 1e-10, "entropy, variant \(variant)")
        }
    }

    @Test("gradients of log-density and entropy in the mean and log S match central finite differences (float64)",
          arguments: variants.indices)
    func gradientsMatchFiniteDifferences(variant: Int) {
        let (fullStd, expln, squashed) = Self.variants[variant]
        let x = Self.inputs(fullStd: fullStd, squashed: squashed)
        func objective(_ mean: Tensor, _ logStd: Tensor) -> Tensor {
            let d = Self.distribution(x, mean: mean, logStd: logStd, expln: expln, squashed: squashed)
            let logProb = d.logProb(x.actions)
            return (logProb * Tensor([0.3, -1.1, 0.7, 0.5] as [Double])).sum() + (d.entropy.map { 0.4 * $0.sum() } ?? Tensor(0.0))
        }
        let mean = x.mean.clone().requiringGrad(), logStd = x.logStd.clone().requiringGrad()
        let analytic = gradients(of: [objective(mean, logStd)], withRespectTo: [mean, logStd])
        for (index, (tensor, gradient)) in [(x.mean, analytic[0]!), (x.logStd, analytic[1]!)].enumerated() {
            let base = tensor.doubles, h = 1e-6
            var numeric: [Double] = []
            for i in base.indices {
                var plus = base, minus = base
                plus[i] += h
                minus[i] -= h
                let up = Tensor(plus, shape: tensor.shape), down = Tensor(minus, shape: tensor.shape)
                let f = { (t: Tensor) -> Double in
                    (index == 0 ? objective(t, x.logStd) : objective(x.mean, t)).item(Double.self)
                }
                numeric.append((f(up) - f(down)) / (2 * h))
            }
            expectClose(gradient, numeric, atol: 1e-6, "variant \(variant), \(index == 0 ? "mean" : "log S")")
        }
    }

    @Test("samples are μ + φ·E: the same noise matrices give the same noise for the same state, new ones another")
    func noiseFollowsTheMatrices() throws {
        let x = Self.inputs(fullStd: true, squashed: false)
        let std = stateDependentStandardDeviations(logStd: x.logStd, useExpln: false, actionSize: Self.actionSize)
        let matrices = std * Tensor.randn([Self.batch, Self.latentSize, Self.actionSize], dtype: .float64, generator: Generator(seed: 3))
        let d = StateDependentGaussian(mean: x.mean, latent: x.latent, standardDeviations: std, explorationMatrices: matrices, squashed: false)
        let sample = d.sample(generator: Generator(seed: 1))
        // Row b's noise is φ_b · E_b, whatever the generator.
        var expected: [Double] = []
        let phi = x.latent.doubles, e = matrices.doubles, mu = x.mean.doubles
        for b in 0..<Self.batch {
            for j in 0..<Self.actionSize {
                var noise = 0.0
                for k in 0..<Self.latentSize { noise += phi[b * Self.latentSize + k] * e[(b * Self.latentSize + k) * Self.actionSize + j] }
                expected.append(mu[b * Self.actionSize + j] + noise)
            }
        }
        expectClose(sample, expected, atol: 1e-12, "μ + φ·E")
        #expect(sample.equal(d.sample(generator: Generator(seed: 99))), "the noise is fixed between resamplings")
        // One shared matrix for every row.
        let shared = StateDependentGaussian(mean: x.mean, latent: x.latent, standardDeviations: std,
                                            explorationMatrices: matrices[0], squashed: true)
        expectClose(shared.sample(generator: nil), (x.mean + x.latent.matmul(matrices[0])).tanh().doubles, atol: 1e-12, "tanh(μ + φ·E₀)")
        #expect(shared.mode().equal(x.mean.tanh()))
    }

    @Test("a gSDE MlpPolicy: log_std is [latent, actions] (or [latent, 1]), the noise is redrawn by resetNoise only, squashed actions stay in [−1, 1]")
    func policy() throws {
        var options = PolicyOptions()
        options.useSDE = true
        options.logStdInit = -1
        let space = Space.box(low: -2, high: 2, shape: [2])
        let full = try MLPActorCritic(observationSize: 3, actionSpace: space, options: options, generator: Generator(seed: 0))
        #expect(full.logStd?.shape == [64, 2] && full.logStd?.doubles.allSatisfy { $0 == -1 } == true)
        options.stateDependentExploration.fullStd = false
        options.stateDependentExploration.squashOutput = true
        let squashed = try MLPActorCritic(observationSize: 3, actionSpace: space, options: options, generator: Generator(seed: 0))
        #expect(squashed.logStd?.shape == [64, 1] && squashed.squashesActions && !full.squashesActions)
        let observations = Tensor.randn([5, 3], generator: Generator(seed: 1))
        full.resetNoise(count: 5, generator: Generator(seed: 2))
        let first = full(observations).distribution.sample(generator: nil)
        #expect(first.equal(full(observations).distribution.sample(generator: nil)), "no new noise without resetNoise")
        full.resetNoise(count: 5, generator: Generator(seed: 3))
        #expect(!first.equal(full(observations).distribution.sample(generator: nil)), "resetNoise draws new matrices")
        squashed.resetNoise(count: 5, generator: Generator(seed: 2))
        let actions = squashed(observations * 50).distribution.sample(generator: nil)
        #expect(actions.abs().max().item(Double.self) <= 1)
        // Discrete actions cannot use gSDE; squashing needs it.
        var discrete = PolicyOptions()
        discrete.useSDE = true
        #expect(throws: ConfigurationError.self) { try MLPActorCritic(observationSize: 3, actionSpace: .discrete(n: 2), options: discrete) }
        var squashOnly = PolicyOptions()
        squashOnly.stateDependentExploration.squashOutput = true
        #expect(throws: ConfigurationError.self) { try MLPActorCritic(observationSize: 3, actionSpace: space, options: squashOnly) }
    }

    /// Counts the collector's noise resets.
    final class CountingPolicy: Module, StateDependentExplorer {
        let inner: MLPActorCritic
        var resets: [Int] = []
        init(_ inner: MLPActorCritic) {
            self.inner = inner
            super.init()
        }
        override func namedChildren() -> [(String, Any)] { [("inner", inner)] }
        var usesStateDependentExploration: Bool { true }
        func resetNoise(count: Int, generator: Generator?) {
            resets.append(count)
            inner.resetNoise(count: count, generator: generator)
        }
        func callAsFunction(_ observations: Tensor) -> (distribution: PolicyDistribution, value: Tensor) { inner(observations) }
    }

    @Test("the collector redraws the noise at each rollout's start and every sde_sample_freq steps", arguments: [-1, 4, 1])
    func resampling(frequency: Int) throws {
        var options = PolicyOptions()
        options.useSDE = true
        let policy = CountingPolicy(try MLPActorCritic(observationSize: 3, actionSpace: .box(low: -2, high: 2, shape: [1]), options: options,
                                                       generator: Generator(seed: 0)))
        let collector = RolloutCollector(environments: try VectorEnvironment(id: "Pendulum-v1", count: 3), normalize: false, gamma: 0.9)
        collector.reset(seed: 0)
        _ = try collector.collect(policy: policy, steps: 10, generator: Generator(seed: 1), sdeSampleFrequency: frequency)
        let expected = frequency > 0 ? (10 + frequency - 1) / frequency : 1
        #expect(policy.resets == Array(repeating: 3, count: expected), "one matrix per environment, \(expected) draws")
    }

    @Test("PPO with gSDE: the fused step, the fused loss and the composed losses end at the same parameters, and each ran",
          arguments: ["unsquashed", "squashed"])
    func ppoPathsAgree(variant: String) throws {
        let squashed = variant == "squashed"
        func train(_ path: PPOGradientPath) throws -> (state: [String: Tensor], fractions: (step: Double, loss: Double)) {
            var configuration = try #require(try zooConfiguration(.ppo, "Pendulum-v1", [
                "n_envs=2", "n_steps=64", "batch_size=32", "n_epochs=2", "ent_coef=0.01",
                "policy_kwargs={\"squash_output\": \(squashed)}"]) as? PPOConfiguration)
            #expect(configuration.useSDE && configuration.sdeSampleFrequency == 4, "RL Zoo's Pendulum entry")
            configuration.gradientPath = path
            let ppo = try PPO(configuration, environment: "Pendulum-v1")
            final class Recorder: OnPolicyCallback {
                var fractions: [(Double, Double)] = []
                func updateDidEnd(_ algorithm: OnPolicyAlgorithm, metrics: inout [String: Double]) throws -> CallbackDecision {
                    fractions.append((metrics["train/fused_step_fraction"] ?? -1, metrics["train/fused_loss_fraction"] ?? -1))
                    return .proceed
                }
            }
            let recorder = Recorder()
            try ppo.learn(steps: 256, callbacks: [recorder])
            #expect(recorder.fractions.count == 2)
            let step = recorder.fractions.map(\.0).min() ?? -1, loss = recorder.fractions.map(\.1).min() ?? -1
            return (ppo.policy.stateDict(), (step, loss))
        }
        let fusedStep = try train(.fusedStep), fusedLoss = try train(.fusedLoss), composed = try train(.autograd)
        if squashed {
            // The fused kernels do not know tanh's correction: every path is the composed losses.
            #expect(fusedStep.fractions == (0, 0) && fusedLoss.fractions == (0, 0), "squashed: composed losses")
        } else {
            #expect(fusedStep.fractions == (1, 0), "every minibatch took the fused step")
            #expect(fusedLoss.fractions == (0, 1), "every minibatch took the fused loss")
        }
        #expect(composed.fractions == (0, 0))
        for (name, tensor) in composed.state {
            expectClose(try #require(fusedStep.state[name]), tensor.doubles, atol: 2e-5, "\(variant) fused step: \(name)")
            expectClose(try #require(fusedLoss.state[name]), tensor.doubles, atol: 2e-5, "\(variant) fused loss: \(name)")
        }
    }

    @Test("a2c with squash_output trains and its saved policy reloads with the same gSDE shape and actions")
    func squashedA2CRoundTrip() throws {
        let configuration = try zooConfiguration(.a2c, "MountainCarContinuous-v0", [
            "n_envs=2", "n_steps=16", "policy_kwargs={\"squash_output\": true, \"use_expln\": true, \"full_std\": false}"])
        #expect(configuration.useSDE && configuration.sdeSampleFrequency == 16, "RL Zoo's MountainCarContinuous entry")
        let a2c = try configuration.makeAlgorithm(environments: try VectorEnvironment(id: "MountainCarContinuous-v0", count: 2), policy: nil)
        let before = a2c.policy.stateDict()["log_std"]!.clone()
        try a2c.learn(steps: 320)
        #expect(!a2c.policy.stateDict()["log_std"]!.equal(before), "log S trains")
        let url = try temporaryDirectory().appendingPathComponent("model.safetensors")
        try a2c.save(to: url)
        let artifact = try PolicyArtifact.read(url)
        let reloaded = try #require(artifact.policy as? MLPActorCritic)
        #expect(reloaded.options == (a2c.policy as! MLPActorCritic).options && reloaded.squashesActions)
        #expect(reloaded.logStd?.shape == [64, 1])
        #expect(try artifact.evaluate(episodes: 1, deterministic: true, seed: 0) == (try a2c.evaluate(episodes: 1, deterministic: true, seed: 0)))
    }

    @Test("learning smoke: A2C with RL Zoo's gSDE entry reaches MountainCarContinuous' flag (≥ 90) within 40k steps (the full table: bench learn --sb3-zoo)")
    func learningSmoke() throws {
        let config = try RunConfiguration.resolve(algorithm: .a2c, environment: "MountainCarContinuous-v0",
                                                  overrides: ["seed=0", "n_timesteps=40000"])
        #expect(config.algorithm.useSDE)
        let learner = try config.makeAlgorithm()
        try learner.learn(steps: config.totalSteps)
        let result = try learner.evaluate(episodes: 3, deterministic: true, seed: 1_000_000)
        #expect(result.meanReturn >= 90, "deterministic return \(result.returns)")
    }

    @Test("settings: use_sde and sde_sample_freq at the top level, the gSDE policy_kwargs, and clear errors")
    func settings() throws {
        var ppo = PPOConfiguration()
        try ppo.set("use_sde", true, source: "test")
        try ppo.set("sde_sample_freq", 8.0, source: "test")
        try ppo.set("policy_kwargs", ["full_std": false, "use_expln": true, "learn_features": true, "log_std_init": -2.0], source: "test")
        #expect(ppo.useSDE && ppo.sdeSampleFrequency == 8 && ppo.policy.useSDE)
        #expect(!ppo.policy.stateDependentExploration.fullStd && ppo.policy.stateDependentExploration.useExpln
                && ppo.policy.stateDependentExploration.learnFeatures)
        let saved = ppo.fileSettings
        #expect(saved["use_sde"] as? Bool == true && saved["sde_sample_freq"] as? Int == 8)
        var squash = PPOConfiguration()
        try squash.set("policy_kwargs", ["squash_output": true], source: "test")
        let error = #expect(throws: ConfigurationError.self) { try squash.validate() }
        #expect(error?.description.contains("squash_output needs use_sde") == true)
        let wrong = #expect(throws: ConfigurationError.self) { try ppo.set("policy_kwargs", ["full_std": 1.5], source: "f.yml line 3") }
        #expect(wrong?.description.contains("f.yml line 3") == true)
        var mdpo = MDPOConfiguration()
        try mdpo.set("use_sde", true, source: "test")
        try mdpo.set("policy_kwargs", ["squash_output": true], source: "test")
        #expect(throws: ConfigurationError.self) { try mdpo.validate() }
    }
}
