import Foundation
import NeuralNetworks

/// What `TrainingLoop` drives: a training method's state and its step. On-policy RL implements it with one update
/// (a rollout and its optimisation) per step; the language-model trainers with one optimizer step. The loop owns
/// everything around the step (scheduling, error handling, checkpoints, recorders, interruption), so a new trainer
/// writes only this.
public protocol TrainingProcedure: AnyObject {
    /// Names the run in progress output and errors, e.g. "ppo CartPole-v1".
    var label: String { get }
    /// What one step is called in errors ("training update", "optimizer step").
    var stepName: String { get }
    /// Steps done (counting those before a resume) and planned in all.
    var completedSteps: Int { get }
    var plannedSteps: Int { get }
    /// The unit progress is measured in (environment steps, samples), done and planned; the metrics are logged
    /// against `completedUnits`.
    var completedUnits: Int { get }
    var plannedUnits: Int { get }

    /// Runs one step. On return the state is at a step boundary (a checkpoint taken now resumes identically).
    /// A thrown error must leave nothing of the failed step in anything the loop records.
    func step() throws -> TrainingStepResult

    /// The complete state at the current step boundary (copies, so training may go on while it is written).
    func captureCheckpoint() throws -> TrainingCheckpoint

    /// Called once before the first step of `TrainingLoop.run` and once after the last (also after an error).
    func trainingWillStart()
    func trainingDidEnd()
}

extension TrainingProcedure {
    public func trainingWillStart() {}
    public func trainingDidEnd() {}
}

/// What one step reports.
public struct TrainingStepResult {
    /// Namespaced scalars (`train/policy_loss`, `rollout/ep_rew_mean`). Every metric whose name ends in `loss` is
    /// checked to be finite.
    public var metrics: [String: Double]
    /// Set when a callback asked to stop after this step (early stopping); nil to go on.
    public var stopReason: String?

    public init(metrics: [String: Double], stopReason: String? = nil) {
        self.metrics = metrics
        self.stopReason = stopReason
    }
}

/// How a `TrainingLoop.run` ended (errors are thrown instead).
public enum TrainingOutcome: Equatable, Sendable {
    /// Every planned step ran.
    case completed
    /// A callback stopped training early.
    case stopped(reason: String)
    /// Interrupted (Ctrl-C) with a checkpoint recorder attached: the checkpoint of the last finished step is written.
    case interrupted

    /// The run status recorded in `run.json`.
    public var status: String {
        switch self {
        case .completed: return "finished"
        case .stopped(let reason): return "stopped: \(reason)"
        case .interrupted: return "interrupted"
        }
    }
}
