import Foundation
import Torch

/// Rollout data laid out time-major: `T` steps of `N` environments, element `[t * N + n]`.
public struct TimeMajor<Element> {
    public var values: [Element]
    public let steps: Int
    public let environments: Int

    public init(_ values: [Element], steps: Int, environments: Int) {
        precondition(values.count == steps * environments, "expected \(steps)×\(environments) values, got \(values.count)")
        self.values = values
        self.steps = steps
        self.environments = environments
    }

    public subscript(t: Int, n: Int) -> Element {
        get { values[t * environments + n] }
        set { values[t * environments + n] = newValue }
    }
}

/// Generalised advantage estimation with terminated/truncated episodes (ALGORITHMS-rl A1): terminated steps
/// bootstrap 0, truncated ones `truncationValues` (the critic on the true final observation), the last step
/// `lastValues`; the recursion is cut after every done step. Returns (advantages, returns = advantages + values).
public func generalizedAdvantages(rewards: TimeMajor<Double>, values: TimeMajor<Double>, terminated: TimeMajor<Bool>,
                                  truncated: TimeMajor<Bool>, lastValues: [Double], truncationValues: TimeMajor<Double>,
                                  gamma: Double, lambda: Double) -> (advantages: TimeMajor<Double>, returns: TimeMajor<Double>) {
    let steps = rewards.steps, envs = rewards.environments
    var advantages = TimeMajor([Double](repeating: 0, count: steps * envs), steps: steps, environments: envs)
    for n in 0..<envs {
        var next = 0.0
        for t in stride(from: steps - 1, through: 0, by: -1) {
            let done = terminated[t, n] || truncated[t, n]
            let nextValue = terminated[t, n] ? 0 : truncated[t, n] ? truncationValues[t, n] : t == steps - 1 ? lastValues[n] : values[t + 1, n]
            let delta = rewards[t, n] + gamma * nextValue - values[t, n]
            next = delta + gamma * lambda * (done ? 0 : 1) * next
            advantages[t, n] = next
        }
    }
    var returns = advantages
    for i in returns.values.indices { returns.values[i] += values.values[i] }
    return (advantages, returns)
}

/// Discounted returns with the same bootstrap rule (λ = 1, no values): G_t = r_t + γ·G_next.
public func discountedReturns(rewards: TimeMajor<Double>, terminated: TimeMajor<Bool>, truncated: TimeMajor<Bool>,
                              lastValues: [Double], truncationValues: TimeMajor<Double>, gamma: Double) -> TimeMajor<Double> {
    let steps = rewards.steps, envs = rewards.environments
    var returns = TimeMajor([Double](repeating: 0, count: steps * envs), steps: steps, environments: envs)
    for n in 0..<envs {
        for t in stride(from: steps - 1, through: 0, by: -1) {
            let next = terminated[t, n] ? 0 : truncated[t, n] ? truncationValues[t, n] : t == steps - 1 ? lastValues[n] : returns[t + 1, n]
            returns[t, n] = rewards[t, n] + gamma * next
        }
    }
    return returns
}

/// (A − mean) / (std + ε) over the elements where `mask` is 1 (all when nil); unbiased std unless `unbiased` is
/// false. Mean first, then the variance as the mean squared deviation (two passes).
public func normalizeAdvantages(_ advantages: Tensor, mask: Tensor? = nil, eps: Double = 1e-8, unbiased: Bool = true) -> Tensor {
    guard let m = mask else {
        return (advantages - advantages.mean()) / (advantages.std(correction: unbiased ? 1 : 0) + eps)
    }
    let count = m.sum()
    let mean = (advantages * m).sum() / count
    let squared = ((advantages - mean).square() * m).sum()
    let variance = squared / (unbiased ? count - 1 : count)
    return (advantages - mean) / (variance.sqrt() + eps)
}

/// Masked whitening (TRL / PPO-RLHF, ALGORITHMS-rl A2): mean and (optionally unbiased) variance over `mask = 1`,
/// (x − mean)/√(var + ε), the mean added back unless `shiftMean`, padded positions set to 0.
public func maskedWhiten(_ values: Tensor, mask: Tensor, shiftMean: Bool = true, unbiased: Bool = false, eps: Double = 1e-8) -> Tensor {
    let count = mask.sum()
    let mean = (values * mask).sum() / count
    var variance = ((values - mean).square() * mask).sum() / count
    if unbiased { variance = variance * count / (count - 1) }
    var whitened = (values - mean) * (variance + eps).rsqrt()
    if !shiftMean { whitened = whitened + mean }
    return whitened * mask
}

/// Sum over masked positions divided by the number of them (mean over all when `mask` is nil).
@inline(__always)
func maskedMean(_ x: Tensor, _ mask: Tensor?) -> Tensor {
    guard let mask else { return x.mean() }
    return (x * mask).sum() / mask.sum()
}

/// 1 − Var(returns − values) / Var(returns): how much of the return variance the critic explains.
public func explainedVariance(predictions: [Double], targets: [Double]) -> Double {
    let n = Double(targets.count)
    guard n > 1 else { return .nan }
    let mean = targets.reduce(0, +) / n
    let variance = targets.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / n
    let residual = zip(targets, predictions).map { $0 - $1 }
    let residualMean = residual.reduce(0, +) / n
    let residualVariance = residual.map { ($0 - residualMean) * ($0 - residualMean) }.reduce(0, +) / n
    return variance == 0 ? .nan : 1 - residualVariance / variance
}
