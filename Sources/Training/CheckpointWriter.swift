import Foundation
import NeuralNetworks

/// Writes checkpoints one after another on a background queue. A checkpoint is a snapshot (its tensors are copies), so
/// training goes on while the file is written, flushed and renamed into place instead of waiting for the disk. A failed
/// write is reported by the next `write` or `wait`.
public final class CheckpointWriter: @unchecked Sendable {
    private let queue = DispatchQueue(label: "proxima.checkpoint-writer")
    private var failure: Error?  // touched only on `queue`

    public init() {}

    private struct Job: @unchecked Sendable {
        let checkpoint: TrainingCheckpoint
        let url: URL
    }

    /// Queues `checkpoint` for writing to `url`, after throwing the failure of an earlier write, if any.
    public func write(_ checkpoint: TrainingCheckpoint, to url: URL) throws {
        try queue.sync { if let failure { self.failure = nil; throw failure } }
        let job = Job(checkpoint: checkpoint, url: url)
        queue.async {
            do { try job.checkpoint.write(to: job.url) } catch { self.failure = self.failure ?? error }
        }
    }

    /// Waits until every queued checkpoint is written; throws the first failure.
    public func wait() throws {
        try queue.sync { if let failure { self.failure = nil; throw failure } }
    }
}
