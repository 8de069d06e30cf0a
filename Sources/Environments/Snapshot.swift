import Foundation

/// An environment whose complete state — physics, random generator, counters — can be saved as integers and put
/// back exactly, so that a resumed training run continues the identical trajectory. Doubles are stored by bit
/// pattern.
public protocol SnapshotEnvironment: AnyObject {
    func snapshot() -> [Int64]
    /// Restores from the front of `snapshot`, consuming what `snapshot()` wrote.
    func restore(from snapshot: inout ArraySlice<Int64>) throws
}

extension Double {
    var bits: Int64 { Int64(bitPattern: bitPattern) }
    init(bits: Int64) { self.init(bitPattern: UInt64(bitPattern: bits)) }
}

extension ArraySlice where Element == Int64 {
    mutating func take(_ n: Int, _ what: String) throws -> [Int64] {
        guard count >= n else { throw EnvironmentError.invalidArgument("snapshot too short while restoring \(what)") }
        let values = Array(prefix(n))
        self = dropFirst(n)
        return values
    }
}

extension EnvironmentRandom {
    var snapshotWords: [Int64] { state.map { Int64(bitPattern: $0) } }
    init(words: [Int64]) {
        self.init(seed: 0)
        state = words.map { UInt64(bitPattern: $0) }
    }
}

/// Classic-control environments store their state doubles and generator words (plus CartPole's post-termination
/// counter).
extension StatefulEnvironment where Self: AnyObject {
    func snapshotState(random: EnvironmentRandom, extra: [Int64] = []) -> [Int64] {
        state.map(\.bits) + random.snapshotWords + extra
    }

    func restoreState(from s: inout ArraySlice<Int64>, stateCount: Int) throws -> EnvironmentRandom {
        state = try s.take(stateCount, id).map(Double.init(bits:))
        return EnvironmentRandom(words: try s.take(4, id))
    }
}

extension CartPole: SnapshotEnvironment {
    public func snapshot() -> [Int64] { snapshotState(random: random, extra: [Int64(stepsBeyondTerminated ?? -1)]) }
    public func restore(from s: inout ArraySlice<Int64>) throws {
        random = try restoreState(from: &s, stateCount: 4)
        let beyond = try s.take(1, id)[0]
        stepsBeyondTerminated = beyond < 0 ? nil : Int(beyond)
    }
}

extension Acrobot: SnapshotEnvironment {
    public func snapshot() -> [Int64] { snapshotState(random: random) }
    public func restore(from s: inout ArraySlice<Int64>) throws { random = try restoreState(from: &s, stateCount: 4) }
}

extension MountainCar: SnapshotEnvironment {
    public func snapshot() -> [Int64] { snapshotState(random: random) }
    public func restore(from s: inout ArraySlice<Int64>) throws { random = try restoreState(from: &s, stateCount: 2) }
}

extension MountainCarContinuous: SnapshotEnvironment {
    public func snapshot() -> [Int64] { snapshotState(random: random) }
    public func restore(from s: inout ArraySlice<Int64>) throws { random = try restoreState(from: &s, stateCount: 2) }
}

extension Pendulum: SnapshotEnvironment {
    public func snapshot() -> [Int64] { snapshotState(random: random) }
    public func restore(from s: inout ArraySlice<Int64>) throws { random = try restoreState(from: &s, stateCount: 2) }
}

/// The snapshot of a wrapped environment: the wrapper's own counters, then the inner environment's.
func innerSnapshot(_ env: Environment) -> [Int64]? { (env as? SnapshotEnvironment)?.snapshot() }

func restoreInner(_ env: Environment, from s: inout ArraySlice<Int64>) throws {
    guard let inner = env as? SnapshotEnvironment else {
        throw EnvironmentError.invalidArgument("\(env.id) does not support snapshots (implement SnapshotEnvironment to resume runs)")
    }
    try inner.restore(from: &s)
}

extension TimeLimit: SnapshotEnvironment {
    public func snapshot() -> [Int64] { [Int64(elapsedSteps)] + (innerSnapshot(env) ?? []) }
    public func restore(from s: inout ArraySlice<Int64>) throws {
        elapsedSteps = Int(try s.take(1, "TimeLimit")[0])
        try restoreInner(env, from: &s)
    }
}

extension RecordEpisodeStatistics: SnapshotEnvironment {
    public func snapshot() -> [Int64] { [episodeReturn.bits, Int64(episodeLength)] + (innerSnapshot(env) ?? []) }
    public func restore(from s: inout ArraySlice<Int64>) throws {
        let values = try s.take(2, "RecordEpisodeStatistics")
        episodeReturn = Double(bits: values[0])
        episodeLength = Int(values[1])
        try restoreInner(env, from: &s)
    }
}

extension VectorEnvironment {
    /// Every sub-environment's snapshot and the current observations; nil when a sub-environment cannot snapshot.
    public func snapshot() -> [Int64]? {
        var out: [Int64] = [Int64(count)]
        for env in environments {
            guard let s = (env as? SnapshotEnvironment)?.snapshot() else { return nil }
            out.append(Int64(s.count))
            out += s
        }
        out += observations.map { Int64($0.bitPattern) }
        return out
    }

    public func restore(snapshot: [Int64]) throws {
        var s = snapshot[...]
        guard try s.take(1, "vector environment")[0] == Int64(count) else {
            throw EnvironmentError.invalidArgument("snapshot holds a different number of environments")
        }
        for env in environments {
            let length = Int(try s.take(1, "vector environment")[0])
            var part = try s.take(length, env.id)[...]
            try restoreInner(env, from: &part)
        }
        let values = try s.take(observations.count, "observations").map { Float(bitPattern: UInt32(truncatingIfNeeded: $0)) }
        setObservations(values)
    }
}
