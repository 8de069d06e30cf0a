import Environments
import Foundation
import NeuralNetworks
import Torch

/// Returns and lengths of evaluation episodes.
public struct EvaluationResult: Equatable, Sendable {
    public var returns: [Double]
    public var lengths: [Int]

    public var meanReturn: Double { returns.reduce(0, +) / Double(Swift.max(returns.count, 1)) }
    /// Population standard deviation (numpy's default, as SB3's `evaluate_policy` reports it).
    public var stdReturn: Double {
        let mean = meanReturn
        return (returns.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(Swift.max(returns.count, 1))).squareRoot()
    }
    public var meanLength: Double { Double(lengths.reduce(0, +)) / Double(Swift.max(lengths.count, 1)) }
}

/// Runs `episodes` full episodes on `environment` (seeds `seed`, `seed + 1`, …), choosing actions with `act`.
func evaluatePolicy(on environment: Environment, episodes: Int, seed: UInt64, act: ([Float]) throws -> Action) throws -> EvaluationResult {
    guard episodes > 0 else { throw ConfigurationError("evaluation needs at least one episode, got \(episodes)") }
    var result = EvaluationResult(returns: [], lengths: [])
    for episode in 0..<episodes {
        var observation = environment.reset(seed: seed &+ UInt64(episode)).observation
        var total = 0.0, length = 0
        while true {
            let step = try environment.step(try act(observation))
            total += step.reward
            length += 1
            observation = step.observation
            if step.terminated || step.truncated { break }
        }
        result.returns.append(total)
        result.lengths.append(length)
    }
    return result
}

/// One action of `policy` for one raw observation, normalised with `normalizer` (not updated).
func policyAction(policy: ActorCriticPolicy, normalizer: ObservationNormalizer?, actionSpace: Space, observation: [Float],
                  deterministic: Bool, generator: Generator?) -> Action {
    let input = normalizer.map { $0.normalize(observation) } ?? observation
    let action = withNoGrad { () -> Tensor in
        let (distribution, _) = policy(Tensor(input, shape: [1, input.count]))
        return deterministic ? distribution.mode() : distribution.sample(generator: generator)
    }
    return environmentActions(action, space: actionSpace, count: 1, squashed: policy.squashesActions)[0]
}

/// Runs one episode with `act` and returns the environment's internal states, initial state first (for rendering).
public func recordEpisode(_ environment: Environment, seed: UInt64, maxSteps: Int, act: ([Float]) throws -> Action) throws -> [[Double]] {
    var observation = environment.reset(seed: seed).observation
    guard let inner = ((environment as? Wrapper)?.unwrapped ?? environment) as? StatefulEnvironment else {
        throw ConfigurationError("\(environment.id) cannot be rendered (it does not expose its state: conform it to StatefulEnvironment)")
    }
    var states = [inner.state]
    for _ in 0..<maxSteps {
        let step = try environment.step(try act(observation))
        states.append(inner.state)
        observation = step.observation
        if step.terminated || step.truncated { break }
    }
    return states
}
