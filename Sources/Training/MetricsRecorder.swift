import Foundation
import Tracking

/// Writes every step's metrics to `metrics.jsonl`, `metrics.csv` and TensorBoard event files in `directory`, logged
/// against the run's units (environment steps for RL). A continued run first drops what was logged after its
/// checkpoint, so no step appears twice.
public final class MetricsRecorder: TrainingRecorder {
    public let directory: URL
    public let tensorBoard: Bool
    var logger: MetricsLogger?

    public init(directory: URL, tensorBoard: Bool = true) {
        self.directory = directory
        self.tensorBoard = tensorBoard
    }

    public func trainingWillStart(_ run: TrainingRunState) throws {
        logger = try MetricsLogger(directory: directory, resumeFromStep: run.isContinuation ? run.completedUnits : nil,
                                   tensorBoard: tensorBoard)
    }

    public func record(_ step: TrainingStepRecord) throws {
        // Trainers that log every N steps report no metrics in between.
        guard !step.metrics.isEmpty else { return }
        try logger?.log(step: step.units, step.metrics)
    }

    public func trainingDidEnd(_ run: TrainingRunState, outcome: TrainingOutcome) throws { logger = nil }
}
