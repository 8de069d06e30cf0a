import Foundation
import Torch

/// Why training stopped with an error: a loss that is not finite. The run's last good checkpoint stays in place.
public enum TrainingError: ProximaError {
    case nonFiniteLoss(step: Int, losses: [String: Double])

    public var description: String {
        switch self {
        case .nonFiniteLoss(let step, let losses):
            let detail = losses.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }.joined(separator: ", ")
            return "non-finite loss in step \(step) (\(detail)); training stopped, the last good checkpoint is kept"
        }
    }

    /// Throws `nonFiniteLoss` when `loss` is NaN or infinite; `parts` (the loss's components, for the message) is
    /// evaluated only then.
    public static func checkFinite(_ loss: Double, parts: @autoclosure () -> [String: Double], step: Int) throws {
        guard loss.isFinite else { throw nonFiniteLoss(step: step, losses: parts().merging(["loss": loss]) { $1 }) }
    }
}
