import Environments
import FastKernels
import Foundation
import NeuralNetworks
import Testing
import TestSupport
import Torch
import Training
@testable import ReinforcementLearning

/// A short PPO configuration for CartPole that finishes in seconds.
func quickConfiguration(seed: UInt64 = 0) -> PPOConfiguration {
    var c = PPOConfiguration()
    c.environmentCount = 2
    c.rolloutSteps = 64
    c.minibatchSize = 64
    c.epochs = 2
    c.seed = seed
    return c
}

/// The RL Zoo settings for `algorithm` on `env` with `overrides`.
func zooConfiguration(_ algorithm: Algorithm, _ env: String, _ overrides: [String] = []) throws -> any OnPolicyConfiguration {
    try RunConfiguration.resolve(algorithm: algorithm, environment: env, overrides: overrides).algorithm
}

@Suite("On-policy training", .serialized)
struct TrainerTests {
    @Test("PPO(...).learn trains in memory: CartPole's mean return rises well above random within a short budget")
    func ppoLearns() throws {
        let configuration = try #require(try zooConfiguration(.ppo, "CartPole-v1") as? PPOConfiguration)
        let ppo = try PPO(configuration, environment: "CartPole-v1")
        let result = try ppo.learn(steps: 20480)
        #expect(result.outcome == .completed && result.steps == 20480 && result.updates == 80)
        // A uniformly random policy averages about 22 on CartPole.
        #expect((result.meanEpisodeReturn ?? 0) > 80, "mean return \(String(describing: result.meanEpisodeReturn))")
        let evaluation = try ppo.evaluate(episodes: 5, deterministic: true, seed: 7)
        #expect(evaluation.meanReturn > 80, "evaluation returns \(evaluation.returns)")
        // Sampled evaluation draws from its own generator: the same seed gives the same episodes.
        #expect(try ppo.evaluate(episodes: 3, deterministic: false, seed: 3) == (try ppo.evaluate(episodes: 3, deterministic: false, seed: 3)))
        #expect(ppo.act([0, 0, 0.05, 0]) == .discrete(1) || ppo.act([0, 0, 0.05, 0]) == .discrete(0))
    }

    @Test("every algorithm trains on a discrete and a continuous task and fills its run directory through the recorders",
          arguments: Algorithm.allCases)
    func allAlgorithms(algorithm: Algorithm) throws {
        for env in ["CartPole-v1", "Pendulum-v1"] {
            let minibatches = [.ppo, .mdpo].contains(algorithm) ? ["batch_size=32", "n_epochs=1"] : []
            let config = try RunConfiguration.resolve(algorithm: algorithm, environment: env,
                                                      overrides: ["n_envs=2", "n_steps=32", "n_timesteps=256"] + minibatches)
            let learner = try config.makeAlgorithm()
            let directory = RunDirectory(try temporaryDirectory())
            let result = try learner.learn(steps: config.totalSteps, recorders: directory.recorders(for: learner, checkpointInterval: 2, progress: false))
            #expect(result.steps == 256)
            try learner.save(to: directory.modelURL)
            for file in ["config.json", "run.json", "metrics.jsonl", "metrics.csv", "model.safetensors", "learning_curve.svg",
                         "checkpoints/checkpoint.safetensors"] {
                #expect(FileManager.default.fileExists(atPath: directory.url.appendingPathComponent(file).path), "\(algorithm) \(env): \(file)")
            }
            let metrics = try String(contentsOf: directory.url.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            #expect(metrics.contains("train/policy_loss") && metrics.contains("train/value_loss"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path).contains { $0.hasPrefix("events.out.tfevents") })
            #expect(try directory.configuration().algorithm.isEqual(to: config.algorithm))
        }
    }

    @Test("PPO through the fused actor-critic step, the fused loss and the composed losses ends at the same parameters",
          arguments: ["CartPole-v1", "Pendulum-v1"])
    func gradientPathsAgree(env: String) throws {
        func train(_ path: PPOGradientPath) throws -> [String: Tensor] {
            // The state-independent Gaussian (the fused step does not know gSDE; StateDependentExplorationTests compares
            // its paths).
            var configuration = try #require(try zooConfiguration(.ppo, env, [
                "n_envs=2", "n_steps=64", "batch_size=32", "n_epochs=2", "clip_range_vf=0.2", "ent_coef=0.01", "use_sde=false"]) as? PPOConfiguration)
            configuration.gradientPath = path
            let ppo = try PPO(configuration, environment: env)
            let directory = try temporaryDirectory()
            try ppo.learn(steps: 256, recorders: [MetricsRecorder(directory: directory, tensorBoard: false)])
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
                let rollout = try ppo.collector.collect(policy: ppo.policy, steps: 4, generator: Generator(seed: 0))
                let batch = TrainingBatch(rollout: rollout, advantages: Tensor.zeros([rollout.count]), returns: Tensor.zeros([rollout.count]),
                                          update: 1, totalUpdates: 1, step: 1)
                #expect(FusedActorCriticStep(policy: ppo.policy, optimization: ppo.optimization, batch: batch) != nil, "\(env)")
            }
            return ppo.policy.stateDict()
        }
        let fusedStep = try train(.fusedStep), fusedLoss = try train(.fusedLoss), composed = try train(.autograd)
        // Float32 rounding differs between the paths (the objective is computed in double, products in other orders),
        // so allow a small tolerance.
        for (name, t) in composed {
            expectClose(fusedLoss[name]!, t.doubles, atol: 1e-4, rtol: 1e-3, "\(env) fused loss \(name)")
            expectClose(fusedStep[name]!, t.doubles, atol: 1e-4, rtol: 1e-3, "\(env) fused step \(name)")
        }
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
            let ppo = try PPO(quickConfiguration(seed: seed), environment: "CartPole-v1")
            try ppo.learn(steps: 512)
            return ppo.policy.stateDict()
        }
        let a = try train(3), b = try train(3), c = try train(4)
        for (name, t) in a { #expect(t.equal(b[name]!), "\(name)") }
        #expect(a.contains { !$0.value.equal(c[$0.key]!) })
    }

    @Test("a run stopped by a callback, restored from its checkpoint into a new instance, finishes identically")
    func inMemoryResume() throws {
        let straight = try PPO(quickConfiguration(seed: 9), environment: "CartPole-v1")
        try straight.learn(steps: 1024)
        let url = try temporaryDirectory().appendingPathComponent("checkpoint.safetensors")
        // Stop after 3 of the 8 updates by a callback, with a checkpoint recorder keeping the state.
        final class StopAfter: OnPolicyCallback {
            let updates: Int
            init(_ updates: Int) { self.updates = updates }
            func updateDidEnd(_ algorithm: OnPolicyAlgorithm, metrics: inout [String: Double]) throws -> CallbackDecision {
                algorithm.updates == updates ? .stop(reason: "test") : .proceed
            }
        }
        let first = try PPO(quickConfiguration(seed: 9), environment: "CartPole-v1")
        let partial = try first.learn(steps: 1024, callbacks: [StopAfter(3)], recorders: [CheckpointRecorder(url: url, interval: 100)])
        #expect(partial.outcome == .stopped(reason: "test") && partial.updates == 3)
        let second = try PPO(quickConfiguration(seed: 9), environment: "CartPole-v1")
        try second.restore(checkpoint: url)
        #expect(second.updates == 3 && second.steps == 384)
        let finished = try second.continueLearning()
        #expect(finished.updates == 8 && finished.steps == 1024)
        for (name, t) in straight.policy.stateDict() { #expect(t.equal(second.policy.stateDict()[name]!), "\(name)") }
    }

    @Test("EvaluationCallback evaluates on its own environment and, with StopTrainingOnRewardThreshold, stops early")
    func evaluationCallback() throws {
        let configuration = try #require(try zooConfiguration(.ppo, "CartPole-v1") as? PPOConfiguration)
        let ppo = try PPO(configuration, environment: "CartPole-v1")
        let evaluation = EvaluationCallback(environment: { try Registry.make("CartPole-v1") }, frequency: 2048, episodes: 3,
                                            stopTraining: StopTrainingOnRewardThreshold(150))
        let directory = try temporaryDirectory()
        let result = try ppo.learn(steps: 100_000, callbacks: [evaluation], recorders: [MetricsRecorder(directory: directory, tensorBoard: false)])
        guard case .stopped(let reason) = result.outcome else { Issue.record("not stopped: \(result.outcome)"); return }
        #expect(reason.contains("reached the threshold 150"), "\(reason)")
        #expect(result.steps < 100_000 && !evaluation.evaluations.isEmpty)
        #expect((evaluation.bestMeanReturn ?? 0) >= 150 && evaluation.evaluations.last!.meanReturn >= 150)
        #expect(try String(contentsOf: directory.appendingPathComponent("metrics.jsonl"), encoding: .utf8).contains("eval/mean_reward"))
        // Evaluating does not disturb training: the same run without the callback reaches the same parameters.
        let plain = try PPO(configuration, environment: "CartPole-v1")
        try plain.learn(steps: 100_000, callbacks: [StopAtSteps(result.steps)])
        for (name, t) in ppo.policy.stateDict() { #expect(t.equal(plain.policy.stateDict()[name]!), "\(name)") }
    }

    @Test("episode and rollout callbacks see every finished episode; stopping there skips the pending update")
    func episodeCallbacks() throws {
        final class Episodes: OnPolicyCallback {
            var seen: [FinishedEpisode] = []
            var rollouts = 0
            func rolloutDidEnd(_ algorithm: OnPolicyAlgorithm, rollout: Rollout) throws -> CallbackDecision {
                rollouts += 1
                return .proceed
            }
            func episodeDidEnd(_ algorithm: OnPolicyAlgorithm, episode: FinishedEpisode) throws -> CallbackDecision {
                seen.append(episode)
                return seen.count == 30 ? .stop(reason: "30 episodes") : .proceed
            }
        }
        let ppo = try PPO(quickConfiguration(), environment: "CartPole-v1")
        let episodes = Episodes()
        let url = try temporaryDirectory().appendingPathComponent("checkpoint.safetensors")
        let result = try ppo.learn(steps: 100_000, callbacks: [episodes], recorders: [CheckpointRecorder(url: url, interval: 1)])
        #expect(result.outcome == .stopped(reason: "30 episodes"))
        // The checkpoint holds the state at the stop: the rollout collected, its update not made.
        let restored = try PPO(quickConfiguration(), environment: "CartPole-v1")
        try restored.restore(checkpoint: url)
        #expect(restored.steps == ppo.steps && restored.updates == ppo.updates && restored.steps == (ppo.updates + 1) * 128)
        #expect(restored.collector.observations == ppo.collector.observations)
        #expect(episodes.rollouts == result.updates + 1, "the rollout that ended in the stop was not trained on")
        #expect(episodes.seen.count == 30 && episodes.seen.allSatisfy { $0.length > 0 && $0.episodeReturn == Double($0.length) })
        #expect(ppo.collector.episodes.total >= 30)
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
        let run = try runProxima(common + ["--out", failed.path], environment: ["PROXIMA_TEST_FAIL_ALLOCATION_AT_STEP": "5"])
        #expect(run.reason == .exit && run.status == 2, "\(run.output)")
        #expect(run.output.contains("proxima: error: training update 5 of 16"), "\(run.output)")
        #expect(run.output.contains("can't allocate memory"), "\(run.output)")
        #expect(run.output.contains("CachingCPUAllocator"), "the command's allocator reports it: \(run.output)")
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
        let directory = RunDirectory(try temporaryDirectory())
        let ppo = try PPO(quickConfiguration(), environment: "CartPole-v1",
                          policy: Broken(inner: try MLPActorCritic(observationSize: 4, actionSpace: .discrete(n: 2))))
        let error = #expect(throws: TrainingError.self) {
            try ppo.learn(steps: 4096, recorders: directory.recorders(for: ppo, checkpointInterval: 2, progress: false))
        }
        #expect(error?.description.contains("non-finite loss") == true)
        let facts = try String(contentsOf: directory.url.appendingPathComponent("run.json"), encoding: .utf8)
        #expect(facts.contains("failed: non-finite loss"))
        // run.json counts the updates that finished, not the failed one.
        let failedStep = try #require(error?.description.split(separator: " ").drop { $0 != "step" }.dropFirst().first.flatMap { Int($0) })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(facts.utf8)) as? [String: Any])
        #expect(object["updates"] as? Int == failedStep - 1, "\(facts)")
        let checkpoint = try TrainingCheckpoint.read(from: directory.checkpointURL)
        #expect((checkpoint.counters["update"] ?? 0) >= 2)
        for (_, t) in checkpoint.model { #expect(t.isFinite().all().item(Bool.self)) }
    }

    @Test("normalisation statistics are saved with the model and frozen for evaluation")
    func normalizationSaved() throws {
        let configuration = try zooConfiguration(.ppo, "MountainCarContinuous-v0", ["n_envs=2", "n_steps=64", "batch_size=64", "n_epochs=1"])
        #expect(configuration.normalizeEnvironment)
        let ppo = try configuration.makeAlgorithm(environments: try VectorEnvironment(id: "MountainCarContinuous-v0", count: 2), policy: nil)
        try ppo.learn(steps: 256)
        let url = try temporaryDirectory().appendingPathComponent("model.safetensors")
        try ppo.save(to: url)
        let artifact = try PolicyArtifact.read(url)
        let saved = try #require(artifact.normalizer)
        #expect(saved == ppo.collector.observationNormalizer)
        #expect(artifact.algorithm == .ppo && artifact.environmentID == "MountainCarContinuous-v0" && artifact.actionSpace == ppo.environments.actionSpace)
        let a = try artifact.evaluate(episodes: 2, deterministic: true, seed: 0)
        #expect(artifact.normalizer == saved)
        #expect(a == (try ppo.evaluate(episodes: 2, deterministic: true, seed: 0)), "the reloaded policy acts as the trained one")
    }

    @Test("a custom environment and a custom policy train, save, load, evaluate, render and resume (docs/custom-environment.md)")
    func customEnvironmentAndPolicy() throws {
        Registry.register(EnvironmentSpec(id: "Corridor-v0", maxEpisodeSteps: 50, rewardThreshold: 1) { _ in Corridor() })
        PolicyRegistry.register(TinyPolicy.self)
        var configuration = PPOConfiguration()
        configuration.environmentCount = 4
        configuration.rolloutSteps = 64
        configuration.epochs = 4
        configuration.learningRate = 0.003
        configuration.gamma = 0.9
        let ppo = try PPO(configuration, environment: "Corridor-v0", policy: TinyPolicy(hidden: 16))
        let result = try ppo.learn(steps: 8192)
        // Walking straight right takes 5 steps; random walking rarely finishes within 50.
        let lengths = ppo.collector.episodes.lengths
        #expect(Double(lengths.suffix(20).reduce(0, +)) / 20 < 10, "recent episode lengths \(lengths.suffix(20))")
        #expect((result.meanEpisodeReturn ?? 0) > 0.9)

        // Saved and loaded back as a TinyPolicy (through PolicyRegistry), evaluated on the registered environment.
        let url = try temporaryDirectory().appendingPathComponent("corridor.safetensors")
        try ppo.save(to: url)
        let artifact = try PolicyArtifact.read(url)
        #expect((artifact.policy as? TinyPolicy)?.hidden == 16)
        #expect(try artifact.evaluate(episodes: 5, deterministic: true, seed: 0) == (try ppo.evaluate(episodes: 5, deterministic: true, seed: 0)))
        #expect(try artifact.recordEpisode(environment: CartPoleLike(), seed: 0, maxSteps: 3).count >= 2)

        // A run directory of the custom pair resumes from its checkpoint to the same end as a straight run.
        func run(stopAfter: Int?) throws -> (RunDirectory, OnPolicyAlgorithm) {
            let directory = RunDirectory(try temporaryDirectory())
            let learner = try PPO(configuration, environment: "Corridor-v0", policy: TinyPolicy(hidden: 16))
            try learner.learn(steps: 2048, callbacks: stopAfter.map { [StopAtSteps($0)] } ?? [],
                              recorders: directory.recorders(for: learner, checkpointInterval: 1, progress: false))
            return (directory, learner)
        }
        let (_, straight) = try run(stopAfter: nil)
        let (directory, _) = try run(stopAfter: 768)
        let resumed = try directory.resume()
        #expect(resumed.policy is TinyPolicy && resumed.steps == 768)
        try resumed.continueLearning(recorders: directory.recorders(for: resumed, checkpointInterval: 1, progress: false))
        for (name, t) in straight.policy.stateDict() { #expect(t.equal(resumed.policy.stateDict()[name]!), "\(name)") }
    }

    @Test("recorders attached to an algorithm that already trained in memory fill a fresh run directory that resumes")
    func recordersAfterInMemoryTraining() throws {
        let ppo = try PPO(quickConfiguration(seed: 2), environment: "CartPole-v1")
        try ppo.learn(steps: 512)
        let directory = RunDirectory(try temporaryDirectory())
        try ppo.learn(steps: 512, recorders: directory.recorders(for: ppo, checkpointInterval: 2, progress: false))
        let configuration = try directory.configuration()
        #expect(configuration.totalSteps == 1024 && configuration.policy == "MlpPolicy")
        let resumed = try directory.resume()
        #expect(resumed.steps == 1024 && resumed.updates == 8)
        for (name, t) in ppo.policy.stateDict() { #expect(t.equal(resumed.policy.stateDict()[name]!), "\(name)") }
    }

    @Test("a policy type that is not registered cannot be loaded, with a message saying how")
    func unregisteredPolicy() throws {
        final class Unsaved: Module, ActorCriticPolicy {
            let head = Linear(inputSize: 4, outputSize: 3)
            func callAsFunction(_ observations: Tensor) -> (distribution: PolicyDistribution, value: Tensor) {
                let out = head(observations)
                return (.categorical(Categorical(logits: out[.all, ..<2])), out[.all, 2])
            }
        }
        let ppo = try PPO(quickConfiguration(), environment: "CartPole-v1", policy: Unsaved())
        let url = try temporaryDirectory().appendingPathComponent("m.safetensors")
        try ppo.save(to: url)
        let error = #expect(throws: ConfigurationError.self) { try PolicyArtifact.read(url) }
        #expect(error?.description.contains("policy type 'Unsaved' is not registered") == true, "\(String(describing: error))")
        #expect(error?.description.contains("SavablePolicy") == true)
    }

    @Test("observations that are not flat vectors need a custom policy")
    func unsupportedObservations() throws {
        #expect(throws: ConfigurationError.self) {
            _ = try PPO(quickConfiguration(), makeEnvironment: { FrameStack(try Registry.make("CartPole-v1"), count: 2) })
        }
    }

    @Test("Ctrl-C writes a checkpoint and exits with 130; the resumed run ends with the same parameters")
    func interruptAndResume() throws {
        let common = Self.shortCheckpointedRun(totalSteps: 8192)
        let straight = try temporaryDirectory().appendingPathComponent("straight")
        #expect(try runProxima(common + ["--out", straight.path]).status == 0)

        let interrupted = try temporaryDirectory().appendingPathComponent("interrupted")
        let process = Process()
        process.executableURL = proximaExecutable
        process.arguments = common + ["--out", interrupted.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let checkpoint = interrupted.appendingPathComponent("checkpoints/checkpoint.safetensors")
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: checkpoint.path) && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationReason == .exit && process.terminationStatus == 130, "\(text)")
        #expect(text.contains("interrupted at step") && text.contains("--resume"), "\(text)")
        let facts = try String(contentsOf: interrupted.appendingPathComponent("run.json"), encoding: .utf8)
        #expect(facts.contains("\"interrupted\""), "\(facts)")
        let stoppedAt = try TrainingCheckpoint.read(from: checkpoint).counters["update"] ?? 0
        #expect(stoppedAt > 0 && stoppedAt < 64)

        let resumed = try runProxima(["train", "--resume", interrupted.path, "--threads", "1", "--eval-episodes", "0", "--quiet"])
        #expect(resumed.status == 0, "\(resumed.output)")
        let a = try SafeTensors.read(straight.appendingPathComponent("model.safetensors")).tensors
        let b = try SafeTensors.read(interrupted.appendingPathComponent("model.safetensors")).tensors
        for (name, t) in a { #expect(t.equal(b[name]!), "\(name) differs after resuming at update \(stoppedAt)") }
    }
}

/// Stops training once `steps` environment steps are done.
final class StopAtSteps: OnPolicyCallback {
    let steps: Int
    init(_ steps: Int) { self.steps = steps }
    func updateDidEnd(_ algorithm: OnPolicyAlgorithm, metrics: inout [String: Double]) throws -> CallbackDecision {
        algorithm.steps >= steps ? .stop(reason: "reached \(steps) steps") : .proceed
    }
}

/// Walk right along a line: reward 1 at the right end, which ends the episode (docs/custom-environment.md).
final class Corridor: Environment, SnapshotEnvironment {
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

    func snapshot() -> [Int64] { [Int64(position)] }
    func restore(from snapshot: inout ArraySlice<Int64>) throws {
        guard let first = snapshot.first else { throw EnvironmentError.invalidArgument("Corridor: empty snapshot") }
        position = Int(first)
        snapshot = snapshot.dropFirst()
    }
}

/// A shared trunk with a categorical head and a value head, rebuilt from its hidden width when loaded.
final class TinyPolicy: Module, SavablePolicy {
    let hidden: Int
    let trunk: Linear
    let logits: Linear
    let critic: Linear

    init(hidden: Int) {
        self.hidden = hidden
        trunk = Linear(inputSize: 1, outputSize: hidden, generator: Generator(seed: 1))
        logits = Linear(inputSize: hidden, outputSize: 2, generator: Generator(seed: 2))
        critic = Linear(inputSize: hidden, outputSize: 1, generator: Generator(seed: 3))
    }

    func callAsFunction(_ observations: Tensor) -> (distribution: PolicyDistribution, value: Tensor) {
        let h = trunk(observations).tanh()
        return (.categorical(Categorical(logits: logits(h))), critic(h).squeezed(-1))
    }

    static var policyName: String { "TinyPolicy" }
    var policyOptions: String { "{\"hidden\": \(hidden)}" }
    static func rebuild(observationSpace: Space, actionSpace: Space, options: String) throws -> TinyPolicy {
        let object = try JSONSerialization.jsonObject(with: Data(options.utf8)) as? [String: Int]
        return TinyPolicy(hidden: object?["hidden"] ?? 16)
    }
}

/// A one-dimensional environment that exposes its state, to render a TinyPolicy episode.
final class CartPoleLike: Environment, StatefulEnvironment {
    let id = "Line"
    let observationSpace = Space.box(low: 0, high: 1, shape: [1])
    let actionSpace = Space.discrete(n: 2)
    var state: [Double] = [0]
    func observation() -> [Float] { [Float(state[0])] }
    func reset(seed: UInt64?, options: [String: Double]) -> (observation: [Float], info: [String: Double]) {
        state = [0]
        return ([0], [:])
    }
    func step(_ action: Action) throws -> Step {
        state[0] += action == .discrete(1) ? 0.25 : 0
        return Step(observation: [Float(state[0])], reward: 0, terminated: state[0] >= 1, truncated: false)
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
            #expect(distribution.entropy()!.allClose(parts.map { $0.entropy() }.reduce(Tensor.zeros([5])) { $0 + $1 }))
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
        let actions = collector.environmentActions(Tensor([[5.0], [-0.5]] as [[Float]]), squashed: false)
        #expect(actions == [.continuous([2]), .continuous([-0.5])])
        // Squashed actions in [−1, 1] are scaled to the bounds instead.
        #expect(collector.environmentActions(Tensor([[1.0], [-0.5]] as [[Float]]), squashed: true) == [.continuous([2]), .continuous([-1])])
    }
}
