/// The environments' random number generator: xoshiro256** seeded through SplitMix64. Its whole state is four
/// integers, so it can be saved in checkpoints and restored to continue the identical stream.
public struct EnvironmentRandom: RandomNumberGenerator, Codable, Equatable, Sendable {
    public var state: [UInt64]

    public init(seed: UInt64) {
        var s = seed
        func splitMix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = [splitMix(), splitMix(), splitMix(), splitMix()]
    }

    public mutating func next() -> UInt64 {
        let result = rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = rotl(state[3], 45)
        return result
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [low, high).
    public mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * Double(next() >> 11) * 0x1.0p-53
    }

    /// Standard normal (Box–Muller).
    public mutating func normal() -> Double {
        let u1 = Swift.max(uniform(0, 1), Double.leastNonzeroMagnitude)
        let u2 = uniform(0, 1)
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
    }

    /// A fresh seed derived from this stream (for seeding sub-environments).
    public mutating func nextSeed() -> UInt64 { next() }
}

import Foundation
@inline(__always) func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Foundation.cos(x) }
