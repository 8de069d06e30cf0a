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
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
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
