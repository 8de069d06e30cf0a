import Foundation

/// The returns and lengths of the most recent finished episodes (oldest first, at most `capacity`) and how many
/// episodes finished in all: what `RecordEpisodeStatistics` and the rollout collector report as
/// `rollout/ep_rew_mean`.
public struct EpisodeHistory: Equatable, Sendable {
    public let capacity: Int
    public private(set) var returns: [Double] = []
    public private(set) var lengths: [Int] = []
    /// Episodes finished since the start (not only those kept).
    public private(set) var total = 0

    public init(capacity: Int = 100) { self.capacity = Swift.max(1, capacity) }

    /// A history saved earlier (checkpoints).
    public init(capacity: Int = 100, returns: [Double], lengths: [Int], total: Int) {
        self.init(capacity: capacity)
        self.returns = Array(returns.suffix(self.capacity))
        self.lengths = Array(lengths.suffix(self.capacity))
        self.total = total
    }

    public mutating func append(return value: Double, length: Int) {
        returns.append(value)
        lengths.append(length)
        total += 1
        if returns.count > capacity {
            returns.removeFirst()
            lengths.removeFirst()
        }
    }

    /// The mean of the kept returns, nil before the first episode ends.
    public var meanReturn: Double? { returns.isEmpty ? nil : returns.reduce(0, +) / Double(returns.count) }

    /// The mean of the kept lengths, nil before the first episode ends.
    public var meanLength: Double? { lengths.isEmpty ? nil : Double(lengths.reduce(0, +)) / Double(lengths.count) }
}
