import Foundation
import Torch

/// Why training could not start or go on: a loss that is not finite (the run's last good checkpoint stays in
/// place), a run directory another process is writing, a file-system failure.
public enum TrainingError: ProximaError {
    case nonFiniteLoss(step: Int, losses: [String: Double])
    /// Another process holds the run directory's lock (`holder`: its process id, when known).
    case directoryInUse(path: String, holder: String)
    /// A file or directory could not be written or read; `reason` is the operating system's, in words.
    case fileSystem(path: String, reason: String)

    public var description: String {
        switch self {
        case .nonFiniteLoss(let step, let losses):
            let detail = losses.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }.joined(separator: ", ")
            return "non-finite loss in step \(step) (\(detail)); training stopped, the last good checkpoint is kept"
        case .directoryInUse(let path, let holder):
            let who = holder.isEmpty ? "another process" : "another process (pid \(holder))"
            return "\(path) is being written by \(who); wait for it to finish or stop it first"
        case .fileSystem(let path, let reason):
            return "\(path): \(reason)"
        }
    }

    /// Throws `nonFiniteLoss` when `loss` is NaN or infinite; `parts` (the loss's components, for the message) is
    /// evaluated only then.
    public static func checkFinite(_ loss: Double, parts: @autoclosure () -> [String: Double], step: Int) throws {
        guard loss.isFinite else { throw nonFiniteLoss(step: step, losses: parts().merging(["loss": loss]) { $1 }) }
    }
}
