import Foundation
import Torch

/// What one call of `step` returns (Gymnasium's 5-tuple).
public struct Step: Sendable {
    public var observation: [Float]
    public var reward: Double
    /// The MDP reached a terminal state: no future reward.
    public var terminated: Bool
    /// An outside limit (time limit) ended the episode; the state is not terminal.
    public var truncated: Bool
    public var info: [String: Double]

    public init(observation: [Float], reward: Double, terminated: Bool, truncated: Bool, info: [String: Double] = [:]) {
        self.observation = observation
        self.reward = reward
        self.terminated = terminated
        self.truncated = truncated
        self.info = info
    }
}

/// A reinforcement-learning environment with Gymnasium's semantics. Observations are flat `Float` vectors shaped by
/// `observationSpace`; `step` throws `EnvironmentError` for an action outside `actionSpace`.
public protocol Environment: AnyObject {
    /// The registered id (`CartPole-v1`) or a descriptive name.
    var id: String { get }
    var observationSpace: Space { get }
    var actionSpace: Space { get }
    /// Starts a new episode. A seed reseeds the environment's generator; nil continues its stream.
    func reset(seed: UInt64?, options: [String: Double]) -> (observation: [Float], info: [String: Double])
    func step(_ action: Action) throws -> Step
}

extension Environment {
    public func reset(seed: UInt64? = nil) -> (observation: [Float], info: [String: Double]) { reset(seed: seed, options: [:]) }

    /// Throws unless `action` belongs to the action space.
    public func validate(_ action: Action) throws {
        if !actionSpace.contains(action) {
            throw EnvironmentError.invalidAction(environment: id, action: action, space: actionSpace)
        }
    }
}

/// An environment whose physical state can be read and set (for replaying reference trajectories and rendering).
public protocol StatefulEnvironment: Environment {
    /// The internal state (Gymnasium's `env.unwrapped.state`), in double precision.
    var state: [Double] { get set }
    /// The observation for the current state.
    func observation() -> [Float]
}

public enum EnvironmentError: ProximaError, Equatable {
    case invalidAction(environment: String, action: Action, space: Space)
    case unknownEnvironment(id: String, registered: [String])
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .invalidAction(let env, let action, let space):
            return "\(env): action \(action) is not in the action space \(space)"
        case .unknownEnvironment(let id, let registered):
            return "unknown environment '\(id)'; registered: \(registered.joined(separator: ", "))"
        case .invalidArgument(let message):
            return message
        }
    }
}
