import Environments
import Foundation
import NeuralNetworks
import Torch

/// The trained policy as it is shipped, in one safetensors file: parameters, observation-normalisation statistics
/// (frozen for evaluation), and in the header what rebuilds it — the policy type's registered name and options, the
/// observation and action spaces — plus the algorithm, the environment id and the configuration.
public struct PolicyArtifact {
    public var policy: ActorCriticPolicy
    public var normalizer: ObservationNormalizer?
    public var algorithm: Algorithm
    public var environmentID: String
    /// The training configuration as files write it.
    public var fileSettings: [String: Any]
    public var observationSpace: Space
    /// The environment's action space (what `act` returns actions for).
    public var actionSpace: Space

    public init(policy: ActorCriticPolicy, normalizer: ObservationNormalizer?, algorithm: Algorithm, environmentID: String,
                fileSettings: [String: Any], observationSpace: Space, actionSpace: Space) {
        self.policy = policy
        self.normalizer = normalizer
        self.algorithm = algorithm
        self.environmentID = environmentID
        self.fileSettings = fileSettings
        self.observationSpace = observationSpace
        self.actionSpace = actionSpace
    }

    static let normalizerKey = "normalizer.observation_statistics"

    /// Writes the file atomically.
    public func write(to url: URL) throws {
        var tensors = policy.stateDict()
        if let normalizer { tensors[Self.normalizerKey] = normalizer.statistics.tensor }
        let identity = PolicyRegistry.identity(of: policy)
        try SafeTensors.write(tensors, metadata: [
            "format": "pt", "proxima.algorithm": algorithm.rawValue, "proxima.environment": environmentID,
            "proxima.config": jsonText(fileSettings), "proxima.policy": identity.name, "proxima.policy_options": identity.options,
            "proxima.observation_space": try spaceJSON(observationSpace), "proxima.action_space": try spaceJSON(actionSpace),
        ], to: url)
    }

    /// Loads a policy file (or a run directory's `model.safetensors`), rebuilding the policy through `PolicyRegistry`.
    public static func read(_ url: URL) throws -> PolicyArtifact {
        let (tensors, metadata) = try SafeTensors.read(url)
        func field(_ key: String) throws -> String {
            guard let value = metadata[key] else {
                throw ConfigurationError("\(url.path): not a Proxima policy file (no '\(key)' in its metadata)")
            }
            return value
        }
        guard let algorithm = Algorithm(rawValue: try field("proxima.algorithm")) else {
            throw ConfigurationError("\(url.path): unknown algorithm '\(metadata["proxima.algorithm"] ?? "")'")
        }
        let observationSpace = try space(try field("proxima.observation_space"), source: url.path)
        let actionSpace = try space(try field("proxima.action_space"), source: url.path)
        let settings = (try? JSONSerialization.jsonObject(with: Data(try field("proxima.config").utf8))) as? [String: Any] ?? [:]
        let policy = try PolicyRegistry.rebuild(name: try field("proxima.policy"), observationSpace: observationSpace,
                                                actionSpace: actionSpace, options: try field("proxima.policy_options"))
        var state = tensors
        var normalizer: ObservationNormalizer?
        if let s = state.removeValue(forKey: normalizerKey) {
            normalizer = ObservationNormalizer(size: observationSpace.flatSize)
            normalizer?.statistics = try RunningMeanStd(tensor: s)
        }
        for (name, tensor) in state where tensor.dtype.isFloatingPoint && !tensor.isFinite().all().item(Bool.self) {
            throw ConfigurationError("\(url.path): tensor '\(name)' holds NaN or infinite values")
        }
        do { try policy.load(stateDict: state) } catch let error as StateDictError {
            throw ConfigurationError("\(url.path): \(error)")
        }
        policy.eval()
        return PolicyArtifact(policy: policy, normalizer: normalizer, algorithm: algorithm, environmentID: try field("proxima.environment"),
                              fileSettings: settings, observationSpace: observationSpace, actionSpace: actionSpace)
    }

    /// The action for one raw observation (normalised with the frozen statistics).
    public func act(_ observation: [Float], deterministic: Bool, generator: Generator? = nil) -> Action {
        policyAction(policy: policy, normalizer: normalizer, actionSpace: actionSpace, observation: observation,
                     deterministic: deterministic, generator: generator)
    }

    /// Runs `episodes` episodes (seeds `seed`, `seed + 1`, …) on `environment`, or on a fresh one from the registry
    /// by `environmentID`; sampled actions come from a generator seeded with `seed`.
    public func evaluate(episodes: Int, deterministic: Bool, seed: UInt64, environment: Environment? = nil) throws -> EvaluationResult {
        let env = try environment ?? Registry.make(environmentID)
        let generator = Generator(seed: seed)
        return try evaluatePolicy(on: env, episodes: episodes, seed: seed) { act($0, deterministic: deterministic, generator: generator) }
    }

    /// One deterministic episode's internal states (initial state first), for `renderEpisodeSVG`.
    public func recordEpisode(environment: Environment? = nil, seed: UInt64, maxSteps: Int) throws -> [[Double]] {
        let env = try environment ?? Registry.make(environmentID)
        return try ReinforcementLearning.recordEpisode(env, seed: seed, maxSteps: maxSteps) { act($0, deterministic: true) }
    }
}

private func spaceJSON(_ space: Space) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return String(decoding: try encoder.encode(space), as: UTF8.self)
}

private func space(_ text: String, source: String) throws -> Space {
    let decoder = JSONDecoder()
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    do { return try decoder.decode(Space.self, from: Data(text.utf8)) } catch {
        throw ConfigurationError("\(source): unreadable space \(text)")
    }
}
