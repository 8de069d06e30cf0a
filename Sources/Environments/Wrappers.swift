import Foundation
import Torch

/// Forwards everything to `env`; subclass and override what a wrapper changes.
open class Wrapper: Environment {
    public let env: Environment

    public init(_ env: Environment) { self.env = env }

    open var id: String { env.id }
    open var observationSpace: Space { env.observationSpace }
    open var actionSpace: Space { env.actionSpace }
    open func reset(seed: UInt64?, options: [String: Double]) -> (observation: [Float], info: [String: Double]) {
        env.reset(seed: seed, options: options)
    }
    open func step(_ action: Action) throws -> Step { try env.step(action) }

    /// The innermost environment.
    public var unwrapped: Environment {
        var current: Environment = env
        while let wrapper = current as? Wrapper { current = wrapper.env }
        return current
    }

    /// The first wrapper of type `W` in the chain starting at this one, if any.
    public func find<W: Wrapper>(_ type: W.Type) -> W? {
        var current: Environment? = self
        while let wrapper = current as? Wrapper {
            if let match = wrapper as? W { return match }
            current = wrapper.env
        }
        return nil
    }
}

/// A wrapper that changes only observations (Gymnasium's `ObservationWrapper`): override `observation(_:)`; it is
/// applied to the observations of `reset` and `step`.
open class ObservationWrapper: Wrapper {
    open func observation(_ observation: [Float]) -> [Float] { observation }

    open override func reset(seed: UInt64?, options: [String: Double]) -> (observation: [Float], info: [String: Double]) {
        let (observation, info) = env.reset(seed: seed, options: options)
        return (self.observation(observation), info)
    }

    open override func step(_ action: Action) throws -> Step {
        var result = try env.step(action)
        result.observation = observation(result.observation)
        return result
    }
}

/// Truncates episodes after `maxEpisodeSteps` steps.
public final class TimeLimit: Wrapper {
    public let maxEpisodeSteps: Int
    public internal(set) var elapsedSteps = 0

    public init(_ env: Environment, maxEpisodeSteps: Int) {
        precondition(maxEpisodeSteps > 0, "maxEpisodeSteps must be positive, got \(maxEpisodeSteps)")
        self.maxEpisodeSteps = maxEpisodeSteps
        super.init(env)
    }

    public override func reset(seed: UInt64?, options: [String: Double]) -> (observation: [Float], info: [String: Double]) {
        elapsedSteps = 0
        return env.reset(seed: seed, options: options)
    }

    public override func step(_ action: Action) throws -> Step {
        var result = try env.step(action)
        elapsedSteps += 1
        if elapsedSteps >= maxEpisodeSteps { result.truncated = true }
        return result
    }
}

/// Adds `episode.r` (return), `episode.l` (length) and `episode.t` (seconds) to the info of an episode's last step,
/// and keeps the recent episodes in `history`.
public final class RecordEpisodeStatistics: Wrapper {
    var episodeReturn = 0.0
    var episodeLength = 0
    var start = Date()
    /// The most recent finished episodes.
    public private(set) var history: EpisodeHistory

    public init(_ env: Environment, historyLength: Int = 100) {
        history = EpisodeHistory(capacity: historyLength)
        super.init(env)
    }

    public override func reset(seed: UInt64?, options: [String: Double]) -> (observation: [Float], info: [String: Double]) {
        episodeReturn = 0
        episodeLength = 0
        start = Date()
        return env.reset(seed: seed, options: options)
    }

    public override func step(_ action: Action) throws -> Step {
        var result = try env.step(action)
        episodeReturn += result.reward
        episodeLength += 1
        if result.terminated || result.truncated {
            result.info["episode.r"] = episodeReturn
            result.info["episode.l"] = Double(episodeLength)
            result.info["episode.t"] = Date().timeIntervalSince(start)
            history.append(return: episodeReturn, length: episodeLength)
        }
        return result
    }
}

/// Standardises observations with running statistics (an `ObservationNormalizer` without clipping):
/// (x − mean) / √(var + ε), the statistics updated with every observation. Set `isFrozen` to stop updating
/// (evaluation); save and restore `statistics` with checkpoints.
public final class NormalizeObservation: ObservationWrapper {
    public var normalizer: ObservationNormalizer
    public var isFrozen = false

    /// The running statistics (what checkpoints save).
    public var statistics: RunningMeanStd {
        get { normalizer.statistics }
        set { normalizer.statistics = newValue }
    }

    public init(_ env: Environment, epsilon: Double = 1e-8) {
        normalizer = ObservationNormalizer(size: env.observationSpace.flatSize, clip: .infinity, epsilon: epsilon)
        super.init(env)
    }

    public override var observationSpace: Space { .box(low: -.infinity, high: .infinity, shape: env.observationSpace.shape) }

    public override func observation(_ observation: [Float]) -> [Float] {
        if !isFrozen { normalizer.update(observation, rows: 1) }
        return normalizer.normalize(observation)
    }
}

/// Scales rewards by the running standard deviation of the discounted return (Gymnasium's `NormalizeReward`):
/// G ← γ·G·(1 − terminated) + r, reward / √(var(G) + ε).
public final class NormalizeReward: Wrapper {
    public var statistics = RunningMeanStd(size: 1)
    public var isFrozen = false
    public let gamma: Double
    public let epsilon: Double
    var discountedReturn = 0.0

    public init(_ env: Environment, gamma: Double = 0.99, epsilon: Double = 1e-8) {
        self.gamma = gamma
        self.epsilon = epsilon
        super.init(env)
    }

    public override func step(_ action: Action) throws -> Step {
        var result = try env.step(action)
        discountedReturn = discountedReturn * gamma * (result.terminated ? 0 : 1) + result.reward
        if !isFrozen { statistics.update([discountedReturn]) }
        result.reward /= (statistics.variance[0] + epsilon).squareRoot()
        return result
    }
}

/// Clips continuous actions to the wrapped environment's bounds; the action space becomes unbounded.
public final class ClipAction: Wrapper {
    public override var actionSpace: Space { .box(low: -.infinity, high: .infinity, shape: env.actionSpace.shape) }

    public override func step(_ action: Action) throws -> Step {
        guard case .box(let low, let high, _, _) = env.actionSpace, case .continuous(let values) = action, values.count == low.count else {
            throw EnvironmentError.invalidAction(environment: id, action: action, space: actionSpace)
        }
        return try env.step(.continuous(values.indices.map { Swift.min(Swift.max(values[$0], low[$0]), high[$0]) }))
    }
}

/// Lets the agent act in [minAction, maxAction] and maps linearly onto the environment's bounds.
public final class RescaleAction: Wrapper {
    public let minAction: Double
    public let maxAction: Double

    public init(_ env: Environment, minAction: Double = -1, maxAction: Double = 1) {
        precondition(minAction < maxAction, "RescaleAction needs minAction < maxAction")
        self.minAction = minAction
        self.maxAction = maxAction
        super.init(env)
    }

    public override var actionSpace: Space { .box(low: minAction, high: maxAction, shape: env.actionSpace.shape) }

    public override func step(_ action: Action) throws -> Step {
        try validate(action)
        guard case .box(let low, let high, _, _) = env.actionSpace, case .continuous(let values) = action else {
            throw EnvironmentError.invalidAction(environment: id, action: action, space: actionSpace)
        }
        let scaled = values.indices.map { low[$0] + (high[$0] - low[$0]) * (values[$0] - minAction) / (maxAction - minAction) }
        return try env.step(.continuous(scaled))
    }
}

/// Applies a function to every observation (give the new space when the function changes it).
public final class TransformObservation: ObservationWrapper {
    let transform: ([Float]) -> [Float]
    let space: Space?

    public init(_ env: Environment, observationSpace: Space? = nil, _ transform: @escaping ([Float]) -> [Float]) {
        self.transform = transform
        self.space = observationSpace
        super.init(env)
    }

    public override var observationSpace: Space { space ?? env.observationSpace }

    public override func observation(_ observation: [Float]) -> [Float] { transform(observation) }
}

/// Applies a function to every reward.
public final class TransformReward: Wrapper {
    let transform: (Double) -> Double

    public init(_ env: Environment, _ transform: @escaping (Double) -> Double) {
        self.transform = transform
        super.init(env)
    }

    public override func step(_ action: Action) throws -> Step {
        var result = try env.step(action)
        result.reward = transform(result.reward)
        return result
    }
}

/// Observations are the last `count` observations stacked (oldest first) into one flat vector of shape
/// [count] + shape; after a reset the stack is filled with the reset observation (Gymnasium's "reset" padding).
public final class FrameStack: Wrapper {
    public let count: Int
    var frames: [[Float]] = []

    public init(_ env: Environment, count: Int) {
        precondition(count > 0, "FrameStack count must be positive, got \(count)")
        self.count = count
        super.init(env)
    }

    public override var observationSpace: Space {
        guard case .box(let low, let high, let shape, let dtype) = env.observationSpace else { return env.observationSpace }
        return .box(low: Array([[Double]](repeating: low, count: count).joined()), high: Array([[Double]](repeating: high, count: count).joined()),
                    shape: [count] + shape, dtype: dtype)
    }

    public override func reset(seed: UInt64?, options: [String: Double]) -> (observation: [Float], info: [String: Double]) {
        let (observation, info) = env.reset(seed: seed, options: options)
        frames = Array(repeating: observation, count: count)
        return (Array(frames.joined()), info)
    }

    public override func step(_ action: Action) throws -> Step {
        var result = try env.step(action)
        frames.removeFirst()
        frames.append(result.observation)
        result.observation = Array(frames.joined())
        return result
    }
}
