import Foundation

/// The set of valid observations or actions, as Gymnasium's spaces.
public enum Space: Equatable, Codable, CustomStringConvertible, Sendable {
    /// Integers `start ..< start + n`.
    case discrete(n: Int, start: Int = 0)
    /// Real vectors with element-wise bounds (infinite bounds allowed).
    case box(low: [Double], high: [Double], shape: [Int], dtype: BoxDType = .float32)
    /// One integer per entry, entry i in `0 ..< nvec[i]`.
    case multiDiscrete(nvec: [Int])
    /// A vector of n bits.
    case multiBinary(n: Int)

    public enum BoxDType: String, Codable, Sendable { case float32, float64 }

    /// A box with the same bounds everywhere.
    public static func box(low: Double, high: Double, shape: [Int], dtype: BoxDType = .float32) -> Space {
        let n = shape.reduce(1, *)
        return .box(low: Array(repeating: low, count: n), high: Array(repeating: high, count: n), shape: shape, dtype: dtype)
    }

    /// Number of scalars in one element (1 for `discrete`).
    public var flatSize: Int {
        switch self {
        case .discrete: return 1
        case .box(_, _, let shape, _): return shape.reduce(1, *)
        case .multiDiscrete(let nvec): return nvec.count
        case .multiBinary(let n): return n
        }
    }

    public var shape: [Int] {
        switch self {
        case .discrete: return []
        case .box(_, _, let shape, _): return shape
        case .multiDiscrete(let nvec): return [nvec.count]
        case .multiBinary(let n): return [n]
        }
    }

    /// A uniformly drawn element (bounded box dimensions uniform, unbounded ones normal, half-bounded exponential,
    /// as Gymnasium does), flattened to doubles.
    public func sample<G: RandomNumberGenerator>(using generator: inout G) -> Action {
        switch self {
        case .discrete(let n, let start): return .discrete(start + Int.random(in: 0..<n, using: &generator))
        case .box(let low, let high, _, _):
            return .continuous(zip(low, high).map { lo, hi in
                switch (lo.isFinite, hi.isFinite) {
                case (true, true): return lo == hi ? lo : Double.random(in: lo..<hi, using: &generator)
                case (true, false): return lo - Foundation.log(1 - Double.random(in: 0..<1, using: &generator))
                case (false, true): return hi + Foundation.log(1 - Double.random(in: 0..<1, using: &generator))
                case (false, false):
                    let u1 = Swift.max(Double.random(in: 0..<1, using: &generator), .leastNonzeroMagnitude)
                    return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * .pi * Double.random(in: 0..<1, using: &generator))
                }
            })
        case .multiDiscrete(let nvec): return .multiDiscrete(nvec.map { Int.random(in: 0..<$0, using: &generator) })
        case .multiBinary(let n): return .multiDiscrete((0..<n).map { _ in Int.random(in: 0...1, using: &generator) })
        }
    }

    /// Whether `action` is an element of this space.
    public func contains(_ action: Action) -> Bool {
        switch (self, action) {
        case (.discrete(let n, let start), .discrete(let a)): return a >= start && a < start + n
        case (.box(let low, let high, _, _), .continuous(let values)):
            return values.count == low.count && zip(values, zip(low, high)).allSatisfy { v, b in v >= b.0 && v <= b.1 }
        case (.multiDiscrete(let nvec), .multiDiscrete(let values)):
            return values.count == nvec.count && zip(values, nvec).allSatisfy { $0 >= 0 && $0 < $1 }
        case (.multiBinary(let n), .multiDiscrete(let values)):
            return values.count == n && values.allSatisfy { $0 == 0 || $0 == 1 }
        default: return false
        }
    }

    /// Whether a flat observation vector lies in this (box) space.
    public func contains(observation: [Float]) -> Bool {
        guard case .box(let low, let high, _, _) = self, observation.count == low.count else { return false }
        return zip(observation, zip(low, high)).allSatisfy { v, b in Double(v) >= b.0 && Double(v) <= b.1 }
    }

    public var description: String {
        switch self {
        case .discrete(let n, let start): return start == 0 ? "Discrete(\(n))" : "Discrete(\(n), start=\(start))"
        case .box(let low, let high, let shape, let dtype):
            func bound(_ v: [Double]) -> String { Set(v).count == 1 ? "\(v[0])" : "\(v)" }
            return "Box(\(bound(low)), \(bound(high)), \(shape), \(dtype.rawValue))"
        case .multiDiscrete(let nvec): return "MultiDiscrete(\(nvec))"
        case .multiBinary(let n): return "MultiBinary(\(n))"
        }
    }
}

/// An action: an integer for `Discrete`, a real vector for `Box`, integers for `MultiDiscrete` / `MultiBinary`.
public enum Action: Equatable, CustomStringConvertible, Sendable {
    case discrete(Int)
    case continuous([Double])
    case multiDiscrete([Int])

    public var description: String {
        switch self {
        case .discrete(let a): return "\(a)"
        case .continuous(let v): return "\(v)"
        case .multiDiscrete(let v): return "\(v)"
        }
    }

    /// The action as a flat list of doubles (for buffers).
    public var values: [Double] {
        switch self {
        case .discrete(let a): return [Double(a)]
        case .continuous(let v): return v
        case .multiDiscrete(let v): return v.map(Double.init)
        }
    }
}
