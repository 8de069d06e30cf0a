import Environments
import Foundation
import NeuralNetworks
import Torch

/// One rollout of `steps` × `environments` transitions, flattened time-major (row t·N + n) for training.
public struct Rollout {
    public var observations: Tensor
    /// Unclipped actions as sampled (int64 for discrete spaces).
    public var actions: Tensor
    public var logProbs: Tensor
    public var values: Tensor
    /// The sampling distribution's parameters per row (see `PolicyDistribution.parameters`).
    public var distributionParameters: Tensor
    public var rewards: TimeMajor<Double>
    public var terminated: TimeMajor<Bool>
    public var truncated: TimeMajor<Bool>
    /// V(final observation) for truncated steps (0 elsewhere), evaluated at rollout time.
    public var truncationValues: TimeMajor<Double>
    /// V of the observation after the last step.
    public var lastValues: [Double]
    public var count: Int { rewards.values.count }
}

/// The environment actions for `count` sampled action rows: integers (offset by the space's start) for discrete
/// spaces, Box actions clipped to the bounds (the unclipped values stay in the rollout), or with `squashed` (actions
/// in [−1, 1]) scaled to the bounds: low + (a + 1)/2 · (high − low).
func environmentActions(_ actions: Tensor, space: Space, count n: Int, squashed: Bool = false) -> [Action] {
    switch space {
    case .discrete(_, let start): return actions.ints.map { .discrete($0 + start) }
    case .multiDiscrete, .multiBinary:
        let width = space.flatSize
        let values = actions.ints
        return (0..<n).map { i in .multiDiscrete(Array(values[(i * width)..<((i + 1) * width)])) }
    case .box(let low, let high, _, _):
        let d = low.count
        let values = actions.doubles
        if squashed {
            return (0..<n).map { i in .continuous((0..<d).map { j in low[j] + 0.5 * (values[i * d + j] + 1) * (high[j] - low[j]) }) }
        }
        return (0..<n).map { i in .continuous((0..<d).map { j in Swift.min(high[j], Swift.max(low[j], values[i * d + j])) }) }
    }
}

/// Steps a vector environment with a policy, normalising observations and rewards as configured, and records the
/// episodes that finish.
public final class RolloutCollector {
    public let environments: VectorEnvironment
    public var observationNormalizer: ObservationNormalizer?
    public var rewardNormalizer: RewardNormalizer?
    /// Whether the normalisers update their statistics (false for evaluation).
    public var training = true
    /// The most recent finished episodes, with returns of the raw (unnormalised) rewards.
    public private(set) var episodes = EpisodeHistory(capacity: 100)
    /// The episodes that finished during the last `collect`, in the order they ended.
    public private(set) var lastFinished: [FinishedEpisode] = []
    /// Each environment's return and length so far in its current episode.
    private(set) var runningReturns: [Double]
    private(set) var runningLengths: [Int]

    /// The mean return of the last 100 finished episodes, or nil before the first one ends.
    public var meanEpisodeReturn: Double? { episodes.meanReturn }
    /// The mean length of the same episodes, or nil before the first one ends.
    public var meanEpisodeLength: Double? { episodes.meanLength }
    /// The policy's current (normalised) observations, [N × size].
    public private(set) var observations: [Float] = []

    public init(environments: VectorEnvironment, normalize: Bool, gamma: Double) {
        self.environments = environments
        runningReturns = Array(repeating: 0, count: environments.count)
        runningLengths = Array(repeating: 0, count: environments.count)
        if normalize {
            observationNormalizer = ObservationNormalizer(size: environments.observationSize)
            rewardNormalizer = RewardNormalizer(environments: environments.count, gamma: gamma)
        }
    }

    public func reset(seed: UInt64) {
        let raw = environments.reset(seed: seed)
        observations = normalizeObservations(raw, update: training)
    }

    func normalizeObservations(_ raw: [Float], update: Bool) -> [Float] {
        guard var normalizer = observationNormalizer else { return raw }
        if update {
            normalizer.update(raw, rows: raw.count / environments.observationSize)
            observationNormalizer = normalizer
        }
        return normalizer.normalize(raw)
    }

    func environmentActions(_ actions: Tensor, squashed: Bool) -> [Action] {
        ReinforcementLearning.environmentActions(actions, space: environments.actionSpace, count: environments.count, squashed: squashed)
    }

    /// Collects `steps` steps from every environment. A gSDE policy draws new noise matrices (from `generator`) at
    /// the start and, when `sdeSampleFrequency` is positive, every that many steps.
    public func collect(policy: ActorCriticPolicy, steps: Int, generator: Generator, sdeSampleFrequency: Int = -1) throws -> Rollout {
        let n = environments.count, size = environments.observationSize
        var observationRows: [Tensor] = [], actionRows: [Tensor] = [], logProbRows: [Tensor] = [], valueRows: [Tensor] = [], parameterRows: [Tensor] = []
        var rewards: [Double] = [], terminated: [Bool] = [], truncated: [Bool] = [], truncationValues: [Double] = []
        rewards.reserveCapacity(steps * n)
        lastFinished = []
        let fused = (policy as? MLPActorCritic)?.fusedRolloutStep()
        let explorer = (policy as? any StateDependentExplorer).flatMap { $0.usesStateDependentExploration ? $0 : nil }
        let squashed = policy.squashesActions
        for step in 0..<steps {
            if let explorer, step == 0 || (sdeSampleFrequency > 0 && step % sdeSampleFrequency == 0) {
                explorer.resetNoise(count: n, generator: generator)
            }
            let observation = Tensor(observations, shape: [n, size])
            let (actions, logProbs, values, parameters) = fused?(observation, generator) ?? withNoGrad {
                let (distribution, value) = policy(observation)
                let actions = distribution.sample(generator: generator)
                return (actions, distribution.logProb(actions), value, distribution.parameters)
            }
            observationRows.append(observation)
            actionRows.append(actions)
            logProbRows.append(logProbs)
            valueRows.append(values)
            parameterRows.append(parameters)

            try environments.step(environmentActions(actions, squashed: squashed))
            let done = (0..<n).map { environments.terminated[$0] || environments.truncated[$0] }
            if var normalizer = rewardNormalizer {
                rewards += normalizer.normalize(environments.rewards, done: done, update: training)
                rewardNormalizer = normalizer
            } else {
                rewards += environments.rewards
            }
            terminated += environments.terminated
            truncated += environments.truncated

            // Bootstrap values for time-limited episodes: the critic on the true final observation.
            var bootstrap = [Double](repeating: 0, count: n)
            let cut = (0..<n).filter { environments.truncated[$0] && !environments.terminated[$0] }
            if !cut.isEmpty {
                let finals = cut.flatMap { environments.finalObservations[$0]! }
                let normalized = observationNormalizer.map { $0.normalize(finals) } ?? finals
                let v = withNoGrad { policy(Tensor(normalized, shape: [cut.count, size])).value }.doubles
                for (k, i) in cut.enumerated() { bootstrap[i] = v[k] }
            }
            truncationValues += bootstrap
            let raw = environments.rewards
            for i in 0..<n {
                runningReturns[i] += raw[i]
                runningLengths[i] += 1
                if done[i] {
                    episodes.append(return: runningReturns[i], length: runningLengths[i])
                    lastFinished.append(FinishedEpisode(environment: i, episodeReturn: runningReturns[i], length: runningLengths[i]))
                    runningReturns[i] = 0
                    runningLengths[i] = 0
                }
            }
            observations = normalizeObservations(environments.observations, update: training)
        }
        let lastValues = withNoGrad { policy(Tensor(observations, shape: [n, size])).value }.doubles
        return Rollout(observations: Tensor.cat(observationRows), actions: Tensor.cat(actionRows), logProbs: Tensor.cat(logProbRows),
                       values: Tensor.cat(valueRows), distributionParameters: Tensor.cat(parameterRows),
                       rewards: TimeMajor(rewards, steps: steps, environments: n),
                       terminated: TimeMajor(terminated, steps: steps, environments: n),
                       truncated: TimeMajor(truncated, steps: steps, environments: n),
                       truncationValues: TimeMajor(truncationValues, steps: steps, environments: n), lastValues: lastValues)
    }

    /// What a checkpoint needs to continue collecting identically: current observations, episode history and the
    /// episodes in progress, normalisation statistics.
    var checkpointTensors: [String: Tensor] {
        var tensors: [String: Tensor] = [
            "observations": Tensor(observations, shape: [observations.count]),
            "episode_returns": Tensor(episodes.returns + [0], shape: [episodes.returns.count + 1]),
            "episode_lengths": Tensor(episodes.lengths + [0], shape: [episodes.lengths.count + 1]),
            "running_returns": Tensor(runningReturns),
            "running_lengths": Tensor(runningLengths),
        ]
        if let normalizer = observationNormalizer { tensors["observation_statistics"] = normalizer.statistics.tensor }
        if let normalizer = rewardNormalizer {
            tensors["reward_statistics"] = normalizer.statistics.tensor
            tensors["reward_returns"] = Tensor(normalizer.returns)
        }
        return tensors
    }

    /// Restores what `checkpointTensors` saved; `episodes` is the total count of finished episodes.
    func restore(_ tensors: [String: Tensor], episodes total: Int, source: String) throws {
        guard let observations = tensors["observations"], observations.count == self.observations.count,
              let running = tensors["running_returns"], let lengths = tensors["running_lengths"],
              running.count == environments.count, lengths.count == environments.count else {
            throw CheckpointError(reason: "\(source): the checkpoint's environment state does not fit \(environments.count) environment(s)")
        }
        self.observations = observations.floats
        runningReturns = running.doubles
        runningLengths = lengths.ints
        let returns = Array(tensors["episode_returns"]?.doubles.dropLast() ?? [])
        let episodeLengths = (tensors["episode_lengths"]?.ints.dropLast()).map(Array.init) ?? []
        episodes = EpisodeHistory(capacity: episodes.capacity, returns: returns, lengths: episodeLengths, total: total)
        if let s = tensors["observation_statistics"] { observationNormalizer?.statistics = try RunningMeanStd(tensor: s) }
        if let s = tensors["reward_statistics"] { rewardNormalizer?.statistics = try RunningMeanStd(tensor: s) }
        if let r = tensors["reward_returns"] { rewardNormalizer?.returns = r.doubles }
    }
}

/// An episode that finished during a rollout.
public struct FinishedEpisode: Equatable, Sendable {
    /// Which environment of the vector it ran in.
    public var environment: Int
    /// The sum of its raw rewards.
    public var episodeReturn: Double
    public var length: Int
}
