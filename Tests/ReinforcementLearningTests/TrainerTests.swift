import Environments
import FastKernels
import Foundation
import NeuralNetworks
import Testing
import TestSupport
import Torch
@testable import ReinforcementLearning

/// A short PPO configuration for CartPole that finishes in seconds.
func quickConfig(steps: Int = 2048, seed: UInt64 = 0) throws -> OnPolicyConfig {
    try OnPolicyConfig.resolve(algorithm: .ppo, env: "CartPole-v1",
                               overrides: ["n_envs=2", "n_steps=64", "batch_size=64", "n_epochs=2", "checkpoint_interval=2",
                                           "n_timesteps=\(steps)", "seed=\(seed)"])
}

@Suite("On-policy training", .serialized)
struct TrainerTests {
    @Test("PPO on CartPole improves the mean return well above random within a short budget")
    func ppoLearns() throws {
        let config = try OnPolicyConfig.resolve(algorithm: .ppo, env: "CartPole-v1", overrides: ["n_timesteps=20480"])
        let trainer = try OnPolicyTrainer(config: config, runDirectory: try temporaryDirectory())
        trainer.showProgress = false
        let summary = try trainer.train()
        // A uniformly random policy averages about 22 on CartPole.
        #expect(summary.meanEpisodeReturn > 80, "mean return \(summary.meanEpisodeReturn)")
        let artifact = try PolicyArtifact.read(trainer.modelURL)
        let returns = try artifact.evaluate(episodes: 5, deterministic: true, seed: 7)
        #expect(returns.reduce(0, +) / 5 > 80, "evaluation returns \(returns)")
    }

    @Test("every algorithm trains on a discrete and a continuous task and writes its run directory",
          arguments: [Algorithm.ppo, .a2c, .reinforce, .mdpo])
    func allAlgorithms(algorithm: Algorithm) throws {
        for env in ["CartPole-v1", "Pendulum-v1"] {
            let config = try OnPolicyConfig.resolve(algorithm: algorithm, env: env,
                                                    overrides: ["n_envs=2", "n_steps=32", "batch_size=32", "n_epochs=1", "n_timesteps=256"])
            let dir = try temporaryDirectory()
            let trainer = try OnPolicyTrainer(config: config, runDirectory: dir)
            trainer.showProgress = false
            let summary = try trainer.train()
            #expect(summary.steps == 256)
            for file in ["config.json", "run.json", "metrics.jsonl", "metrics.csv", "model.safetensors", "learning_curve.svg",
                         "checkpoints/checkpoint.safetensors"] {
                #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(file).path), "\(algorithm) \(env): \(file)")
            }
            let metrics = try String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            #expect(metrics.contains("train/policy_loss") && metrics.contains("train/value_loss"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).contains { $0.hasPrefix("events.out.tfevents") })
        }
    }

    @Test("PPO through the fused actor-critic step, the fused loss and the composed losses ends at the same parameters",
          arguments: ["CartPole-v1", "Pendulum-v1"])
    func gradientPathsAgree(env: String) throws {
        func train(_ path: PPOGradientPath) throws -> [String: Tensor] {
            var config = try OnPolicyConfig.resolve(algorithm: .ppo, env: env, overrides: [
                "n_envs=2", "n_steps=64", "batch_size=32", "n_epochs=2", "n_timesteps=256", "clip_range_vf=0.2", "ent_coef=0.01"])
            config.ppoGradients = path
            let directory = try temporaryDirectory()
            let trainer = try OnPolicyTrainer(config: config, runDirectory: directory)
            trainer.showProgress = false
            try trainer.train()
            // The metrics say which path ran: every minibatch of the fused paths took its kernel.
            let lines = try String(contentsOf: directory.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
                .split(separator: "\n").filter { $0.contains("train/fused_step_fraction") }
            #expect(!lines.isEmpty, "no update logged its gradient path")
            for line in lines {
                let step = line.contains("\"train/fused_step_fraction\":1"), loss = line.contains("\"train/fused_loss_fraction\":1")
                switch path {
                case .fusedStep: #expect(step && !loss, "\(env): \(line)")
                case .fusedLoss: #expect(!step && loss, "\(env): \(line)")
                case .autograd: #expect(!step && !loss, "\(env): \(line)")
                }
            }
            if path == .fusedStep {
                // The fused step applies to this policy (otherwise PPO would quietly have used autograd).
                let rollout = try trainer.collector.collect(policy: trainer.policy, steps: 4, generator: Generator(seed: 0))
                let batch = TrainingBatch(rollout: rollout, advantages: Tensor.zeros([rollout.count]), returns: Tensor.zeros([rollout.count]),
                                          progressRemaining: 1, update: 1, totalUpdates: 1)
                #expect(FusedActorCriticStep(policy: trainer.policy, optimization: trainer.optimization, batch: batch) != nil, "\(env)")
            }
            return trainer.policy.stateDict()
        }
        let fusedStep = try train(.fusedStep), fusedLoss = try train(.fusedLoss), composed = try train(.autograd)
        // Float32 rounding differs between the paths (the objective is computed in double, products in other orders),
        // so allow a small tolerance.
        for (name, t) in composed {
            expectClose(fusedLoss[name]!, t.doubles, atol: 1e-4, rtol: 1e-3, "\(env) fused loss \(name)")
            expectClose(fusedStep[name]!, t.doubles, atol: 1e-4, rtol: 1e-3, "\(env) fused step \(name)")
        }
    }

    @Test("a checkpoint written in the background reports a failed write once, at the next write or wait")
    func backgroundCheckpointFailure() throws {
        let writer = CheckpointWriter()
        let checkpoint = TrainingCheckpoint.capture(model: Linear(inputSize: 2, outputSize: 1))
        let missing = try temporaryDirectory().appendingPathComponent("no/such/directory/checkpoint.safetensors")
        try writer.write(checkpoint, to: missing)
        #expect(throws: (any Error).self) { try writer.wait() }
        try writer.wait()
        let good = try temporaryDirectory().appendingPathComponent("checkpoint.safetensors")
        try writer.write(checkpoint, to: good)
        try writer.wait()
        #expect(try TrainingCheckpoint.read(from: good).model.keys.sorted() == ["bias", "weight"])
    }

    @Test("one and two threads train to identical parameters")
    func threadCountDoesNotChangeResults() throws {
        func run(threads: Int) throws -> Data {
            let out = try temporaryDirectory().appendingPathComponent("t\(threads)")
            let result = try runProxima(["train", "ppo", "--env", "CartPole-v1", "--set", "n_envs=2", "--set", "n_steps=64",
                                         "--total-steps", "1024", "--seed", "3", "--threads", "\(threads)", "--eval-episodes", "0",
                                         "--quiet", "--out", out.path])
            #expect(result.status == 0, "\(result.output)")
            return try Data(contentsOf: out.appendingPathComponent("model.safetensors"))
        }
        #expect(try run(threads: 1) == run(threads: 2))
    }

    @Test("the same seed gives the same parameters; another seed different ones")
    func determinism() throws {
        func train(_ seed: UInt64) throws -> [String: Tensor] {
            let trainer = try OnPolicyTrainer(config: try quickConfig(steps: 512, seed: seed), runDirectory: try temporaryDirectory())
            trainer.showProgress = false
            try trainer.train()
            return trainer.policy.stateDict()
        }
        let a = try train(3), b = try train(3), c = try train(4)
        for (name, t) in a { #expect(t.equal(b[name]!), "\(name)") }
        #expect(a.contains { !$0.value.equal(c[$0.key]!) })
    }

    /// A short PPO CartPole run on one thread with a checkpoint every second update (128 steps per update).
    static func shortCheckpointedRun(totalSteps: Int) -> [String] {
        ["train", "ppo", "--env", "CartPole-v1", "--set", "n_envs=2", "--set", "n_steps=64", "--set", "batch_size=64",
         "--set", "n_epochs=2", "--set", "checkpoint_interval=2", "--total-steps", "\(totalSteps)", "--seed", "5",
         "--threads", "1", "--eval-episodes", "0", "--quiet"]
    }

    @Test("a killed run resumed from its checkpoint ends with the same parameters as an uninterrupted run")
    func killAndResume() throws {
        let common = Self.shortCheckpointedRun(totalSteps: 4096)
        let straight = try temporaryDirectory().appendingPathComponent("straight")
        #expect(try runProxima(common + ["--out", straight.path]).status == 0)

        let killed = try temporaryDirectory().appendingPathComponent("killed")
        let process = Process()
        process.executableURL = proximaExecutable
        process.arguments = common + ["--out", killed.path]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let checkpoint = killed.appendingPathComponent("checkpoints/checkpoint.safetensors")
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: checkpoint.path) && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        Thread.sleep(forTimeInterval: 0.2)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let partial = try TrainingCheckpoint.read(from: checkpoint).counters["update"] ?? 0
        #expect(partial > 0)

        let resumed = try runProxima(["train", "--resume", killed.path, "--threads", "1", "--eval-episodes", "0", "--quiet"])
        #expect(resumed.status == 0, "\(resumed.output)")
        let a = try SafeTensors.read(straight.appendingPathComponent("model.safetensors")).tensors
        let b = try SafeTensors.read(killed.appendingPathComponent("model.safetensors")).tensors
        #expect(Set(a.keys) == Set(b.keys))
        for (name, t) in a { #expect(t.equal(b[name]!), "\(name) differs after resume (killed at update \(partial))") }
        // The metrics of the resumed run have no repeated steps.
        let steps = try String(contentsOf: killed.appendingPathComponent("metrics.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().filter { $0.contains(",rollout/episodes,") }.map { $0.split(separator: ",")[0] }
        #expect(steps.count == Set(steps).count && steps.count == 32)
    }

    @Test("running out of memory inside an update is an error with exit code 2; the last checkpoint is intact and resumes to the same end")
    func outOfMemoryInsideAnUpdate() throws {
        let common = Self.shortCheckpointedRun(totalSteps: 2048)
        let straight = try temporaryDirectory().appendingPathComponent("straight")
        #expect(try runProxima(common + ["--out", straight.path]).status == 0)

        let failed = try temporaryDirectory().appendingPathComponent("failed")
        let run = try runProxima(common + ["--out", failed.path], environment: ["PROXIMA_TEST_FAIL_ALLOCATION_AT_UPDATE": "5"])
        #expect(run.reason == .exit && run.status == 2, "\(run.output)")
        #expect(run.output.contains("proxima: error: training update 5 of 16"), "\(run.output)")
        #expect(run.output.contains("can't allocate memory"), "\(run.output)")
        let checkpoint = try TrainingCheckpoint.read(from: failed.appendingPathComponent("checkpoints/checkpoint.safetensors"))
        #expect(checkpoint.counters["update"] == 4, "the checkpoint of update 4 is the run's state")
        let steps = try String(contentsOf: failed.appendingPathComponent("metrics.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().filter { $0.contains(",rollout/episodes,") }
        #expect(steps.count == 4, "nothing of the failed update was logged")

        let resumed = try runProxima(["train", "--resume", failed.path, "--threads", "1", "--eval-episodes", "0", "--quiet"])
        #expect(resumed.status == 0, "\(resumed.output)")
        let a = try SafeTensors.read(straight.appendingPathComponent("model.safetensors")).tensors
        let b = try SafeTensors.read(failed.appendingPathComponent("model.safetensors")).tensors
        for (name, t) in a { #expect(t.equal(b[name]!), "\(name) differs after resuming the failed run") }
    }

    @Test("a NaN loss stops training with a message and keeps the last good checkpoint")
    func nonFiniteLoss() throws {
        final class Broken: Module, ActorCriticPolicy {
            let inner: MLPActorCritic
            var calls = 0
            init(inner: MLPActorCritic) { self.inner = inner }
            func callAsFunction(_ observations: Tensor) -> (distribution: PolicyDistribution, value: Tensor) {
                calls += 1
                let (d, v) = inner(observations)
                // After a while the critic starts returning NaN during training.
                return (d, calls > 400 && isGradEnabled ? v * Double.nan : v)
            }
        }
        let dir = try temporaryDirectory()
        let trainer = try OnPolicyTrainer(config: try quickConfig(steps: 4096), runDirectory: dir, policy: Broken(inner: try MLPActorCritic(observationSize: 4, actionSpace: .discrete(n: 2))))
        trainer.showProgress = false
        let error = #expect(throws: TrainingError.self) { try trainer.train() }
        #expect(error?.description.contains("non-finite loss") == true)
        let facts = try String(contentsOf: dir.appendingPathComponent("run.json"), encoding: .utf8)
        #expect(facts.contains("failed: non-finite loss"))
        let checkpoint = try TrainingCheckpoint.read(from: dir.appendingPathComponent("checkpoints/checkpoint.safetensors"))
        #expect((checkpoint.counters["update"] ?? 0) >= 2)
        for (_, t) in checkpoint.model { #expect(t.isFinite().all().item(Bool.self)) }
    }

    @Test("normalisation statistics are saved with the model and frozen for evaluation")
    func normalizationSaved() throws {
        let config = try OnPolicyConfig.resolve(algorithm: .ppo, env: "Pendulum-v1", overrides: ["n_envs=2", "n_steps=64", "batch_size=64", "n_epochs=1", "n_timesteps=256"])
        #expect(config.normalize)
        let trainer = try OnPolicyTrainer(config: config, runDirectory: try temporaryDirectory())
        trainer.showProgress = false
        try trainer.train()
        let artifact = try PolicyArtifact.read(trainer.modelURL)
        let saved = try #require(artifact.normalizer)
        #expect(saved == trainer.collector.observationNormalizer)
        _ = try artifact.evaluate(episodes: 1, deterministic: true, seed: 0)
        #expect(artifact.normalizer == saved)
    }

    @Test("a custom environment and a custom policy network train through the same trainer")
    func customEnvironmentAndPolicy() throws {
        /// Walk right along a line: reward 1 at the right end, which terminates the episode.
        final class Corridor: Environment {
            let id = "Corridor"
            let observationSpace = Space.box(low: 0, high: 1, shape: [1])
            let actionSpace = Space.discrete(n: 2)
            var position = 0
            func reset(seed: UInt64?, options: [String: Double]) -> (observation: [Float], info: [String: Double]) {
                position = 0
                return ([0], [:])
            }
            func step(_ action: Action) throws -> Step {
                try validate(action)
                position = Swift.max(0, position + (action == .discrete(1) ? 1 : -1))
                return Step(observation: [Float(position) / 5], reward: position == 5 ? 1 : 0, terminated: position == 5, truncated: false)
            }
        }
        /// A tiny shared-trunk network written by hand.
        final class TinyPolicy: Module, ActorCriticPolicy {
            let trunk = Linear(inputSize: 1, outputSize: 16, generator: Generator(seed: 1))
            let logits = Linear(inputSize: 16, outputSize: 2, generator: Generator(seed: 2))
            let critic = Linear(inputSize: 16, outputSize: 1, generator: Generator(seed: 3))
            func callAsFunction(_ observations: Tensor) -> (distribution: PolicyDistribution, value: Tensor) {
                let h = trunk(observations).tanh()
                return (.categorical(Categorical(logits: logits(h))), critic(h).squeezed(-1))
            }
        }
        var config = OnPolicyConfig(algorithm: .ppo, env: "Corridor")
        try config.apply(overrides: ["n_envs=4", "n_steps=64", "batch_size=64", "n_epochs=4", "n_timesteps=8192", "learning_rate=0.003", "gamma=0.9"])
        let trainer = try OnPolicyTrainer(config: config, runDirectory: try temporaryDirectory(), policy: TinyPolicy(),
                                          makeEnvironment: { TimeLimit(Corridor(), maxEpisodeSteps: 50) })
        trainer.showProgress = false
        let summary = try trainer.train()
        // Walking straight right takes 5 steps; random walking rarely finishes within 50.
        let lengths = trainer.collector.episodeLengths
        #expect(lengths.suffix(20).reduce(0, +) / 20 < 10, "recent episode lengths \(lengths.suffix(20))")
        #expect(summary.meanEpisodeReturn > 0.9)
    }

    @Test("observations that are not flat vectors need a custom policy")
    func unsupportedObservations() throws {
        let config = try quickConfig()
        #expect(throws: ConfigurationError.self) {
            _ = try OnPolicyTrainer(config: config, runDirectory: try temporaryDirectory(),
                                    makeEnvironment: { FrameStack(try Registry.make("CartPole-v1"), count: 2) })
        }
    }
}

@Suite("Normalisation wrappers in checkpoints")
struct WrapperCheckpointTests {
    @Test("NormalizeObservation statistics survive a checkpoint and, frozen, normalise identically")
    func wrapperStatistics() throws {
        let env = NormalizeObservation(try Registry.make("CartPole-v1"))
        _ = env.reset(seed: 1)
        for i in 0..<200 {
            let step = try env.step(.discrete(i % 2))
            if step.terminated || step.truncated { _ = env.reset() }
        }
        let url = try temporaryDirectory().appendingPathComponent("c.safetensors")
        try TrainingCheckpoint(model: [:], extra: ["obs_rms": env.statistics.tensor]).write(to: url)

        let restored = NormalizeObservation(try Registry.make("CartPole-v1"))
        restored.statistics = try RunningMeanStd(tensor: try #require(TrainingCheckpoint.read(from: url).extra["obs_rms"]))
        #expect(restored.statistics == env.statistics)
        env.isFrozen = true
        restored.isFrozen = true
        #expect(env.reset(seed: 9).observation == restored.reset(seed: 9).observation)
        #expect(try env.step(.discrete(1)).observation == restored.step(.discrete(1)).observation)
        #expect(restored.statistics == env.statistics)
        #expect(throws: EnvironmentError.self) { try RunningMeanStd(tensor: Tensor([1.0, 2.0] as [Double])) }
    }
}

@Suite("Policies for every action space")
struct PolicyTests {
    @Test("MultiDiscrete and MultiBinary heads: one categorical per component, log-probs and entropies summed")
    func multiDiscrete() throws {
        for space in [Space.multiDiscrete(nvec: [3, 2]), .multiBinary(n: 3)] {
            let policy = try MLPActorCritic(observationSize: 4, actionSpace: space, generator: Generator(seed: 0))
            let obs = Tensor.randn([5, 4], generator: Generator(seed: 1))
            let (distribution, value) = policy(obs)
            #expect(value.shape == [5])
            guard case .multiCategorical(let parts) = distribution else { Issue.record("\(space): not multi-categorical"); continue }
            let actions = distribution.sample(generator: Generator(seed: 2))
            #expect(actions.shape == [5, space.flatSize])
            let expected = parts.enumerated().map { $0.element.logProb(actions[.all, $0.offset]) }.reduce(Tensor.zeros([5])) { $0 + $1 }
            #expect(distribution.logProb(actions).allClose(expected))
            #expect(distribution.entropy().allClose(parts.map { $0.entropy() }.reduce(Tensor.zeros([5])) { $0 + $1 }))
            let rebuilt = distribution.sameFamily(parameters: distribution.parameters)
            #expect(rebuilt.logProb(actions).allClose(distribution.logProb(actions), atol: 1e-6))
            #expect(distribution.kl(to: rebuilt).abs().max().item(Double.self) < 1e-6)
        }
    }

    @Test("a Gaussian head keeps a state-independent log-std; sampled Box actions are clipped only on the way to the env")
    func gaussian() throws {
        let policy = try MLPActorCritic(observationSize: 3, actionSpace: .box(low: -2, high: 2, shape: [1]), options: {
            var o = PolicyOptions(); o.logStdInit = -0.5; return o }(), generator: Generator(seed: 0))
        #expect(policy.namedParameters().map(\.0).contains("log_std"))
        guard case .gaussian(let d) = policy(Tensor.zeros([4, 3])).distribution else { Issue.record("not Gaussian"); return }
        #expect(d.logStd.floats == [-0.5, -0.5, -0.5, -0.5])
        let vector = try VectorEnvironment(id: "Pendulum-v1", count: 2)
        let collector = RolloutCollector(environments: vector, normalize: false, gamma: 0.9)
        let actions = collector.environmentActions(Tensor([[5.0], [-0.5]] as [[Float]]))
        #expect(actions == [.continuous([2]), .continuous([-0.5])])
    }
}
