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
/// spaces, Box actions clipped to the bounds (the unclipped values stay in the rollout).
func environmentActions(_ actions: Tensor, space: Space, count n: Int) -> [Action] {
    switch space {
    case .discrete(_, let start): return actions.ints.map { .discrete($0 + start) }
    case .multiDiscrete, .multiBinary:
        let width = space.flatSize
        let values = actions.ints
        return (0..<n).map { i in .multiDiscrete(Array(values[(i * width)..<((i + 1) * width)])) }
    case .box(let low, let high, _, _):
        let d = low.count
        let values = actions.doubles
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
    /// Returns and lengths of finished episodes, oldest first (the newest `historyLength`).
    public private(set) var episodeReturns: [Double] = []
    public private(set) var episodeLengths: [Double] = []

    /// The mean return of the episodes in `episodeReturns` (the last 100 finished), or nil before the first one ends.
    public var meanEpisodeReturn: Double? {
        episodeReturns.isEmpty ? nil : episodeReturns.reduce(0, +) / Double(episodeReturns.count)
    }

    /// The mean length of the same episodes, or nil before the first one ends.
    public var meanEpisodeLength: Double? {
        episodeLengths.isEmpty ? nil : episodeLengths.reduce(0, +) / Double(episodeLengths.count)
    }
    public var totalEpisodes = 0
    let historyLength = 100
    /// The policy's current (normalised) observations, [N × size].
    public private(set) var observations: [Float] = []

    public init(environments: VectorEnvironment, normalize: Bool, gamma: Double) {
        self.environments = environments
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

    func environmentActions(_ actions: Tensor) -> [Action] {
        ReinforcementLearning.environmentActions(actions, space: environments.actionSpace, count: environments.count)
    }

    /// Collects `steps` steps from every environment.
    public func collect(policy: ActorCriticPolicy, steps: Int, generator: Generator) throws -> Rollout {
        let n = environments.count, size = environments.observationSize
        var observationRows: [Tensor] = [], actionRows: [Tensor] = [], logProbRows: [Tensor] = [], valueRows: [Tensor] = [], parameterRows: [Tensor] = []
        var rewards: [Double] = [], terminated: [Bool] = [], truncated: [Bool] = [], truncationValues: [Double] = []
        rewards.reserveCapacity(steps * n)
        let fused = (policy as? MLPActorCritic)?.fusedRolloutStep()
        for _ in 0..<steps {
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

            try environments.step(environmentActions(actions))
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
            for i in 0..<n {
                if let info = environments.finalInfos[i], let r = info["episode.r"], let l = info["episode.l"] {
                    episodeReturns.append(r)
                    episodeLengths.append(l)
                    totalEpisodes += 1
                    if episodeReturns.count > historyLength {
                        episodeReturns.removeFirst()
                        episodeLengths.removeFirst()
                    }
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

    /// Restores the episode history saved with a checkpoint.
    func restoreHistory(returns: [Double], lengths: [Double], total: Int) {
        episodeReturns = returns
        episodeLengths = lengths
        totalEpisodes = total
    }

    func restoreObservations(_ values: [Float]) { observations = values }
}
