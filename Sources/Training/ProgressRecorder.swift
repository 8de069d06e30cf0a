import Foundation
import Tracking

/// Shows progress: a live line on terminals, a plain line every few seconds otherwise, with a few headline metrics.
public final class ProgressRecorder: TrainingRecorder {
    /// (shown name, metric name) pairs, e.g. ("return", "rollout/ep_rew_mean").
    public let headline: [(label: String, metric: String)]
    var reporter: ProgressReporter?
    var last: [String: Double] = [:]

    public init(headline: [(label: String, metric: String)]) { self.headline = headline }

    public func trainingWillStart(_ run: TrainingRunState) throws {
        reporter = ProgressReporter(total: run.plannedUnits, label: run.label)
    }

    func values() -> [(String, Double)] { headline.map { ($0.label, last[$0.metric] ?? .nan) } }

    public func record(_ step: TrainingStepRecord) throws {
        last.merge(step.metrics) { $1 }
        reporter?.update(step: step.units, metrics: values())
    }

    public func trainingDidEnd(_ run: TrainingRunState, outcome: TrainingOutcome) throws {
        reporter?.finish(step: run.completedUnits, metrics: values())
    }

    public func trainingDidFail(_ run: TrainingRunState, error: Error) {
        reporter?.finish(step: run.completedUnits, metrics: values())
    }
}
