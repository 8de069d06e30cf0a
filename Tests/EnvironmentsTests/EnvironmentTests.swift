import Foundation
import Testing
import TestSupport
import Torch
@testable import Environments

@Suite("Spaces, registry and errors")
struct SpaceAndRegistryTests {
    @Test("spaces sample their own elements and check membership")
    func spaces() {
        var rng = EnvironmentRandom(seed: 1)
        let spaces: [Space] = [.discrete(n: 3), .discrete(n: 2, start: 5), .box(low: -2, high: 2, shape: [3]),
                               .box(low: [0, -Double.infinity], high: [Double.infinity, Double.infinity], shape: [2]),
                               .multiDiscrete(nvec: [2, 5]), .multiBinary(n: 4)]
        for space in spaces {
            for _ in 0..<100 { #expect(space.contains(space.sample(using: &rng)), "\(space)") }
        }
        #expect(!Space.discrete(n: 3).contains(.discrete(3)))
        #expect(!Space.box(low: -1, high: 1, shape: [2]).contains(.continuous([0, 1.5])))
        #expect(!Space.box(low: -1, high: 1, shape: [2]).contains(.continuous([0])))
        #expect(!Space.multiBinary(n: 2).contains(.multiDiscrete([0, 2])))
        #expect(Space.discrete(n: 3).description == "Discrete(3)")
        #expect(Space.box(low: -1, high: 1, shape: [2]).flatSize == 2)
    }

    @Test("the environment generator is seeded and its state restores the stream")
    func environmentRandom() {
        var a = EnvironmentRandom(seed: 3), b = EnvironmentRandom(seed: 3)
        #expect((0..<5).map { _ in a.next() } == (0..<5).map { _ in b.next() })
        let saved = a
        let first = a.uniform(0, 1)
        a = saved
        #expect(a.uniform(0, 1) == first)
        var c = EnvironmentRandom(seed: 4)
        let u = (0..<10000).map { _ in c.uniform(-1, 1) }
        #expect(u.allSatisfy { $0 >= -1 && $0 < 1 })
        #expect(Swift.abs(u.reduce(0, +) / 10000) < 0.03)
    }

    @Test("reset with the same seed gives the same initial state, drawn as Gymnasium draws it")
    func seededResets() throws {
        for id in ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1"] {
            let a = try Registry.make(id), b = try Registry.make(id)
            #expect(a.reset(seed: 7).observation == b.reset(seed: 7).observation, "\(id)")
            #expect(a.reset(seed: 8).observation != b.reset(seed: 7).observation, "\(id)")
        }
        let cartPole = CartPole()
        for seed in 0..<50 {
            _ = cartPole.reset(seed: UInt64(seed))
            #expect(cartPole.state.allSatisfy { Swift.abs($0) <= 0.05 })
        }
        let car = MountainCar()
        _ = car.reset(seed: 1)
        #expect(car.state[0] >= -0.6 && car.state[0] < -0.4 && car.state[1] == 0)
    }

    @Test("an unknown id lists the registered ones")
    func unknownId() {
        let error = #expect(throws: EnvironmentError.self) { try Registry.make("CartPole-v9") }
        #expect(error?.description.contains("CartPole-v9") == true)
        #expect(error?.description.contains("registered: Acrobot-v1, CartPole-v1") == true)
        #expect(error?.description.contains("Pendulum-v1") == true)
    }

    @Test("an action outside the space is an error naming env, action and space")
    func invalidActions() throws {
        let cartPole = try Registry.make("CartPole-v1")
        _ = cartPole.reset(seed: 0)
        let e1 = #expect(throws: EnvironmentError.self) { try cartPole.step(.discrete(2)) }
        #expect(e1?.description == "CartPole-v1: action 2 is not in the action space Discrete(2)")
        #expect(throws: EnvironmentError.self) { try cartPole.step(.continuous([1])) }
        let pendulum = try Registry.make("Pendulum-v1")
        _ = pendulum.reset(seed: 0)
        let e2 = #expect(throws: EnvironmentError.self) { try pendulum.step(.continuous([3])) }
        #expect(e2?.description.contains("Pendulum-v1: action [3.0]") == true)
        #expect(throws: EnvironmentError.self) { try pendulum.step(.continuous([0, 0])) }
    }

    @Test("users register their own environments")
    func customRegistration() throws {
        final class Coin: Environment {
            let id = "Coin-v0"
            let observationSpace = Space.box(low: 0, high: 1, shape: [1])
            let actionSpace = Space.discrete(n: 2)
            func reset(seed: UInt64?, options: [String: Double]) -> (observation: [Float], info: [String: Double]) { ([0], [:]) }
            func step(_ action: Action) throws -> Step {
                try validate(action)
                return Step(observation: [1], reward: action == .discrete(1) ? 1 : 0, terminated: true, truncated: false)
            }
        }
        Registry.register(EnvironmentSpec(id: "Coin-v0", maxEpisodeSteps: 3, rewardThreshold: 1) { _ in Coin() })
        let env = try Registry.make("Coin-v0")
        #expect(env is TimeLimit)
        _ = env.reset()
        #expect(try env.step(.discrete(1)).reward == 1)
        #expect(Registry.ids.contains("Coin-v0"))
    }
}

@Suite("Wrappers")
struct WrapperTests {
    @Test("TimeLimit truncates at the limit and RecordEpisodeStatistics reports the episode")
    func timeLimitAndStatistics() throws {
        let env = RecordEpisodeStatistics(try Registry.make("Pendulum-v1", maxEpisodeSteps: 5))
        _ = env.reset(seed: 0)
        var total = 0.0
        for t in 1...5 {
            let step = try env.step(.continuous([0]))
            total += step.reward
            #expect(step.truncated == (t == 5))
            if t == 5 {
                #expect(step.info["episode.l"] == 5)
                #expect(Swift.abs(step.info["episode.r"]! - total) < 1e-12)
            } else {
                #expect(step.info["episode.r"] == nil)
            }
        }
        #expect(env.history.returns.count == 1 && env.history.total == 1)
    }

    @Test("running mean and variance match the batch formulas")
    func runningStatistics() {
        var stats = RunningMeanStd(size: 1, epsilon: 0)
        let values = [1.0, 4, 2, 8, 5]
        stats.update(batchMean: [values[0]], batchVariance: [0], batchCount: 1)
        for v in values.dropFirst() { stats.update([v]) }
        let mean = values.reduce(0, +) / 5
        #expect(Swift.abs(stats.mean[0] - mean) < 1e-12)
        #expect(Swift.abs(stats.variance[0] - values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 5) < 1e-12)
    }

    @Test("NormalizeObservation standardises, and freezing stops the statistics")
    func normalizeObservation() throws {
        let env = NormalizeObservation(try Registry.make("CartPole-v1"))
        _ = env.reset(seed: 0)
        var seen: [[Float]] = []
        for i in 0..<300 {
            let s = try env.step(.discrete(i % 2))
            seen.append(s.observation)
            if s.terminated || s.truncated { _ = env.reset() }
        }
        let first = seen.suffix(200).map { Double($0[0]) }
        #expect(Swift.abs(first.reduce(0, +) / 200) < 0.5)
        env.isFrozen = true
        let frozen = env.statistics
        _ = try env.step(.discrete(0))
        #expect(env.statistics == frozen)
    }

    @Test("NormalizeReward divides by the running std of the discounted return")
    func normalizeReward() throws {
        let env = NormalizeReward(try Registry.make("CartPole-v1"), gamma: 0.5)
        _ = env.reset(seed: 0)
        var g = 0.0
        var stats = RunningMeanStd(size: 1)
        for _ in 0..<5 {
            let step = try env.step(.discrete(1))
            g = g * 0.5 * (step.terminated ? 0 : 1) + 1
            stats.update([g])
            #expect(Swift.abs(step.reward - 1 / (stats.variance[0] + 1e-8).squareRoot()) < 1e-12)
        }
    }

    @Test("ClipAction, RescaleAction, TransformObservation, TransformReward and FrameStack")
    func actionAndObservationWrappers() throws {
        let clipped = ClipAction(try Registry.make("Pendulum-v1"))
        _ = clipped.reset(seed: 0)
        #expect(throws: Never.self) { try clipped.step(.continuous([10])) }
        let pendulum = Pendulum()
        let rescaled = RescaleAction(pendulum, minAction: 0, maxAction: 1)
        _ = rescaled.reset(seed: 1)
        pendulum.state = [0, 0]
        let step = try rescaled.step(.continuous([1]))
        // Action 1 maps to torque +2: θ̇ = 3·2·0.05 = 0.3.
        #expect(Swift.abs(Double(step.observation[2]) - 0.3) < 1e-6)
        let doubled = TransformObservation(try Registry.make("CartPole-v1")) { $0.map { $0 * 2 } }
        let plain = try Registry.make("CartPole-v1")
        #expect(doubled.reset(seed: 3).observation == plain.reset(seed: 3).observation.map { $0 * 2 })
        let negative = TransformReward(try Registry.make("CartPole-v1")) { -$0 }
        _ = negative.reset(seed: 0)
        #expect(try negative.step(.discrete(0)).reward == -1)
        let stacked = FrameStack(try Registry.make("CartPole-v1"), count: 3)
        let start = stacked.reset(seed: 0).observation
        #expect(start.count == 12 && Array(start[0..<4]) == Array(start[8..<12]))
        #expect(stacked.observationSpace.shape == [3, 4])
        let next = try stacked.step(.discrete(1)).observation
        #expect(Array(next[4..<8]) == Array(start[8..<12]))
    }
}

@Suite("Vector environments")
struct VectorEnvironmentTests {
    @Test("autoreset on termination keeps the final observation and returns the reset one")
    func autoresetOnTermination() throws {
        let vec = try VectorEnvironment(id: "CartPole-v1", count: 2)
        vec.reset(seed: 0)
        var ended = false
        for _ in 0..<200 {
            try vec.step([.discrete(1), .discrete(0)])
            if vec.terminated[0] {
                let final = try #require(vec.finalObservations[0])
                #expect(Swift.abs(final[0]) > 2.4 || Swift.abs(final[2]) > 0.2094)
                let reset = Array(vec.observations[0..<4])
                #expect(reset.allSatisfy { Swift.abs($0) <= 0.05 })
                ended = true
                break
            }
            #expect(vec.finalObservations[0] == nil)
        }
        #expect(ended)
    }

    @Test("autoreset on truncation: the final observation is the time-limited one, not the reset one")
    func autoresetOnTruncation() throws {
        let vec = try VectorEnvironment(id: "Pendulum-v1", count: 3, wrap: { RecordEpisodeStatistics($0) })
        vec.reset(seed: 10)
        for t in 1...200 {
            let before = vec.observations
            try vec.step(Array(repeating: .continuous([0.5]), count: 3))
            if t < 200 {
                #expect(vec.truncated == [false, false, false])
            } else {
                #expect(vec.truncated == [true, true, true] && vec.terminated == [false, false, false])
                for i in 0..<3 {
                    let final = try #require(vec.finalObservations[i])
                    #expect(final != Array(vec.observations[(i * 3)..<(i * 3 + 3)]))
                    #expect(final != Array(before[(i * 3)..<(i * 3 + 3)]))
                    #expect(vec.finalInfos[i]?["episode.l"] == 200)
                }
            }
        }
    }

    @Test("threaded stepping gives the same trajectories as sequential stepping")
    func threaded() throws {
        let a = try VectorEnvironment(id: "Acrobot-v1", count: 8)
        let b = try VectorEnvironment(id: "Acrobot-v1", count: 8, threads: 4)
        a.reset(seed: 5); b.reset(seed: 5)
        for t in 0..<100 {
            let actions = (0..<8).map { Action.discrete((t + $0) % 3) }
            try a.step(actions); try b.step(actions)
            #expect(a.observations == b.observations)
            #expect(a.rewards == b.rewards)
        }
    }

    @Test("observations convert to a [N, obs] tensor without per-element work")
    func tensorConversion() throws {
        let vec = try VectorEnvironment(id: "CartPole-v1", count: 4)
        vec.reset(seed: 1)
        let t = vec.observationTensor()
        #expect(t.shape == [4, 4] && t.dtype == .float32)
        #expect(t.floats == vec.observations)
        #expect(throws: EnvironmentError.self) { try VectorEnvironment(id: "CartPole-v1", count: 0) }
    }
}
