import Dispatch
import Foundation
import Torch

/// N copies of an environment stepped in lock-step into contiguous buffers.
///
/// Autoreset follows Gymnasium's **same-step** mode (`AutoresetMode.SAME_STEP`): when an episode ends in `step`,
/// that sub-environment is reset in the same call; `observations` then holds the *reset* observation, and the true
/// last observation of the finished episode is in `finalObservations[i]` (its info in `finalInfos[i]`). Trainers
/// bootstrap truncated episodes from `finalObservations`.
///
/// With `threads > 1` the sub-environments step concurrently in chunks (worth it for expensive environments only).
public final class VectorEnvironment {
    public let environments: [Environment]
    /// The environments' id: the registry id they were made from, else the first environment's own id.
    public let id: String
    public let observationSize: Int
    public let threads: Int

    /// The step buffers, in one value so that a step can move them out, fill them and move them back: one exclusive
    /// access per step instead of one per element, and no copy-on-write.
    private var buffers: Buffers

    /// [count × observationSize], row-major.
    public var observations: [Float] { buffers.observations }
    public var rewards: [Double] { buffers.rewards }
    public var terminated: [Bool] { buffers.terminated }
    public var truncated: [Bool] { buffers.truncated }
    /// The last observation of an episode that ended in the latest step, per sub-environment (nil otherwise).
    public var finalObservations: [[Float]?] { buffers.finalObservations }
    public var finalInfos: [[String: Double]?] { buffers.finalInfos }
    public var infos: [[String: Double]] { buffers.infos }

    public var count: Int { environments.count }
    public var observationSpace: Space { environments[0].observationSpace }
    public var actionSpace: Space { environments[0].actionSpace }

    public init(_ environments: [Environment], threads: Int = 1, id: String? = nil) {
        precondition(!environments.isEmpty, "a vector environment needs at least one environment")
        self.id = id ?? environments[0].id
        let size = environments[0].observationSpace.flatSize
        precondition(environments.allSatisfy { $0.observationSpace.flatSize == size }, "sub-environments have different observation sizes")
        self.environments = environments
        self.observationSize = size
        self.threads = Swift.max(1, threads)
        let n = environments.count
        buffers = Buffers(observations: Array(repeating: 0, count: n * size), rewards: Array(repeating: 0, count: n),
                          terminated: Array(repeating: false, count: n), truncated: Array(repeating: false, count: n),
                          finalObservations: Array(repeating: nil, count: n), finalInfos: Array(repeating: nil, count: n),
                          infos: Array(repeating: [:], count: n))
    }

    /// `count` environments from the registry, each wrapped by `wrap` (e.g. in `RecordEpisodeStatistics`).
    public convenience init(id: String, count: Int, threads: Int = 1, arguments: [String: Double] = [:],
                            wrap: (Environment) -> Environment = { $0 }) throws {
        guard count > 0 else { throw EnvironmentError.invalidArgument("number of environments must be positive, got \(count)") }
        self.init(try (0..<count).map { _ in wrap(try Registry.make(id, arguments: arguments)) }, threads: threads, id: id)
    }

    /// Resets every sub-environment; sub-environment i gets seed `seed + i` when a seed is given.
    @discardableResult
    public func reset(seed: UInt64? = nil) -> [Float] {
        for (i, env) in environments.enumerated() {
            let (observation, info) = env.reset(seed: seed.map { $0 &+ UInt64(i) }, options: [:])
            buffers.write(observation, at: i, size: observationSize)
            buffers.infos[i] = info
        }
        return observations
    }

    /// Steps every sub-environment with its action (autoresetting finished episodes).
    public func step(_ actions: [Action]) throws {
        precondition(actions.count == count, "step got \(actions.count) actions for \(count) environments")
        if threads == 1 {
            var b = takeBuffers()
            defer { buffers = b }
            for i in 0..<count { b.record(try Self.advance(environments[i], actions[i]), at: i, size: observationSize) }
            return
        }
        // Sub-environments step concurrently into their own result slots; the buffers are filled afterwards.
        let outcomes = UnsafeMutableBufferPointer<Result<Outcome, Error>?>.allocate(capacity: count)
        outcomes.initialize(repeating: nil)
        defer { outcomes.deinitialize(); outcomes.deallocate() }
        let chunk = (count + threads - 1) / threads
        nonisolated(unsafe) let environments = self.environments
        nonisolated(unsafe) let slots = outcomes
        let total = count
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in (t * chunk)..<Swift.min(total, (t + 1) * chunk) {
                slots[i] = Result { try Self.advance(environments[i], actions[i]) }
            }
        }
        var b = takeBuffers()
        defer { buffers = b }
        for i in 0..<count { b.record(try outcomes[i]!.get(), at: i, size: observationSize) }
    }

    struct Buffers {
        var observations: [Float]
        var rewards: [Double]
        var terminated: [Bool]
        var truncated: [Bool]
        var finalObservations: [[Float]?]
        var finalInfos: [[String: Double]?]
        var infos: [[String: Double]]

        mutating func record(_ outcome: Outcome, at i: Int, size: Int) {
            let result = outcome.step
            rewards[i] = result.reward
            terminated[i] = result.terminated
            truncated[i] = result.truncated
            if let (observation, info) = outcome.reset {
                finalObservations[i] = result.observation
                finalInfos[i] = result.info
                write(observation, at: i, size: size)
                infos[i] = info
            } else {
                if finalObservations[i] != nil {
                    finalObservations[i] = nil
                    finalInfos[i] = nil
                }
                write(result.observation, at: i, size: size)
                if !(result.info.isEmpty && infos[i].isEmpty) { infos[i] = result.info }
            }
        }

        @inline(__always)
        mutating func write(_ observation: [Float], at i: Int, size: Int) {
            observations.withUnsafeMutableBufferPointer { buffer in
                observation.withUnsafeBufferPointer { source in
                    (buffer.baseAddress! + i * size).update(from: source.baseAddress!, count: size)
                }
            }
        }
    }

    /// Moves the buffers out (leaving empty ones) so a step can fill them without copy-on-write.
    private func takeBuffers() -> Buffers {
        var b = Buffers(observations: [], rewards: [], terminated: [], truncated: [], finalObservations: [], finalInfos: [], infos: [])
        swap(&b, &buffers)
        return b
    }

    struct Outcome {
        var step: Step
        /// The reset observation and info when the episode ended.
        var reset: (observation: [Float], info: [String: Double])?
    }

    private static func advance(_ env: Environment, _ action: Action) throws -> Outcome {
        let result = try env.step(action)
        let reset = result.terminated || result.truncated ? env.reset(seed: nil, options: [:]) : nil
        return Outcome(step: result, reset: reset)
    }

    func setObservations(_ values: [Float]) {
        buffers.observations = values
        for i in 0..<count {
            buffers.finalObservations[i] = nil
            buffers.finalInfos[i] = nil
        }
    }

    /// The observations as a [count, observationSize] float32 tensor (one copy).
    public func observationTensor() -> Tensor { Tensor(observations, shape: [count, observationSize]) }
}
