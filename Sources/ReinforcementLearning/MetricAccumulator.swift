import Foundation

/// Averages of per-minibatch diagnostics.
struct MetricAccumulator {
    private var sums: [String: Double] = [:]
    private var counts: [String: Int] = [:]

    mutating func add(_ name: String, _ value: Double) {
        sums[name, default: 0] += value
        counts[name, default: 0] += 1
    }

    var means: [String: Double] { sums.reduce(into: [:]) { $0[$1.key] = $1.value / Double(counts[$1.key]!) } }
}
