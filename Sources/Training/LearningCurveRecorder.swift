import Foundation
import Tracking

/// Draws one metric against the run's units as an SVG line plot (`learning_curve.svg` in `directory`) when training
/// ends. A continued run starts from the points already in the run's metrics files, up to its checkpoint.
public final class LearningCurveRecorder: TrainingRecorder {
    public let directory: URL
    public let metric: String
    public var title: String
    public var xLabel: String
    public var yLabel: String
    /// A horizontal reference line (a reward threshold), if any.
    public var reference: (y: Double, label: String)?
    public private(set) var points: [(x: Double, y: Double)] = []

    public var url: URL { directory.appendingPathComponent("learning_curve.svg") }

    public init(directory: URL, metric: String, title: String, xLabel: String, yLabel: String,
                reference: (y: Double, label: String)? = nil) {
        self.directory = directory
        self.metric = metric
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.reference = reference
    }

    public func trainingWillStart(_ run: TrainingRunState) throws {
        points = []
        if run.isContinuation, let logged = try? readMetrics(directory)[metric] {
            points = logged.filter { $0.step <= run.completedUnits }.map { (Double($0.step), $0.value) }
        }
    }

    public func record(_ step: TrainingStepRecord) throws {
        if let value = step.metrics[metric] { points.append((Double(step.units), value)) }
    }

    public func trainingDidEnd(_ run: TrainingRunState, outcome: TrainingOutcome) throws {
        let plot = LinePlot(title: title, xLabel: xLabel, yLabel: yLabel, series: [PlotSeries(name: "", points: points)],
                            reference: reference)
        try plot.svg().write(to: url, atomically: true, encoding: .utf8)
    }
}
