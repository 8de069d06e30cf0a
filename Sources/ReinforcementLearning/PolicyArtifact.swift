import Environments
import Foundation
import NeuralNetworks
import Torch

/// The trained policy as it is shipped: parameters, observation-normalisation statistics (frozen for evaluation) and
/// the configuration, in one safetensors file.
public struct PolicyArtifact {
    public var policy: ActorCriticPolicy
    public var normalizer: ObservationNormalizer?
    public var config: OnPolicyConfig
    /// The environment's action space (what `act` returns actions for).
    public var actionSpace: Space

    public func write(to url: URL) throws {
        var tensors = policy.stateDict()
        if let normalizer { tensors["normalizer.observation_statistics"] = normalizer.statistics.tensor }
        try SafeTensors.write(tensors, metadata: ["format": "pt", "proxima.config": config.json()], to: url)
    }

    /// Loads a model file (or a run directory's `model.safetensors`) into a freshly built `MLPActorCritic`.
    public static func read(_ url: URL) throws -> PolicyArtifact {
        let (tensors, metadata) = try SafeTensors.read(url)
        guard let text = metadata["proxima.config"], let config = try? JSONDecoder().decode(OnPolicyConfig.self, from: Data(text.utf8)) else {
            throw ConfigurationError("\(url.path): not a Proxima policy file (no 'proxima.config' metadata)")
        }
        let env = try Registry.make(config.env)
        let policy = try MLPActorCritic(observationSize: env.observationSpace.flatSize, actionSpace: env.actionSpace, options: config.policyKwargs)
        var state = tensors
        var normalizer: ObservationNormalizer?
        if let s = state.removeValue(forKey: "normalizer.observation_statistics") {
            normalizer = ObservationNormalizer(size: env.observationSpace.flatSize)
            normalizer?.statistics = try RunningMeanStd(tensor: s)
        }
        try policy.load(stateDict: state)
        policy.eval()
        return PolicyArtifact(policy: policy, normalizer: normalizer, config: config, actionSpace: env.actionSpace)
    }

    /// The action for one raw observation (normalised with the frozen statistics).
    public func act(_ observation: [Float], deterministic: Bool, generator: Generator?) -> Action {
        let input = normalizer.map { $0.normalize(observation) } ?? observation
        let action = withNoGrad { () -> Tensor in
            let (distribution, _) = policy(Tensor(input, shape: [1, input.count]))
            return deterministic ? distribution.mode() : distribution.sample(generator: generator)
        }
        return environmentActions(action, space: actionSpace, count: 1)[0]
    }

    /// Returns of `episodes` evaluation episodes (seeds `seed`, `seed + 1`, …) on a fresh environment.
    public func evaluate(episodes: Int, deterministic: Bool, seed: UInt64) throws -> [Double] {
        let env = try Registry.make(config.env)
        let generator = Generator(seed: seed)
        var returns: [Double] = []
        for episode in 0..<episodes {
            var observation = env.reset(seed: seed &+ UInt64(episode)).observation
            var total = 0.0
            while true {
                let step = try env.step(act(observation, deterministic: deterministic, generator: generator))
                total += step.reward
                observation = step.observation
                if step.terminated || step.truncated { break }
            }
            returns.append(total)
        }
        return returns
    }
}
