import Foundation

/// How a hyperparameter (the learning rate above all) changes over training: `factor(at:of:)` multiplies its base
/// value. Step `i` (0-based) is the i-th optimizer step (language-model trainers, as transformers' schedules define it)
/// or the i-th update (on-policy RL); the total is given when the value is read, so a configuration can name a
/// schedule before the length of training is known.
public enum Schedule: Codable, Equatable, Sendable {
    case constant
    /// From 1 at step 0 down to 0 at the last step. On-policy RL reads it after each rollout with step = updates
    /// done, which is Stable-Baselines3's `progress_remaining` (RL Zoo's `lin_<value>`).
    case linear
    /// Linear warm-up from 0 over `warmupSteps`, then linear decay to 0 at the total.
    case linearWarmup(warmupSteps: Int)
    /// Linear warm-up from 0 over `warmupSteps`, then constant (transformers' `constant_with_warmup`).
    case constantWarmup(warmupSteps: Int)
    /// Linear warm-up, then half a cosine (`cycles` = 0.5) from 1 to 0 at the total.
    case cosineWarmup(warmupSteps: Int, cycles: Double = 0.5)
    /// Multiply by `gamma` every `stepSize` steps.
    case stepDecay(stepSize: Int, gamma: Double)

    /// The factor at `step` of a run of `totalSteps` steps.
    public func factor(at step: Int, of totalSteps: Int) -> Double {
        switch self {
        case .constant:
            return 1
        case .linear:
            return Swift.max(0, 1 - Double(step) / Double(Swift.max(1, totalSteps)))
        case .linearWarmup(let warmup):
            if step < warmup { return Double(step) / Double(Swift.max(1, warmup)) }
            return Swift.max(0, Double(totalSteps - step) / Double(Swift.max(1, totalSteps - warmup)))
        case .constantWarmup(let warmup):
            return step < warmup ? Double(step) / Double(Swift.max(1, warmup)) : 1
        case .cosineWarmup(let warmup, let cycles):
            if step < warmup { return Double(step) / Double(Swift.max(1, warmup)) }
            let progress = Double(step - warmup) / Double(Swift.max(1, totalSteps - warmup))
            return Swift.max(0, 0.5 * (1 + Foundation.cos(Double.pi * cycles * 2 * progress)))
        case .stepDecay(let size, let gamma):
            return Foundation.pow(gamma, Double(step / Swift.max(1, size)))
        }
    }
}

/// A hyperparameter with a base value and a schedule: `base × schedule.factor(at:of:)`. Files write a constant as a
/// number and a linear decay as RL Zoo's `lin_<base>`.
public struct ScheduledValue: Codable, Equatable, Sendable, CustomStringConvertible, ExpressibleByFloatLiteral {
    public var base: Double
    public var schedule: Schedule

    public init(_ base: Double, schedule: Schedule = .constant) {
        self.base = base
        self.schedule = schedule
    }

    public init(floatLiteral value: Double) { self.init(value) }

    /// RL Zoo's linear decay to 0 from `base`.
    public static func linear(_ base: Double) -> ScheduledValue { ScheduledValue(base, schedule: .linear) }

    /// The value at `step` of `totalSteps`.
    public func value(at step: Int, of totalSteps: Int) -> Double { base * schedule.factor(at: step, of: totalSteps) }

    /// A number, or `lin_<number>`; nil for anything else.
    public init?(text: String) {
        if let d = Double(text) { self.init(d); return }
        if text.hasPrefix("lin_"), let d = Double(text.dropFirst(4)) { self = .linear(d); return }
        return nil
    }

    public var description: String {
        switch schedule {
        case .constant: return "\(base)"
        case .linear: return "lin_\(base)"
        default: return "\(base) (\(schedule))"
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let d = try? c.decode(Double.self) { self.init(d); return }
        let s = try c.decode(String.self)
        guard let v = ScheduledValue(text: s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected a number or lin_<number>, got \(s)")
        }
        self = v
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch schedule {
        case .constant: try c.encode(base)
        default: try c.encode(description)
        }
    }
}
