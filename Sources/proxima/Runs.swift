import ArgumentParser
import Foundation
import NeuralNetworks
import ReinforcementLearning
import Tracking
import Training

/// `proxima runs [DIR]`: a table of the runs under a directory.
struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List runs with algorithm, environment, steps, best and last return, and status.")

    @Argument(help: "Directory holding run directories.") var directory = "runs"

    func run() throws {
        let root = URL(fileURLWithPath: directory)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root.path) else {
            throw UserError(message: "\(directory): no such directory")
        }
        var rows: [[String]] = [["run", "algorithm", "env", "steps", "best return", "last return", "status"]]
        for name in names.sorted() {
            let url = root.appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            rows.append(Self.row(name: name, run: RunDirectory(url)))
        }
        if rows.count == 1 { print("no runs in \(directory)"); return }
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max()! }
        for row in rows { print(row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")) }
    }

    /// One run's row. A run whose `run.json` says running but whose lock nobody holds was killed: its progress is
    /// its last checkpoint's.
    static func row(name: String, run: RunDirectory) -> [String] {
        let factsURL = run.url.appendingPathComponent("run.json")
        guard let data = try? Data(contentsOf: factsURL) else { return [name, "-", "-", "-", "-", "-", "unreadable: no run.json"] }
        guard let facts = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            return [name, "-", "-", "-", "-", "-", "unreadable: run.json is not a JSON object"]
        }
        func number(_ key: String) -> String { (facts[key] as? Double).map { String(format: "%.1f", $0) } ?? "-" }
        let total = facts["total_steps"] as? Int ?? 0
        var steps = facts["steps"] as? Int ?? 0
        var status = facts["status"] as? String ?? "-"
        if status == "running" {
            if run.isInUse {
                // Live: the newest logged step is fresher than run.json, which is written at the start and the end.
                if let last = lastLoggedStep(run.url) { steps = max(steps, last) }
            } else if let checkpoint = try? TrainingCheckpoint.read(from: run.checkpointURL), let saved = checkpoint.counters["steps"] {
                steps = saved
                status = "killed at step \(saved), resumable"
            } else {
                steps = 0
                status = "killed before its first checkpoint, resumable from the start"
            }
        }
        return [name, facts["algorithm"] as? String ?? "-", facts["env"] as? String ?? "-", "\(steps)/\(total)",
                number("best_return"), number("last_return"), status]
    }

    /// The step of the last whole line of `metrics.jsonl`.
    static func lastLoggedStep(_ directory: URL) -> Int? {
        guard let text = try? String(contentsOf: directory.appendingPathComponent("metrics.jsonl"), encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n").reversed() {
            if let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any], let step = object["step"] as? Int {
                return step
            }
        }
        return nil
    }
}
