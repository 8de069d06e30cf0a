import Foundation

/// Pendulum-v1: swing a pendulum up and hold it with a torque in [−2, 2]; the cost is θ² + 0.1·θ̇² + 0.001·u². A port
/// of Gymnasium's `PendulumEnv` (never terminates; the time limit truncates).
public final class Pendulum: StatefulEnvironment {
    public let id = "Pendulum-v1"
    public static let maxSpeed = 8.0, maxTorque = 2.0, dt = 0.05, mass = 1.0, length = 1.0
    public let gravity: Double

    public let actionSpace = Space.box(low: -maxTorque, high: maxTorque, shape: [1])
    public let observationSpace = Space.box(low: [-1, -1, -maxSpeed], high: [1, 1, maxSpeed], shape: [3])

    /// θ, θ̇
    public var state: [Double] = [0, 0]
    public var random = EnvironmentRandom(seed: 0)

    public init(gravity: Double = 10) { self.gravity = gravity }

    public func reset(seed: UInt64?, options: [String: Double]) -> (observation: [Float], info: [String: Double]) {
        if let seed { random = EnvironmentRandom(seed: seed) }
        let x = options["x_init"] ?? Double.pi, y = options["y_init"] ?? 1.0
        state = [random.uniform(-x, x), random.uniform(-y, y)]
        return (observation(), [:])
    }

    public func observation() -> [Float] { [Foundation.cos(state[0]), Foundation.sin(state[0]), state[1]].map(Float.init) }

    public func step(_ action: Action) throws -> Step {
        try validate(action)
        guard case .continuous(let values) = action else { throw EnvironmentError.invalidAction(environment: id, action: action, space: actionSpace) }
        let theta = state[0], thetaDot = state[1]
        // The action is float32 in Gymnasium; products with Python floats stay float32 under NumPy 2.
        let u = Swift.min(Swift.max(Float(values[0]), Float(-Self.maxTorque)), Float(Self.maxTorque))
        let normalized = (theta + Double.pi).truncatingRemainder(dividingBy: 2 * Double.pi)
        let angle = (normalized < 0 ? normalized + 2 * Double.pi : normalized) - Double.pi
        let costs = angle * angle + 0.1 * thetaDot * thetaDot + Double(Float(0.001) * (u * u))
        var newThetaDot = thetaDot + (3 * gravity / (2 * Self.length) * Foundation.sin(theta) + Double(Float(3.0 / (Self.mass * Self.length * Self.length)) * u)) * Self.dt
        newThetaDot = Swift.min(Swift.max(newThetaDot, -Self.maxSpeed), Self.maxSpeed)
        state = [theta + newThetaDot * Self.dt, newThetaDot]
        return Step(observation: observation(), reward: -costs, terminated: false, truncated: false)
    }
}
