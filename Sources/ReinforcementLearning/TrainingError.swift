import Foundation

/// Why training stopped early.
public enum TrainingError: Error, CustomStringConvertible {
    case nonFiniteLoss(update: Int, losses: [String: Double])

    public var description: String {
        switch self {
        case .nonFiniteLoss(let update, let losses):
            let detail = losses.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }.joined(separator: ", ")
            return "non-finite loss in update \(update) (\(detail)); training stopped, the last good checkpoint is kept"
        }
    }
}
