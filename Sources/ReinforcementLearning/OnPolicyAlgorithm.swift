import Environments
import Foundation
import NeuralNetworks
import Torch
import Training

/// What `learn` returns: the trained policy and how training went.
public struct LearningResult {
    public var policy: ActorCriticPolicy
    /// Environment steps and updates done in all (including earlier `learn` calls and a resumed run's).
    public var steps: Int
    public var updates: Int
    /// Seconds this call trained.
    public var seconds: Double
    /// Mean return of the last (up to 100) finished training episodes; nil when none finished.
    public var meanEpisodeReturn: Double?
    /// Training episodes finished in all.
    public var episodes: Int
    /// Completed, stopped early by a callback, or interrupted.
    public var outcome: TrainingOutcome
}

/// The loop the four on-policy algorithms share (SB3's `OnPolicyAlgorithm`): collect a rollout from a vector of
/// environments, compute advantages (GAE, bootstrapping truncated episodes from the critic), let the algorithm
/// update the policy. `PPO`, `A2C`, `Reinforce` and `MDPO` are its subclasses; each brings its configuration and its
/// update.
///
/// `learn(steps:)` trains in memory and writes nothing; pass recorders to keep metrics, checkpoints, a run
/// directory (`RunDirectory`), and callbacks to evaluate and stop early. The training loop itself is the shared
/// `TrainingLoop` (module Training): errors, the NaN guard, checkpoints and Ctrl-C behave there as for every trainer.
public class OnPolicyAlgorithm {
    public let algorithm: Algorithm
    /// The configuration in effect (`environmentCount` is the vector's size).
    let anyConfiguration: any OnPolicyConfiguration
    /// The shared settings in effect.
    public var settings: OnPolicySettings { anyConfiguration.settings }
    /// The configuration as files write it (`config.json`, saved policies).
    public var fileSettings: [String: Any] { anyConfiguration.fileSettings }
    public let policy: ActorCriticPolicy
    public let collector: RolloutCollector
    public var environments: VectorEnvironment { collector.environments }
    /// The id of the environments (the registry's id for registered ones).
    public var environmentID: String { environments.id }
    public var optimizer: Optimizer { optimization.optimizer }
    let optimization: Optimization
    let sampleGenerator: Generator
    let shuffleGenerator: Generator
    /// Samples actions for `act(_:deterministic: false)`, apart from the training generators.
    let actionGenerator: Generator
    /// Updates and environment steps done in all.
    public internal(set) var updates = 0
    public internal(set) var steps = 0
    /// The current `learn` call's plan (kept in checkpoints, so a resumed run finishes the same plan).
    var plan: LearningPlan?
    /// The update the current plan ends at (nil before `learn` or a restore).
    public var plannedUpdates: Int? { plan.map { $0.startUpdates + $0.updates } }

    struct LearningPlan {
        var startUpdates: Int
        var startSteps: Int
        var updates: Int
    }

    init(configuration: any OnPolicyConfiguration, environments: VectorEnvironment, policy: ActorCriticPolicy?,
         makeOptimizer: ([Tensor]) -> Optimizer) throws {
        var configuration = configuration
        configuration.settings.environmentCount = environments.count
        try configuration.validate()
        algorithm = type(of: configuration).algorithm
        anyConfiguration = configuration
        let settings = configuration.settings
        if policy == nil, case .box(_, _, let shape, _) = environments.observationSpace, shape.count != 1 {
            throw ConfigurationError("\(environments.environments[0].id): observations of shape \(shape) need a custom policy (MLPActorCritic takes flat vectors)")
        }
        try settings.checkMemory(observationSize: environments.observationSize, actionSize: environments.actionSpace.flatSize)
        collector = RolloutCollector(environments: environments, normalize: settings.normalizeEnvironment, gamma: settings.gamma)
        self.policy = try policy ?? MLPActorCritic(observationSize: environments.observationSize, actionSpace: environments.actionSpace,
                                                  options: settings.policy, generator: Generator(seed: settings.seed))
        optimization = Optimization(policy: self.policy, make: makeOptimizer)
        sampleGenerator = Generator(seed: settings.seed &+ 1)
        shuffleGenerator = Generator(seed: settings.seed &+ 2)
        actionGenerator = Generator(seed: settings.seed &+ 3)
        collector.reset(seed: settings.seed)
    }

    /// Adam with the settings' initial learning rate and ε (what PPO, REINFORCE and MDPO use, and A2C without RMSprop).
    static func adam(_ settings: OnPolicySettings) -> ([Tensor]) -> Optimizer {
        { Adam(parameters: $0, learningRate: settings.learningRate.base, eps: settings.adamEpsilon) }
    }

    /// The algorithm's update on one batch; returns its metrics.
    func update(_ batch: TrainingBatch) throws -> [String: Double] {
        preconditionFailure("\(type(of: self)) must override update(_:)")
    }

    /// Called around a run of updates (PPO hands threads to its fused step here).
    func trainingWillStart() {}
    func trainingDidEnd() {}

    // MARK: Learning

    /// Trains for `steps` more environment steps (whole rollouts: `max(1, steps / rolloutSize)` updates), in memory.
    ///
    /// - Parameters:
    ///   - callbacks: called after every rollout, finished episode and update; any can stop training early
    ///     (`EvaluationCallback` with `StopTrainingOnRewardThreshold` evaluates periodically and stops at a return).
    ///   - recorders: where the run is recorded (none: nothing is written and no signal handler is installed).
    ///     `RunDirectory.recorders(for:checkpointInterval:progress:)` gives the command line's set.
    ///
    /// A thrown error (out of memory, a non-finite loss) leaves the in-memory state in the middle of an update:
    /// restore the last checkpoint before training on.
    @discardableResult
    public func learn(steps: Int, callbacks: [OnPolicyCallback] = [], recorders: [TrainingRecorder] = []) throws -> LearningResult {
        try plan(steps: steps)
        return try continueLearning(callbacks: callbacks, recorders: recorders)
    }

    /// Moves the end of the current plan (a restored run's) to `totalSteps` environment steps in all, like SB3's
    /// `learn(…, reset_num_timesteps=False)` with a larger total: the updates still to come follow schedules
    /// (`lin_<rate>`) over the new length.
    public func extendPlan(toTotalSteps totalSteps: Int) throws {
        guard var current = plan else { throw ConfigurationError("nothing to extend: restore a checkpoint or call learn(steps:) first") }
        let rollout = settings.rolloutSteps * settings.environmentCount
        let updatesDone = updates - current.startUpdates
        let planned = Swift.max(1, (totalSteps - current.startSteps) / rollout)
        guard planned > updatesDone else {
            throw ConfigurationError("--total-steps \(totalSteps) is not beyond the \(steps) steps already done (whole rollouts of \(rollout))")
        }
        current.updates = planned
        plan = current
    }

    /// Plans `steps` more environment steps for `continueLearning`.
    func plan(steps: Int) throws {
        let rollout = settings.rolloutSteps * settings.environmentCount
        guard steps >= rollout else {
            throw ConfigurationError("learn(steps: \(steps)) is smaller than one rollout (n_steps × n_envs = \(rollout))")
        }
        plan = LearningPlan(startUpdates: updates, startSteps: self.steps, updates: Swift.max(1, steps / rollout))
    }

    /// Finishes the current plan (the `learn` call a restored checkpoint was taken in).
    @discardableResult
    public func continueLearning(callbacks: [OnPolicyCallback] = [], recorders: [TrainingRecorder] = []) throws -> LearningResult {
        guard let plan else { throw ConfigurationError("nothing to continue: call learn(steps:) or restore a checkpoint first") }
        if recorders.contains(where: { $0 is CheckpointRecorder }), environments.snapshot() == nil {
            throw ConfigurationError("\(environmentID): environments without snapshots cannot be checkpointed for resume (conform them to SnapshotEnvironment, or attach no CheckpointRecorder)")
        }
        let procedure = OnPolicyProcedure(algorithm: self, plan: plan, callbacks: callbacks)
        let start = Date()
        let outcome = try TrainingLoop.run(procedure, recorders: recorders)
        return LearningResult(policy: policy, steps: self.steps, updates: updates, seconds: Date().timeIntervalSince(start),
                              meanEpisodeReturn: collector.meanEpisodeReturn, episodes: collector.episodes.total, outcome: outcome)
    }

    /// One update: a rollout, its advantages, the algorithm's optimisation, the callbacks. Returns the metrics and a
    /// callback's reason to stop.
    func trainingStep(plan: LearningPlan, callbacks: [OnPolicyCallback], started: Date, stepsAtStart: Int) throws -> TrainingStepResult {
        let rolloutStart = Date()
        let rollout = try collector.collect(policy: policy, steps: settings.rolloutSteps, generator: sampleGenerator,
                                            sdeSampleFrequency: settings.sdeSampleFrequency)
        let rolloutSeconds = Date().timeIntervalSince(rolloutStart)
        steps += rollout.count
        var metrics: [String: Double] = ["rollout/episodes": Double(collector.episodes.total)]
        if let meanReturn = collector.meanEpisodeReturn {
            metrics["rollout/ep_rew_mean"] = meanReturn
            metrics["rollout/ep_len_mean"] = collector.meanEpisodeLength
        }
        for callback in callbacks {
            if case .stop(let reason) = try callback.rolloutDidEnd(self, rollout: rollout) { return TrainingStepResult(metrics: metrics, stopReason: reason) }
            for episode in collector.lastFinished {
                if case .stop(let reason) = try callback.episodeDidEnd(self, episode: episode) {
                    return TrainingStepResult(metrics: metrics, stopReason: reason)
                }
            }
        }
        updates += 1
        let update = updates - plan.startUpdates
        optimizer.setLearningRate(settings.learningRate.value(at: update, of: plan.updates))
        let n = settings.environmentCount, t = settings.rolloutSteps
        let (advantages, returns) = generalizedAdvantages(
            rewards: rollout.rewards, values: TimeMajor(rollout.values.doubles, steps: t, environments: n),
            terminated: rollout.terminated, truncated: rollout.truncated, lastValues: rollout.lastValues,
            truncationValues: rollout.truncationValues, gamma: settings.gamma, lambda: settings.gaeLambda)
        let batch = TrainingBatch(rollout: rollout, advantages: Tensor(advantages.values.map(Float.init)),
                                  returns: Tensor(returns.values.map(Float.init)), update: update, totalUpdates: plan.updates,
                                  step: updates)
        let trainStart = Date()
        metrics.merge(try self.update(batch)) { $1 }
        metrics["train/learning_rate"] = optimizer.learningRate
        metrics["train/explained_variance"] = explainedVariance(predictions: rollout.values.doubles, targets: returns.values)
        metrics["train/n_updates"] = Double(updates)
        metrics["time/fps"] = Double(steps - stepsAtStart) / Swift.max(Date().timeIntervalSince(started), 1e-9)
        metrics["time/rollout_seconds"] = rolloutSeconds
        metrics["time/train_seconds"] = Date().timeIntervalSince(trainStart)
        for callback in callbacks {
            if case .stop(let reason) = try callback.updateDidEnd(self, metrics: &metrics) {
                return TrainingStepResult(metrics: metrics, stopReason: reason)
            }
        }
        return TrainingStepResult(metrics: metrics)
    }

    // MARK: Acting, evaluating, saving

    /// The action for one raw observation (normalised with the current statistics, which it does not update).
    public func act(_ observation: [Float], deterministic: Bool = true) -> Action {
        policyAction(policy: policy, normalizer: collector.observationNormalizer, actionSpace: environments.actionSpace,
                     observation: observation, deterministic: deterministic, generator: actionGenerator)
    }

    /// Runs `episodes` episodes on `environment` (default: a fresh one from the registry by `environmentID`), seeds
    /// `seed`, `seed + 1`, …; sampled actions come from a generator seeded with `seed`. Training state (environments,
    /// statistics, generators) is left untouched, so evaluating during training does not change it.
    public func evaluate(episodes: Int = 10, deterministic: Bool = true, seed: UInt64 = 1_000_000,
                         environment: Environment? = nil) throws -> EvaluationResult {
        let env = try environment ?? Registry.make(environmentID)
        let wasTraining = policy.isTraining
        policy.eval()
        defer { if wasTraining { policy.train() } }
        let generator = Generator(seed: seed)
        return try evaluatePolicy(on: env, episodes: episodes, seed: seed) {
            policyAction(policy: policy, normalizer: collector.observationNormalizer, actionSpace: environments.actionSpace,
                         observation: $0, deterministic: deterministic, generator: generator)
        }
    }

    /// The policy as it is shipped (parameters, frozen normalisation statistics, configuration).
    public var artifact: PolicyArtifact {
        PolicyArtifact(policy: policy, normalizer: collector.observationNormalizer, algorithm: algorithm,
                       environmentID: environmentID, fileSettings: fileSettings,
                       observationSpace: environments.observationSpace, actionSpace: environments.actionSpace)
    }

    /// Saves the policy to a safetensors file that `PolicyArtifact.read` loads (custom policies: see `SavablePolicy`).
    public func save(to url: URL) throws { try artifact.write(to: url) }

    /// This algorithm's run as `config.json` describes it (what `RunDirectory.resume` rebuilds it from).
    public func runConfiguration(totalSteps: Int, checkpointInterval: Int) -> RunConfiguration {
        let identity = PolicyRegistry.identity(of: policy)
        return RunConfiguration(algorithm: anyConfiguration, environment: environmentID, totalSteps: totalSteps,
                                checkpointInterval: checkpointInterval, policy: identity.name, policyOptions: identity.options)
    }

    // MARK: Checkpoints

    /// The complete training state now (copies): what `restore(checkpoint:)` continues identically from.
    public func captureCheckpoint() throws -> TrainingCheckpoint {
        guard let snapshot = environments.snapshot() else {
            throw ConfigurationError("\(environmentID): environments without snapshots cannot be checkpointed for resume (conform them to SnapshotEnvironment)")
        }
        var extra = collector.checkpointTensors
        extra["environments"] = Tensor(snapshot.map { Int($0) })
        var counters = ["update": updates, "steps": steps, "episodes": collector.episodes.total]
        if let plan {
            counters["plan_start_update"] = plan.startUpdates
            counters["plan_start_steps"] = plan.startSteps
            counters["plan_updates"] = plan.updates
        }
        let planned = plan.map { $0.startSteps + $0.updates * settings.rolloutSteps * settings.environmentCount } ?? steps
        let config = runConfiguration(totalSteps: Swift.max(planned, 1), checkpointInterval: algorithm.defaultCheckpointInterval)
        return TrainingCheckpoint.capture(
            model: policy, optimizer: optimizer, generators: ["sample": sampleGenerator, "shuffle": shuffleGenerator, "act": actionGenerator],
            extra: extra, counters: counters, config: config.json())
    }

    /// Restores the state saved by `captureCheckpoint` (from a file, e.g. a run directory's
    /// `checkpoints/checkpoint.safetensors`); `continueLearning()` then finishes the interrupted `learn` call.
    public func restore(checkpoint url: URL) throws {
        let checkpoint = try TrainingCheckpoint.read(from: url)
        for (name, tensor) in checkpoint.model where tensor.dtype.isFloatingPoint && !tensor.isFinite().all().item(Bool.self) {
            throw CheckpointError(reason: "\(url.path): parameter '\(name)' holds NaN or infinite values")
        }
        try checkpoint.restore(model: policy, optimizer: optimizer,
                               generators: ["sample": sampleGenerator, "shuffle": shuffleGenerator, "act": actionGenerator])
        guard let update = checkpoint.counters["update"], let steps = checkpoint.counters["steps"],
              let snapshot = checkpoint.extra["environments"] else {
            throw CheckpointError(reason: "\(url.path): checkpoint lacks training counters or environment state")
        }
        try environments.restore(snapshot: snapshot.ints.map(Int64.init))
        try collector.restore(checkpoint.extra, episodes: checkpoint.counters["episodes"] ?? 0, source: url.path)
        self.updates = update
        self.steps = steps
        if let start = checkpoint.counters["plan_start_update"], let startSteps = checkpoint.counters["plan_start_steps"],
           let planned = checkpoint.counters["plan_updates"] {
            plan = LearningPlan(startUpdates: start, startSteps: startSteps, updates: planned)
        }
    }
}

/// `OnPolicyAlgorithm`'s updates as the training loop's procedure.
final class OnPolicyProcedure: TrainingProcedure {
    let algorithm: OnPolicyAlgorithm
    let plan: OnPolicyAlgorithm.LearningPlan
    let callbacks: [OnPolicyCallback]
    var started = Date()
    var stepsAtStart = 0

    init(algorithm: OnPolicyAlgorithm, plan: OnPolicyAlgorithm.LearningPlan, callbacks: [OnPolicyCallback]) {
        self.algorithm = algorithm
        self.plan = plan
        self.callbacks = callbacks
    }

    var label: String { "\(algorithm.algorithm.rawValue) \(algorithm.environmentID)" }
    var stepName: String { "training update" }
    var completedSteps: Int { algorithm.updates }
    var plannedSteps: Int { plan.startUpdates + plan.updates }
    var completedUnits: Int { algorithm.steps }
    var plannedUnits: Int { plan.startSteps + plan.updates * algorithm.settings.rolloutSteps * algorithm.settings.environmentCount }

    func trainingWillStart() {
        started = Date()
        stepsAtStart = algorithm.steps
        algorithm.policy.train()
        algorithm.trainingWillStart()
    }

    func trainingDidEnd() { algorithm.trainingDidEnd() }

    func step() throws -> TrainingStepResult {
        try algorithm.trainingStep(plan: plan, callbacks: callbacks, started: started, stepsAtStart: stepsAtStart)
    }

    func captureCheckpoint() throws -> TrainingCheckpoint { try algorithm.captureCheckpoint() }
}

/// An on-policy algorithm with its own configuration type; gives every algorithm the same ways to be built.
public protocol OnPolicyLearner: OnPolicyAlgorithm {
    associatedtype Configuration: OnPolicyConfiguration
    /// The configuration it was built with.
    var configuration: Configuration { get }
    /// Trains on `environments` (their count overrides `environmentCount`); nil `policy` builds `MLPActorCritic`
    /// from `configuration.policy`, seeded by `configuration.seed`.
    init(_ configuration: Configuration, environments: VectorEnvironment, policy: ActorCriticPolicy?) throws
}

extension OnPolicyLearner {
    /// Trains on `configuration.environmentCount` copies of the registry's environment `id`.
    public init(_ configuration: Configuration = Configuration(), environment id: String, policy: ActorCriticPolicy? = nil) throws {
        try self.init(configuration, environments: try VectorEnvironment(id: id, count: configuration.environmentCount), policy: policy)
    }

    /// Trains on `configuration.environmentCount` environments made by `makeEnvironment` (your own environment).
    public init(_ configuration: Configuration = Configuration(), makeEnvironment: () throws -> Environment,
                policy: ActorCriticPolicy? = nil) throws {
        guard configuration.environmentCount > 0 else {
            throw ConfigurationError("n_envs must be positive, got \(configuration.environmentCount)")
        }
        let environments = VectorEnvironment(try (0..<configuration.environmentCount).map { _ in try makeEnvironment() })
        try self.init(configuration, environments: environments, policy: policy)
    }
}

func jsonText(_ object: [String: Any]) -> String {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data("{}".utf8)
    return String(decoding: data, as: UTF8.self)
}
