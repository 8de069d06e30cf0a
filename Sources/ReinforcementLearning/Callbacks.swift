import Environments
import Foundation

/// Whether training goes on after a callback.
public enum CallbackDecision: Equatable, Sendable {
    case proceed
    /// Stop after this point; the reason ends up in the result's outcome and the run's status.
    case stop(reason: String)
}

/// Hooks into on-policy training (SB3's callbacks). Each method may stop training: after a rollout or an episode
/// the pending update is skipped (as SB3 does when `_on_step` returns false); after an update, training ends there.
/// Callbacks must not touch the training generators or the environments; evaluate on environments of their own.
public protocol OnPolicyCallback: AnyObject {
    /// After each rollout, before its update.
    func rolloutDidEnd(_ algorithm: OnPolicyAlgorithm, rollout: Rollout) throws -> CallbackDecision
    /// For each episode that finished during the rollout just collected, in the order they ended.
    func episodeDidEnd(_ algorithm: OnPolicyAlgorithm, episode: FinishedEpisode) throws -> CallbackDecision
    /// After each update, with its metrics (add your own; they are recorded with the rest).
    func updateDidEnd(_ algorithm: OnPolicyAlgorithm, metrics: inout [String: Double]) throws -> CallbackDecision
}

extension OnPolicyCallback {
    public func rolloutDidEnd(_ algorithm: OnPolicyAlgorithm, rollout: Rollout) throws -> CallbackDecision { .proceed }
    public func episodeDidEnd(_ algorithm: OnPolicyAlgorithm, episode: FinishedEpisode) throws -> CallbackDecision { .proceed }
    public func updateDidEnd(_ algorithm: OnPolicyAlgorithm, metrics: inout [String: Double]) throws -> CallbackDecision { .proceed }
}

/// Stops training once an evaluation's mean return reaches `threshold` (SB3's `StopTrainingOnRewardThreshold`,
/// given to `EvaluationCallback`).
public struct StopTrainingOnRewardThreshold: Sendable {
    public var threshold: Double
    public init(_ threshold: Double) { self.threshold = threshold }
}

/// Evaluates the policy every `frequency` environment steps on an environment of its own (SB3's `EvalCallback`):
/// `episodes` episodes, deterministic actions by default, the same seeds each time. Records `eval/mean_reward`,
/// `eval/std_reward` and `eval/mean_ep_length` with the update's metrics, and stops training when
/// `stopTraining`'s threshold is reached.
public final class EvaluationCallback: OnPolicyCallback {
    public let frequency: Int
    public let episodes: Int
    public let deterministic: Bool
    public let seed: UInt64
    public let stopTraining: StopTrainingOnRewardThreshold?
    /// (environment steps, mean return) of every evaluation so far.
    public private(set) var evaluations: [(steps: Int, meanReturn: Double)] = []
    public private(set) var bestMeanReturn: Double?
    let makeEnvironment: () throws -> Environment
    var environment: Environment?
    var lastEvaluatedAt = 0

    /// - Parameters:
    ///   - environment: makes the evaluation environment (once).
    ///   - frequency: environment steps (all environments together) between evaluations.
    public init(environment: @escaping () throws -> Environment, frequency: Int, episodes: Int = 5, deterministic: Bool = true,
                seed: UInt64 = 1_000_000, stopTraining: StopTrainingOnRewardThreshold? = nil) {
        makeEnvironment = environment
        self.frequency = Swift.max(1, frequency)
        self.episodes = episodes
        self.deterministic = deterministic
        self.seed = seed
        self.stopTraining = stopTraining
    }

    public func updateDidEnd(_ algorithm: OnPolicyAlgorithm, metrics: inout [String: Double]) throws -> CallbackDecision {
        guard algorithm.steps - lastEvaluatedAt >= frequency else { return .proceed }
        lastEvaluatedAt = algorithm.steps
        let env = try environment ?? makeEnvironment()
        environment = env
        let result = try algorithm.evaluate(episodes: episodes, deterministic: deterministic, seed: seed, environment: env)
        evaluations.append((algorithm.steps, result.meanReturn))
        metrics["eval/mean_reward"] = result.meanReturn
        metrics["eval/std_reward"] = result.stdReturn
        metrics["eval/mean_ep_length"] = result.meanLength
        if bestMeanReturn.map({ result.meanReturn > $0 }) ?? true { bestMeanReturn = result.meanReturn }
        if let stop = stopTraining, result.meanReturn >= stop.threshold {
            return .stop(reason: String(format: "evaluation mean return %.1f reached the threshold %g at step %d",
                                        result.meanReturn, stop.threshold, algorithm.steps))
        }
        return .proceed
    }
}
