import Foundation
import NeuralNetworks

/// Keeps the run's complete state in one checkpoint file, rewritten every `interval` steps, after the last step and
/// on Ctrl-C. The write happens in the background and replaces the file atomically, so a crash at any moment leaves
/// the previous checkpoint intact. Attaching one also makes Ctrl-C stop training cleanly (see `TrainingLoop`).
public final class CheckpointRecorder: TrainingRecorder {
    public let url: URL
    /// Steps between checkpoints.
    public let interval: Int
    /// The step of the most recently scheduled checkpoint (nil before the first).
    public private(set) var lastScheduledStep: Int?
    let writer = CheckpointWriter()

    public init(url: URL, interval: Int) {
        self.url = url
        self.interval = Swift.max(1, interval)
    }

    public func trainingWillStart(_ run: TrainingRunState) throws {
        let directory = url.deletingLastPathComponent()
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw TrainingError.fileSystem(path: directory.path, reason: describe(error))
        }
        // Temporary files of writes a kill interrupted (the checkpoint they were to replace is intact).
        let prefix = ".\(url.lastPathComponent).tmp-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] where name.hasPrefix(prefix) {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        }
        lastScheduledStep = run.completedSteps
    }

    /// Queues `checkpoint` (the state after `step`) for writing; reports an earlier failed write.
    public func schedule(_ checkpoint: TrainingCheckpoint, step: Int) throws {
        try writer.write(checkpoint, to: url)
        lastScheduledStep = step
    }

    /// Returns once every queued checkpoint is on disk.
    public func wait() throws { try writer.wait() }
}
