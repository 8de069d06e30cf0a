import Foundation

/// MountainCar-v0: drive an under-powered car up the right hill by rocking it (push left, none, right). A port of
/// Gymnasium's `MountainCarEnv`.
public final class MountainCar: StatefulEnvironment {
    public let id = "MountainCar-v0"
    public static let minPosition = -1.2, maxPosition = 0.6, maxSpeed = 0.07, goalPosition = 0.5
    static let force = 0.001, gravity = 0.0025

    public let actionSpace = Space.discrete(n: 3)
    public let observationSpace = Space.box(low: [minPosition, -maxSpeed], high: [maxPosition, maxSpeed], shape: [2])

    /// position, velocity
    public var state: [Double] = [0, 0]
    public var random = EnvironmentRandom(seed: 0)

    public init() {}

    public func reset(seed: UInt64?, options: [String: Double]) -> (observation: [Float], info: [String: Double]) {
        if let seed { random = EnvironmentRandom(seed: seed) }
        state = Self.initialState(using: &random)
        return (observation(), [:])
    }

    /// Both mountain-car tasks start at rest at a position uniform in [−0.6, −0.4).
    static func initialState(using random: inout EnvironmentRandom) -> [Double] { [random.uniform(-0.6, -0.4), 0] }

    public func observation() -> [Float] { state.map(Float.init) }

    public func step(_ action: Action) throws -> Step {
        guard case .discrete(let a) = action, (0..<3).contains(a) else {
            throw EnvironmentError.invalidAction(environment: id, action: action, space: actionSpace)
        }
        var position = state[0], velocity = state[1]
        velocity += Double(a - 1) * Self.force + Foundation.cos(3 * position) * -Self.gravity
        velocity = Swift.min(Swift.max(velocity, -Self.maxSpeed), Self.maxSpeed)
        position += velocity
        position = Swift.min(Swift.max(position, Self.minPosition), Self.maxPosition)
        if position == Self.minPosition && velocity < 0 { velocity = 0 }
        state = [position, velocity]
        let terminated = position >= Self.goalPosition && velocity >= 0
        return Step(observation: observation(), reward: -1, terminated: terminated, truncated: false)
    }
}

/// MountainCarContinuous-v0: the same hill with a continuous force in [−1, 1]; +100 on reaching the flag minus
/// 0.1·force² each step. A port of Gymnasium's `Continuous_MountainCarEnv`, which keeps its state in float32: the
/// arithmetic below rounds where NumPy does.
public final class MountainCarContinuous: StatefulEnvironment {
    public let id = "MountainCarContinuous-v0"
    public static let minPosition = MountainCar.minPosition, maxPosition = MountainCar.maxPosition, maxSpeed = MountainCar.maxSpeed
    public static let goalPosition = 0.45, power = 0.0015

    public let actionSpace = Space.box(low: -1, high: 1, shape: [1])
    public let observationSpace = Space.box(low: [minPosition, -maxSpeed], high: [maxPosition, maxSpeed], shape: [2])

    public var state: [Double] = [0, 0]
    public var random = EnvironmentRandom(seed: 0)

    public init() {}

    public func reset(seed: UInt64?, options: [String: Double]) -> (observation: [Float], info: [String: Double]) {
        if let seed { random = EnvironmentRandom(seed: seed) }
        state = MountainCar.initialState(using: &random)
        return (observation(), [:])
    }

    public func observation() -> [Float] { state.map(Float.init) }

    public func step(_ action: Action) throws -> Step {
        try validate(action)
        guard case .continuous(let values) = action else { throw EnvironmentError.invalidAction(environment: id, action: action, space: actionSpace) }
        let a = Float(values[0])
        let force = Swift.min(Swift.max(a, -1), 1)
        var position = Float(state[0]), velocity = Float(state[1])
        // NumPy 2 keeps float32 when a float32 scalar meets a Python float.
        let slope = Float(0.0025 * Foundation.cos(Double(3 * position)))
        velocity += force * Float(Self.power) - slope
        var wideVelocity = Double(velocity)
        if velocity > Float(Self.maxSpeed) { wideVelocity = Self.maxSpeed }
        if velocity < -Float(Self.maxSpeed) { wideVelocity = -Self.maxSpeed }
        position += Float(wideVelocity)
        var widePosition = Double(position)
        if widePosition > Self.maxPosition { widePosition = Self.maxPosition }
        if widePosition < Self.minPosition { widePosition = Self.minPosition }
        if widePosition == Self.minPosition && wideVelocity < 0 { wideVelocity = 0 }
        let terminated = widePosition >= Self.goalPosition && wideVelocity >= 0
        let reward = (terminated ? 100.0 : 0.0) - Double(a) * Double(a) * 0.1
        state = [Double(Float(widePosition)), Double(Float(wideVelocity))]
        return Step(observation: observation(), reward: reward, terminated: terminated, truncated: false)
    }
}
