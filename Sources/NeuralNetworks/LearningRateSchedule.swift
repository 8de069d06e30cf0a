import Foundation

/// How the learning rate changes with the optimizer step. `factor(at:)` multiplies the base rate; step `i` is the
/// rate used by the i-th optimizer step (0-based), as transformers' schedules define it.
public enum LearningRateSchedule: Codable, Equatable, Sendable {
    case constant
    /// From 1 down to 0 over `totalSteps` — also PPO's annealing by progress remaining, 1 − (update−1)/updates,
    /// with `step = update − 1` and `totalSteps = updates`.
    case linear(totalSteps: Int)
    /// Linear warm-up from 0 over `warmupSteps`, then linear decay to 0 at `totalSteps`.
    case linearWarmup(warmupSteps: Int, totalSteps: Int)
    /// Linear warm-up, then half a cosine (`cycles` = 0.5) from 1 to 0 at `totalSteps`.
    case cosineWarmup(warmupSteps: Int, totalSteps: Int, cycles: Double = 0.5)
    /// Multiply by `gamma` every `stepSize` steps.
    case stepDecay(stepSize: Int, gamma: Double)

    public func factor(at step: Int) -> Double {
        switch self {
        case .constant:
            return 1
        case .linear(let total):
            return Swift.max(0, 1 - Double(step) / Double(Swift.max(1, total)))
        case .linearWarmup(let warmup, let total):
            if step < warmup { return Double(step) / Double(Swift.max(1, warmup)) }
            return Swift.max(0, Double(total - step) / Double(Swift.max(1, total - warmup)))
        case .cosineWarmup(let warmup, let total, let cycles):
            if step < warmup { return Double(step) / Double(Swift.max(1, warmup)) }
            let progress = Double(step - warmup) / Double(Swift.max(1, total - warmup))
            return Swift.max(0, 0.5 * (1 + Foundation.cos(Double.pi * cycles * 2 * progress)))
        case .stepDecay(let size, let gamma):
            return Foundation.pow(gamma, Double(step / Swift.max(1, size)))
        }
    }

    /// The learning rate at `step` for base rate `base`.
    public func rate(base: Double, at step: Int) -> Double { base * factor(at: step) }
}
