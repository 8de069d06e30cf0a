import Foundation

/// Something that keeps a record of training: metric files, progress output, checkpoints, run status, plots. A bare
/// `learn()` attaches none and writes nothing; the command line attaches them all.
public protocol TrainingRecorder: AnyObject {
    /// Before the first step of a run (or of its continuation after a resume).
    func trainingWillStart(_ run: TrainingRunState) throws
    /// After each successful step.
    func record(_ step: TrainingStepRecord) throws
    /// After the last step, once the final checkpoints are written.
    func trainingDidEnd(_ run: TrainingRunState, outcome: TrainingOutcome) throws
    /// When a step or a recorder threw; `error` is rethrown after every recorder has seen it.
    func trainingDidFail(_ run: TrainingRunState, error: Error)
}

extension TrainingRecorder {
    public func trainingWillStart(_ run: TrainingRunState) throws {}
    public func record(_ step: TrainingStepRecord) throws {}
    public func trainingDidEnd(_ run: TrainingRunState, outcome: TrainingOutcome) throws {}
    public func trainingDidFail(_ run: TrainingRunState, error: Error) {}
}

/// Where a run stands, as recorders see it.
public struct TrainingRunState {
    public var label: String
    public var completedSteps: Int
    public var plannedSteps: Int
    public var completedUnits: Int
    public var plannedUnits: Int
    /// Whether the run continues from a checkpoint (steps were done before this `run`).
    public var isContinuation: Bool
}

/// One step as recorders see it.
public struct TrainingStepRecord {
    /// 1-based index of the step just done, and the units done after it.
    public var step: Int
    public var units: Int
    public var plannedUnits: Int
    public var metrics: [String: Double]
}
