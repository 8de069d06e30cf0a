import ArgumentParser
import Foundation
import Tracking

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
