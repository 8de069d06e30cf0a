import Environments
import FastKernels
import Foundation
import NeuralNetworks
import Torch
import Tracking

/// What a finished (or resumed and finished) run reports.
public struct TrainingSummary: Sendable {
    public var runDirectory: URL
    public var steps: Int
    public var updates: Int
    public var seconds: Double
    /// Mean return of the last (up to 100) training episodes.
    public var meanEpisodeReturn: Double
    public var episodes: Int
    public var learningCurve: URL
}

/// Trains a policy with one of the on-policy algorithms: collect a rollout from a vector environment, compute
/// advantages (GAE with truncation bootstrap), let the algorithm update, log, checkpoint — the loop all four share.
///
/// A run directory holds `config.json` (resolved hyperparameters), `run.json` (seed, threads, versions, status),
/// `metrics.jsonl` / `metrics.csv` / TensorBoard events, `checkpoints/checkpoint.safetensors` (complete state, for
/// `--resume`), `model.safetensors` (final policy and normalisation statistics) and `learning_curve.svg`.
public final class OnPolicyTrainer {
    public let config: OnPolicyConfig
    public let runDirectory: URL
    public let policy: ActorCriticPolicy
    public var optimizer: Optimizer { optimization.optimizer }
    let optimization: Optimization
    public let collector: RolloutCollector
    let sampleGenerator: Generator
    let shuffleGenerator: Generator
    /// Updates already done (non-zero after a resume).
    public private(set) var update = 0
    public private(set) var steps = 0
    var curve: [(x: Double, y: Double)] = []
    /// Print progress (a live line on terminals, plain lines otherwise).
    public var showProgress = true
    let checkpointWriter = CheckpointWriter()

    var checkpointURL: URL { runDirectory.appendingPathComponent("checkpoints/checkpoint.safetensors") }
    public var modelURL: URL { runDirectory.appendingPathComponent("model.safetensors") }

    /// - Parameters:
    ///   - policy: your own network; nil builds `MLPActorCritic` from `policy_kwargs`.
    ///   - makeEnvironment: your own environment factory; nil uses the registry's `config.env`.
    public init(config: OnPolicyConfig, runDirectory: URL, policy: ActorCriticPolicy? = nil,
                makeEnvironment: (() throws -> Environment)? = nil) throws {
        try config.validate()
        self.config = config
        self.runDirectory = runDirectory
        let make = makeEnvironment ?? { try Registry.make(config.env) }
        let vector = VectorEnvironment(try (0..<config.nEnvs).map { _ in RecordEpisodeStatistics(try make()) })
        if policy == nil, case .box(_, _, let shape, _) = vector.observationSpace, shape.count != 1 {
            throw ConfigurationError("\(config.env): observations of shape \(shape) need a custom policy (MLPActorCritic takes flat vectors)")
        }
        collector = RolloutCollector(environments: vector, normalize: config.normalize, gamma: config.gamma)
        self.policy = try policy ?? MLPActorCritic(observationSize: vector.observationSize, actionSpace: vector.actionSpace,
                                                  options: config.policyKwargs, generator: Generator(seed: config.seed))
        let lr = config.learningRate.initial
        optimization = Optimization(policy: self.policy) { parameters in
            if config.algorithm == .a2c && config.useRmsProp {
                return RMSprop(parameters: parameters, learningRate: lr, alpha: 0.99, eps: config.rmsPropEps)
            }
            return Adam(parameters: parameters, learningRate: lr, eps: config.adamEps)
        }
        sampleGenerator = Generator(seed: config.seed &+ 1)
        shuffleGenerator = Generator(seed: config.seed &+ 2)
        collector.reset(seed: config.seed)
    }

    /// Continues the run in `runDirectory` from its last checkpoint.
    public static func resume(runDirectory: URL, makeEnvironment: (() throws -> Environment)? = nil) throws -> OnPolicyTrainer {
        let config = try loadConfig(runDirectory)
        let trainer = try OnPolicyTrainer(config: config, runDirectory: runDirectory, makeEnvironment: makeEnvironment)
        try trainer.restoreCheckpoint()
        return trainer
    }

    static func loadConfig(_ runDirectory: URL) throws -> OnPolicyConfig {
        let url = runDirectory.appendingPathComponent("config.json")
        guard let data = try? Data(contentsOf: url) else { throw ConfigurationError("\(url.path): no config.json (is this a run directory?)") }
        do { return try JSONDecoder().decode(OnPolicyConfig.self, from: data) } catch {
            throw ConfigurationError("\(url.path): unreadable config: \(error)")
        }
    }

    // MARK: Training

    /// Runs the remaining updates and writes the final model and learning curve. On an error the run's status says so
    /// and the last checkpoint stays in place for `resume`.
    @discardableResult
    public func train() throws -> TrainingSummary {
        do { return try runUpdates() } catch {
            try? checkpointWriter.wait()
            try? writeRunFacts(status: "failed: \(error)")
            throw error
        }
    }

    /// Test hook (`PROXIMA_TEST_FAIL_ALLOCATION_AT_UPDATE=N`): update N makes one allocation larger than any
    /// machine's memory, to check that running out of memory inside a step is an error that keeps the last checkpoint.
    static let injectedAllocationFailureUpdate: Int? =
        ProcessInfo.processInfo.environment["PROXIMA_TEST_FAIL_ALLOCATION_AT_UPDATE"].flatMap { Int($0) }

    func runUpdates() throws -> TrainingSummary {
        try FileManager.default.createDirectory(at: runDirectory.appendingPathComponent("checkpoints"), withIntermediateDirectories: true)
        if update == 0 { try config.json().write(to: runDirectory.appendingPathComponent("config.json"), atomically: true, encoding: .utf8) }
        try writeRunFacts(status: "running")
        let logger = try MetricsLogger(directory: runDirectory, resumeFromStep: update == 0 ? nil : steps)
        if update > 0 { curve = (try? readMetrics(runDirectory)["rollout/ep_rew_mean"]?.map { (Double($0.step), $0.value) }) ?? [] }
        let totalUpdates = config.updates
        let totalSteps = totalUpdates * config.nSteps * config.nEnvs
        let progress = ProgressReporter(total: totalSteps, label: "\(config.algorithm.rawValue) \(config.env)")
        let start = Date()
        let stepsAtStart = steps
        policy.train()
        // With the fused PPO step the threads go to its policy and value halves, and libtorch runs on one thread
        // meanwhile: OpenMP's workers keep spinning after each parallel region and would compete with the halves.
        let libtorchThreads = LibTorch.numThreads
        if libtorchThreads > 1, config.algorithm == .ppo, config.ppoGradients == .fusedStep,
           (policy as? MLPActorCritic)?.separateNetworks != nil {
            FastPath.threads = libtorchThreads
            LibTorch.numThreads = 1
        }
        defer {
            LibTorch.numThreads = libtorchThreads
            FastPath.threads = nil
        }
        while update < totalUpdates {
            // libtorch failures inside an update (out of memory, above all) become a thrown error: nothing from the
            // failed update is logged or checkpointed, so the last checkpoint stays the run's state.
            let label = "training update \(update + 1) of \(totalUpdates)"
            let metrics: [String: Double] = try catchingTorchErrors(label) {
                let rolloutStart = Date()
                let rollout = try collector.collect(policy: policy, steps: config.nSteps, generator: sampleGenerator)
                let rolloutSeconds = Date().timeIntervalSince(rolloutStart)
                steps += rollout.count
                update += 1
                let progressRemaining = 1 - Double(steps) / Double(totalSteps)
                optimizer.setLearningRate(config.learningRate.value(progressRemaining: progressRemaining))

                let (advantages, returns) = generalizedAdvantages(
                    rewards: rollout.rewards, values: TimeMajor(rollout.values.doubles, steps: config.nSteps, environments: config.nEnvs),
                    terminated: rollout.terminated, truncated: rollout.truncated, lastValues: rollout.lastValues,
                    truncationValues: rollout.truncationValues, gamma: config.gamma, lambda: config.gaeLambda)
                let batch = TrainingBatch(rollout: rollout, advantages: Tensor(advantages.values.map(Float.init)),
                                          returns: Tensor(returns.values.map(Float.init)), progressRemaining: progressRemaining,
                                          update: update, totalUpdates: totalUpdates)
                let trainStart = Date()
                var metrics: [String: Double]
                switch config.algorithm {
                case .ppo: metrics = try PPO.update(policy: policy, optimization: optimization, batch: batch, config: config, generator: shuffleGenerator)
                case .a2c: metrics = try A2C.update(policy: policy, optimization: optimization, batch: batch, config: config)
                case .reinforce: metrics = try Reinforce.update(policy: policy, optimization: optimization, batch: batch, config: config)
                case .mdpo: metrics = try MDPO.update(policy: policy, optimization: optimization, batch: batch, config: config, generator: shuffleGenerator)
                }
                let elapsed = Date().timeIntervalSince(start)
                metrics["train/learning_rate"] = optimizer.learningRate
                metrics["train/explained_variance"] = explainedVariance(predictions: rollout.values.doubles, targets: returns.values)
                metrics["train/n_updates"] = Double(update)
                metrics["time/fps"] = Double(steps - stepsAtStart) / Swift.max(elapsed, 1e-9)
                metrics["time/rollout_seconds"] = rolloutSeconds
                metrics["time/train_seconds"] = Date().timeIntervalSince(trainStart)
                metrics["rollout/episodes"] = Double(collector.totalEpisodes)
                if let meanReturn = collector.meanEpisodeReturn {
                    metrics["rollout/ep_rew_mean"] = meanReturn
                    metrics["rollout/ep_len_mean"] = collector.meanEpisodeLength
                    curve.append((Double(steps), meanReturn))
                }
                if let faultUpdate = Self.injectedAllocationFailureUpdate, update == faultUpdate {
                    // Test hook: one allocation far beyond any machine's memory.
                    _ = Tensor.zeros([1]).expanded([1 << 42]).contiguous()
                }
                return metrics
            }
            logger.log(step: steps, metrics)
            if showProgress {
                progress.update(step: steps, metrics: [("return", metrics["rollout/ep_rew_mean"] ?? .nan), ("value loss", metrics["train/value_loss"] ?? .nan)])
            }
            if update % config.checkpointInterval == 0 || update == totalUpdates { try scheduleCheckpoint() }
        }
        try checkpointWriter.wait()
        if showProgress {
            progress.finish(step: steps, metrics: [("return", collector.meanEpisodeReturn ?? .nan)])
        }
        try PolicyArtifact(policy: policy, normalizer: collector.observationNormalizer, config: config,
                           actionSpace: collector.environments.actionSpace).write(to: modelURL)
        let curveURL = try writeLearningCurve()
        try writeRunFacts(status: "finished")
        let meanReturn = collector.meanEpisodeReturn ?? .nan
        return TrainingSummary(runDirectory: runDirectory, steps: steps, updates: update, seconds: Date().timeIntervalSince(start),
                               meanEpisodeReturn: meanReturn, episodes: collector.totalEpisodes, learningCurve: curveURL)
    }

    func writeLearningCurve() throws -> URL {
        let url = runDirectory.appendingPathComponent("learning_curve.svg")
        let threshold = try? Registry.spec(config.env).rewardThreshold
        let plot = LinePlot(title: "\(config.algorithm.rawValue.uppercased()) on \(config.env) (seed \(config.seed))",
                            xLabel: "environment steps", yLabel: "mean episode return (last 100)",
                            series: [PlotSeries(name: "", points: curve)],
                            reference: threshold.flatMap { $0 }.map { ($0, "reward threshold \(String(format: "%g", $0))") })
        try plot.svg().write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func writeRunFacts(status: String) throws {
        var facts: [String: Any] = [
            "algorithm": config.algorithm.rawValue, "env": config.env, "seed": config.seed, "threads": FastPath.threads ?? LibTorch.numThreads,
            "libtorch": LibTorch.version, "proxima": proximaVersion, "status": status, "steps": steps, "updates": update,
            "total_steps": config.updates * config.nSteps * config.nEnvs, "updated_at": ISO8601DateFormatter().string(from: Date()),
        ]
        if let meanReturn = collector.meanEpisodeReturn {
            facts["last_return"] = meanReturn
        }
        if let best = curve.map(\.y).max() { facts["best_return"] = best }
        let data = try JSONSerialization.data(withJSONObject: facts, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(data, to: runDirectory.appendingPathComponent("run.json"))
    }

    // MARK: Checkpoints

    /// Writes the complete state at an update boundary (atomically) and returns once it is on disk.
    public func saveCheckpoint() throws {
        try scheduleCheckpoint()
        try checkpointWriter.wait()
    }

    /// Captures the complete state now and writes it on the background writer (the write and its fsync overlap the
    /// next updates). Reports a failure of the previous write.
    func scheduleCheckpoint() throws {
        guard let snapshot = collector.environments.snapshot() else {
            throw ConfigurationError("\(config.env): environments without snapshots cannot be checkpointed for resume")
        }
        var extra: [String: Tensor] = [
            "environments": Tensor(snapshot.map { Int($0) }),
            "observations": Tensor(collector.observations, shape: [collector.observations.count]),
            "episode_returns": Tensor(collector.episodeReturns + [0], shape: [collector.episodeReturns.count + 1]),
            "episode_lengths": Tensor(collector.episodeLengths + [0], shape: [collector.episodeLengths.count + 1]),
        ]
        if let normalizer = collector.observationNormalizer { extra["observation_statistics"] = normalizer.statistics.tensor }
        if let normalizer = collector.rewardNormalizer {
            extra["reward_statistics"] = normalizer.statistics.tensor
            extra["reward_returns"] = Tensor(normalizer.returns)
        }
        let checkpoint = TrainingCheckpoint.capture(
            model: policy, optimizer: optimizer, generators: ["sample": sampleGenerator, "shuffle": shuffleGenerator], extra: extra,
            counters: ["update": update, "steps": steps, "episodes": collector.totalEpisodes], config: config.json())
        try checkpointWriter.write(checkpoint, to: checkpointURL)
    }

    func restoreCheckpoint() throws {
        let checkpoint = try TrainingCheckpoint.read(from: checkpointURL)
        try checkpoint.restore(model: policy, optimizer: optimizer, generators: ["sample": sampleGenerator, "shuffle": shuffleGenerator])
        guard let update = checkpoint.counters["update"], let steps = checkpoint.counters["steps"],
              let snapshot = checkpoint.extra["environments"], let observations = checkpoint.extra["observations"] else {
            throw CheckpointError(reason: "\(checkpointURL.path): checkpoint lacks training counters or environment state")
        }
        self.update = update
        self.steps = steps
        try collector.environments.restore(snapshot: snapshot.ints.map(Int64.init))
        collector.restoreObservations(observations.floats)
        let returns = checkpoint.extra["episode_returns"]?.doubles.dropLast() ?? []
        let lengths = checkpoint.extra["episode_lengths"]?.doubles.dropLast() ?? []
        collector.restoreHistory(returns: Array(returns), lengths: Array(lengths), total: checkpoint.counters["episodes"] ?? 0)
        if let s = checkpoint.extra["observation_statistics"] { collector.observationNormalizer?.statistics = try RunningMeanStd(tensor: s) }
        if let s = checkpoint.extra["reward_statistics"] { collector.rewardNormalizer?.statistics = try RunningMeanStd(tensor: s) }
        if let r = checkpoint.extra["reward_returns"] { collector.rewardNormalizer?.returns = r.doubles }
    }
}

public let proximaVersion = "0.1.0"
