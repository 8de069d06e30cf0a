import Environments
import Foundation
import Torch

/// Observation normalisation shared by all environments of a vector (Stable-Baselines3's `VecNormalize`):
/// clip((obs − mean) / √(var + ε), ±clip), statistics updated with every batch of observations while training.
public struct ObservationNormalizer: Codable, Equatable, Sendable {
    public var statistics: RunningMeanStd
    public var clip = 10.0
    public var epsilon = 1e-8

    public init(size: Int) { statistics = RunningMeanStd(size: size) }

    /// Folds a row-major [n × size] batch into the statistics.
    public mutating func update(_ batch: [Float], rows: Int) {
        let size = statistics.mean.count
        var mean = [Double](repeating: 0, count: size), variance = [Double](repeating: 0, count: size)
        for r in 0..<rows { for i in 0..<size { mean[i] += Double(batch[r * size + i]) } }
        for i in 0..<size { mean[i] /= Double(rows) }
        for r in 0..<rows { for i in 0..<size { let d = Double(batch[r * size + i]) - mean[i]; variance[i] += d * d } }
        for i in 0..<size { variance[i] /= Double(rows) }
        statistics.update(batchMean: mean, batchVariance: variance, batchCount: Double(rows))
    }

    public func normalize(_ batch: [Float]) -> [Float] {
        let size = statistics.mean.count
        let scale = statistics.variance.map { 1 / ($0 + epsilon).squareRoot() }
        return batch.indices.map { j in
            let i = j % size
            return Float(Swift.min(clip, Swift.max(-clip, (Double(batch[j]) - statistics.mean[i]) * scale[i])))
        }
    }
}

/// Reward scaling by the running std of each environment's discounted return (`VecNormalize`): returns ← γ·returns + r,
/// reward / √(var + ε) clipped to ±clip, a finished episode's return reset to 0.
public struct RewardNormalizer: Codable, Equatable, Sendable {
    public var statistics = RunningMeanStd(size: 1)
    public var returns: [Double]
    public var gamma: Double
    public var clip = 10.0
    public var epsilon = 1e-8

    public init(environments: Int, gamma: Double) {
        returns = Array(repeating: 0, count: environments)
        self.gamma = gamma
    }

    public mutating func normalize(_ rewards: [Double], done: [Bool], update: Bool) -> [Double] {
        if update {
            for i in returns.indices { returns[i] = returns[i] * gamma + rewards[i] }
            let mean = returns.reduce(0, +) / Double(returns.count)
            let variance = returns.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(returns.count)
            statistics.update(batchMean: [mean], batchVariance: [variance], batchCount: Double(returns.count))
        }
        let scale = 1 / (statistics.variance[0] + epsilon).squareRoot()
        let out = rewards.map { Swift.min(clip, Swift.max(-clip, $0 * scale)) }
        for i in returns.indices where done[i] { returns[i] = 0 }
        return out
    }
}
