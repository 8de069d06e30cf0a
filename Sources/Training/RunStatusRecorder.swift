import Foundation
import Torch
import Tracking

/// Keeps `run.json` in `directory` current: status (`running`, `finished`, `stopped: …`, `interrupted`,
/// `failed: …`), steps and updates done, the planned total, the time, and the facts the trainer adds (algorithm,
/// seed, versions, latest returns). Written atomically at the start, the end and on failure.
public final class RunStatusRecorder: TrainingRecorder {
    public let directory: URL
    let facts: () -> [String: Any]

    public init(directory: URL, facts: @escaping () -> [String: Any]) {
        self.directory = directory
        self.facts = facts
    }

    func write(_ run: TrainingRunState, status: String) throws {
        var object = facts()
        object["status"] = status
        object["steps"] = run.completedUnits
        object["updates"] = run.completedSteps
        object["total_steps"] = run.plannedUnits
        object["updated_at"] = ISO8601DateFormatter().string(from: Date())
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try AtomicFile.write(data, to: directory.appendingPathComponent("run.json"))
    }

    public func trainingWillStart(_ run: TrainingRunState) throws { try write(run, status: "running") }

    public func trainingDidEnd(_ run: TrainingRunState, outcome: TrainingOutcome) throws { try write(run, status: outcome.status) }

    public func trainingDidFail(_ run: TrainingRunState, error: Error) { try? write(run, status: "failed: \(error)") }
}
