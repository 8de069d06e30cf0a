import Foundation
import Torch

/// Running mean and variance with Gymnasium's parallel update (count starts at `epsilon`, variance at 1).
public struct RunningMeanStd: Codable, Equatable, Sendable {
    public var mean: [Double]
    public var variance: [Double]
    public var count: Double

    public init(size: Int, epsilon: Double = 1e-4) {
        mean = Array(repeating: 0, count: size)
        variance = Array(repeating: 1, count: size)
        count = epsilon
    }

    /// Mean, variance and count in one float64 vector, for checkpoints.
    public var tensor: Tensor { Tensor(mean + variance + [count]) }

    /// Statistics saved as `tensor`.
    public init(tensor: Tensor) throws {
        let v = tensor.doubles
        guard v.count >= 3, v.count % 2 == 1 else {
            throw EnvironmentError.invalidArgument("running statistics need 2n + 1 values (mean, variance, count), got \(v.count)")
        }
        let n = (v.count - 1) / 2
        mean = Array(v[0..<n])
        variance = Array(v[n..<(2 * n)])
        count = v[2 * n]
    }

    /// Folds in one sample.
    public mutating func update(_ x: [Double]) { update(batchMean: x, batchVariance: Array(repeating: 0, count: x.count), batchCount: 1) }

    /// Folds in a batch given by its mean, population variance and size.
    public mutating func update(batchMean: [Double], batchVariance: [Double], batchCount: Double) {
        let total = count + batchCount
        for i in mean.indices {
            let delta = batchMean[i] - mean[i]
            let m2 = variance[i] * count + batchVariance[i] * batchCount + delta * delta * count * batchCount / total
            mean[i] += delta * batchCount / total
            variance[i] = m2 / total
        }
        count = total
    }
}

/// The one observation normaliser: clip((obs − mean) / √(var + ε), ±clip) with running statistics. The on-policy
/// trainers use it for a whole vector of environments (Stable-Baselines3's `VecNormalize`, clip 10); the
/// `NormalizeObservation` wrapper uses it for one environment without clipping (Gymnasium's wrapper).
public struct ObservationNormalizer: Codable, Equatable, Sendable {
    public var statistics: RunningMeanStd
    public var clip: Double
    public var epsilon: Double

    public init(size: Int, clip: Double = 10, epsilon: Double = 1e-8) {
        statistics = RunningMeanStd(size: size)
        self.clip = clip
        self.epsilon = epsilon
    }

    /// Folds a row-major [rows × size] batch into the statistics.
    public mutating func update(_ batch: [Float], rows: Int) {
        let size = statistics.mean.count
        var mean = [Double](repeating: 0, count: size), variance = [Double](repeating: 0, count: size)
        for r in 0..<rows { for i in 0..<size { mean[i] += Double(batch[r * size + i]) } }
        for i in 0..<size { mean[i] /= Double(rows) }
        for r in 0..<rows { for i in 0..<size { let d = Double(batch[r * size + i]) - mean[i]; variance[i] += d * d } }
        for i in 0..<size { variance[i] /= Double(rows) }
        statistics.update(batchMean: mean, batchVariance: variance, batchCount: Double(rows))
    }

    /// Normalises a row-major batch (any number of rows) with the current statistics.
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
