import ArgumentParser
import Foundation
import Tracking

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
        try plot.svg().write(toFile: out, atomically: true, encoding: .utf8)
        print("wrote \(out) (\(runs.count) run(s), \(series.count) line(s))")
    }
}

/// `proxima runs [DIR]`: a table of the runs under a directory.
struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List runs with algorithm, environment, steps, best and last return.")

    @Argument(help: "Directory holding run directories.") var directory = "runs"

    func run() throws {
        let root = URL(fileURLWithPath: directory)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root.path) else {
            throw UserError(message: "\(directory): no such directory")
        }
        var rows: [[String]] = [["run", "algorithm", "env", "steps", "best return", "last return", "status"]]
        for name in names.sorted() {
            let facts = root.appendingPathComponent(name).appendingPathComponent("run.json")
            guard let object = (try? JSONSerialization.jsonObject(with: Data(contentsOf: facts))) as? [String: Any] else { continue }
            func number(_ key: String) -> String { (object[key] as? Double).map { String(format: "%.1f", $0) } ?? "-" }
            rows.append([name, object["algorithm"] as? String ?? "-", object["env"] as? String ?? "-",
                         "\(object["steps"] as? Int ?? 0)/\(object["total_steps"] as? Int ?? 0)", number("best_return"), number("last_return"),
                         object["status"] as? String ?? "-"])
        }
        if rows.count == 1 { print("no runs in \(directory)"); return }
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max()! }
        for row in rows { print(row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")) }
    }
}
