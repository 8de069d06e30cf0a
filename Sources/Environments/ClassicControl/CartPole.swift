import Foundation

/// CartPole-v1: push a cart left or right to keep a pole upright. A port of Gymnasium's `CartPoleEnv` (Euler
/// integration, physics in double precision, float32 observations, +1 reward per step including the terminating one).
public final class CartPole: StatefulEnvironment {
    public let id = "CartPole-v1"
    public static let gravity = 9.8, massCart = 1.0, massPole = 0.1, length = 0.5, forceMagnitude = 10.0, tau = 0.02
    static let totalMass = massCart + massPole
    static let poleMassLength = massPole * length
    /// The pole falls past ±12°.
    public static let thetaThreshold = 12 * 2 * Double.pi / 360
    public static let xThreshold = 2.4

    public let actionSpace = Space.discrete(n: 2)
    public let observationSpace: Space = {
        let high = [xThreshold * 2, .greatestFiniteMagnitude, thetaThreshold * 2, .greatestFiniteMagnitude]
        return .box(low: high.map { -$0 }, high: high, shape: [4])
    }()

    /// x, ẋ, θ, θ̇ (kept in a SIMD vector so a step allocates nothing but its observation).
    var physics = SIMD4<Double>(0, 0, 0, 0)
    public var state: [Double] {
        get { [physics[0], physics[1], physics[2], physics[3]] }
        set { physics = SIMD4(newValue[0], newValue[1], newValue[2], newValue[3]) }
    }
    public var random = EnvironmentRandom(seed: 0)
    var stepsBeyondTerminated: Int?

    public init() {}

    public func reset(seed: UInt64?, options: [String: Double]) -> (observation: [Float], info: [String: Double]) {
        if let seed { random = EnvironmentRandom(seed: seed) }
        for i in 0..<4 { physics[i] = random.uniform(-0.05, 0.05) }
        stepsBeyondTerminated = nil
        return (observation(), [:])
    }

    public func observation() -> [Float] { [Float(physics[0]), Float(physics[1]), Float(physics[2]), Float(physics[3])] }

    public func step(_ action: Action) throws -> Step {
        guard case .discrete(let a) = action, a == 0 || a == 1 else {
            throw EnvironmentError.invalidAction(environment: id, action: action, space: actionSpace)
        }
        var x = physics[0], xDot = physics[1], theta = physics[2], thetaDot = physics[3]
        let force = a == 1 ? Self.forceMagnitude : -Self.forceMagnitude
        let cosTheta = Foundation.cos(theta), sinTheta = Foundation.sin(theta)
        // Products grouped as in Gymnasium (pml · θ̇²) so rounding matches over 500-step episodes.
        let temp = (force + Self.poleMassLength * (thetaDot * thetaDot) * sinTheta) / Self.totalMass
        let thetaAcc = (Self.gravity * sinTheta - cosTheta * temp)
            / (Self.length * (4.0 / 3.0 - Self.massPole * (cosTheta * cosTheta) / Self.totalMass))
        let xAcc = temp - Self.poleMassLength * thetaAcc * cosTheta / Self.totalMass
        x += Self.tau * xDot
        xDot += Self.tau * xAcc
        theta += Self.tau * thetaDot
        thetaDot += Self.tau * thetaAcc
        physics = SIMD4(x, xDot, theta, thetaDot)

        let terminated = x < -Self.xThreshold || x > Self.xThreshold || theta < -Self.thetaThreshold || theta > Self.thetaThreshold
        var reward = 1.0
        if terminated {
            if let beyond = stepsBeyondTerminated {
                stepsBeyondTerminated = beyond + 1
                reward = 0
            } else {
                stepsBeyondTerminated = 0
            }
        }
        return Step(observation: observation(), reward: reward, terminated: terminated, truncated: false)
    }
}
