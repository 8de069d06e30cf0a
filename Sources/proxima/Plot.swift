import ArgumentParser
import Foundation
import Tracking
import Training

/// `proxima plot RUN...`: SVG learning curves of one or more runs; runs of the same algorithm and environment are
/// drawn as mean ± std across seeds.
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Plot a metric of one or more runs as an SVG line chart.")

    @Argument(help: "Run directories.") var runs: [String]
    @Option(help: "Metric name.") var metric = "rollout/ep_rew_mean"
    @Option(help: "Moving-average window (points).") var smooth = 1
    @Option(help: "Output file.") var out = "plot.svg"
    @Flag(help: "Draw every run separately instead of grouping seeds.") var separate = false

    func validate() throws {
        if runs.isEmpty { throw ValidationError("give at least one run directory") }
        if smooth < 1 { throw ValidationError("--smooth must be at least 1, got \(smooth)") }
    }

    func run() throws {
        try checkOutput(out, flag: "--out", inputs: runs.flatMap(inputFiles))
        var groups: [(String, [[(x: Double, y: Double)]])] = []
        for run in runs {
            let url = URL(fileURLWithPath: run)
            let series: [String: [(step: Int, value: Double)]]
            do { series = try readMetrics(url) } catch let error as TrackingError { throw UserError(message: error.description) }
            guard let points = series[metric] else {
                throw UserError(message: "\(run): no metric '\(metric)' (available: \(series.keys.sorted().joined(separator: ", ")))")
            }
            let facts = (try? JSONSerialization.jsonObject(with: Data(contentsOf: url.appendingPathComponent("run.json")))) as? [String: Any]
            let label = separate ? url.lastPathComponent : [facts?["algorithm"] as? String, facts?["env"] as? String].compactMap { $0 }.joined(separator: " ")
            let line = PlotSeries.smoothed(points.map { (Double($0.step), $0.value) }, window: smooth)
            if let i = groups.firstIndex(where: { $0.0 == label }), !separate { groups[i].1.append(line) } else { groups.append((label.isEmpty ? url.lastPathComponent : label, [line])) }
        }
        let series = groups.map { PlotSeries.aggregate(name: $0.0, runs: $0.1) }
        let plot = LinePlot(title: metric, xLabel: "environment steps", yLabel: metric + (smooth > 1 ? " (smoothed over \(smooth))" : ""), series: series)
        try writeOutput(plot.svg(), to: out)
        print("wrote \(out) (\(runs.count) run(s), \(series.count) line(s))")
    }
}
