import Foundation

/// Acrobot-v1: swing a two-link pendulum's tip above a line by torquing the middle joint. A port of Gymnasium's
/// `AcrobotEnv` ("book" dynamics, one RK4 step of 0.2 s per action, angles wrapped to [−π, π]).
public final class Acrobot: StatefulEnvironment {
    public let id = "Acrobot-v1"
    public static let dt = 0.2
    static let linkLength1 = 1.0, linkMass1 = 1.0, linkMass2 = 1.0
    static let linkCenter1 = 0.5, linkCenter2 = 0.5, linkInertia = 1.0
    public static let maxVelocity1 = 4 * Double.pi, maxVelocity2 = 9 * Double.pi
    static let torques = [-1.0, 0.0, 1.0]

    public let actionSpace = Space.discrete(n: 3)
    public let observationSpace = Space.box(low: [-1, -1, -1, -1, -maxVelocity1, -maxVelocity2],
                                            high: [1, 1, 1, 1, maxVelocity1, maxVelocity2], shape: [6])

    /// θ1, θ2, θ̇1, θ̇2
    public var state: [Double] = [0, 0, 0, 0]
    public var random = EnvironmentRandom(seed: 0)

    public init() {}

    public func reset(seed: UInt64?, options: [String: Double]) -> (observation: [Float], info: [String: Double]) {
        if let seed { random = EnvironmentRandom(seed: seed) }
        state = (0..<4).map { _ in random.uniform(-0.1, 0.1) }
        return (observation(), [:])
    }

    public func observation() -> [Float] {
        [Foundation.cos(state[0]), Foundation.sin(state[0]), Foundation.cos(state[1]), Foundation.sin(state[1]), state[2], state[3]].map(Float.init)
    }

    public func step(_ action: Action) throws -> Step {
        guard case .discrete(let a) = action, (0..<3).contains(a) else {
            throw EnvironmentError.invalidAction(environment: id, action: action, space: actionSpace)
        }
        let torque = Self.torques[a]
        var next = Self.rk4(state + [torque], dt: Self.dt)
        next[0] = Self.wrap(next[0], -Double.pi, Double.pi)
        next[1] = Self.wrap(next[1], -Double.pi, Double.pi)
        next[2] = Swift.min(Swift.max(next[2], -Self.maxVelocity1), Self.maxVelocity1)
        next[3] = Swift.min(Swift.max(next[3], -Self.maxVelocity2), Self.maxVelocity2)
        state = Array(next[0..<4])
        let terminated = -Foundation.cos(state[0]) - Foundation.cos(state[1] + state[0]) > 1.0
        return Step(observation: observation(), reward: terminated ? 0 : -1, terminated: terminated, truncated: false)
    }

    /// Time derivative of (θ1, θ2, θ̇1, θ̇2, torque).
    static func derivatives(_ s: [Double]) -> [Double] {
        let m1 = linkMass1, m2 = linkMass2, l1 = linkLength1, lc1 = linkCenter1, lc2 = linkCenter2
        let i1 = linkInertia, i2 = linkInertia, g = 9.8
        let a = s[4], theta1 = s[0], theta2 = s[1], dtheta1 = s[2], dtheta2 = s[3]
        let d1 = m1 * lc1 * lc1 + m2 * (l1 * l1 + lc2 * lc2 + 2 * l1 * lc2 * Foundation.cos(theta2)) + i1 + i2
        let d2 = m2 * (lc2 * lc2 + l1 * lc2 * Foundation.cos(theta2)) + i2
        let phi2 = m2 * lc2 * g * Foundation.cos(theta1 + theta2 - Double.pi / 2)
        let phi1 = -m2 * l1 * lc2 * dtheta2 * dtheta2 * Foundation.sin(theta2)
            - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * Foundation.sin(theta2)
            + (m1 * lc1 + m2 * l1) * g * Foundation.cos(theta1 - Double.pi / 2) + phi2
        let ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1 * dtheta1 * Foundation.sin(theta2) - phi2)
            / (m2 * lc2 * lc2 + i2 - d2 * d2 / d1)
        let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
        return [dtheta1, dtheta2, ddtheta1, ddtheta2, 0]
    }

    /// One classical Runge–Kutta step of length `dt`.
    static func rk4(_ y: [Double], dt: Double) -> [Double] {
        func axpy(_ a: Double, _ x: [Double], _ y: [Double]) -> [Double] { zip(x, y).map { a * $0 + $1 } }
        let k1 = derivatives(y)
        let k2 = derivatives(axpy(dt / 2, k1, y))
        let k3 = derivatives(axpy(dt / 2, k2, y))
        let k4 = derivatives(axpy(dt, k3, y))
        return (0..<y.count).map { i in y[i] + dt / 6.0 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]) }
    }

    static func wrap(_ x: Double, _ low: Double, _ high: Double) -> Double {
        var x = x
        let span = high - low
        while x > high { x -= span }
        while x < low { x += span }
        return x
    }
}
