import Environments
import Foundation
import NeuralNetworks

/// A policy that saved files can rebuild: it names its type and the options that shape it, and builds an
/// untrained copy from them (its parameters are then loaded from the file). Conform your own network and call
/// `PolicyRegistry.register(YourPolicy.self)` before loading, evaluating, rendering or resuming it.
public protocol SavablePolicy: ActorCriticPolicy {
    /// The name files record, unique among registered policies ("MlpPolicy" is the built-in `MLPActorCritic`).
    static var policyName: String { get }
    /// What `rebuild` needs besides the spaces, as JSON text; "{}" when the type has one shape.
    var policyOptions: String { get }
    /// A policy of the same architecture for these spaces and options.
    static func rebuild(observationSpace: Space, actionSpace: Space, options: String) throws -> Self
}

extension SavablePolicy {
    public var policyOptions: String { "{}" }
}

/// The policy types that saved policies, run directories and checkpoints can be rebuilt as, by name.
public enum PolicyRegistry {
    typealias Builder = @Sendable (Space, Space, String) throws -> ActorCriticPolicy
    nonisolated(unsafe) private static var builders: [String: Builder] = [MLPActorCritic.policyName: { try MLPActorCritic.rebuild(observationSpace: $0, actionSpace: $1, options: $2) }]
    private static let lock = NSLock()

    /// Makes `type` loadable by its `policyName` (registering the same name again replaces the builder).
    public static func register<P: SavablePolicy>(_ type: P.Type) {
        lock.lock()
        defer { lock.unlock() }
        builders[P.policyName] = { try P.rebuild(observationSpace: $0, actionSpace: $1, options: $2) }
    }

    /// The registered names.
    public static var names: [String] {
        lock.lock()
        defer { lock.unlock() }
        return builders.keys.sorted()
    }

    /// An untrained policy of the registered type `name`.
    public static func rebuild(name: String, observationSpace: Space, actionSpace: Space, options: String) throws -> ActorCriticPolicy {
        lock.lock()
        let builder = builders[name]
        lock.unlock()
        guard let builder else {
            throw ConfigurationError("policy type '\(name)' is not registered (registered: \(names.joined(separator: ", "))); conform it to SavablePolicy and call PolicyRegistry.register(\(name).self) before loading")
        }
        return try builder(observationSpace, actionSpace, options)
    }

    /// The name and options a policy is saved with: its own for a `SavablePolicy`, else its type's name (which then
    /// cannot be loaded until the type conforms and is registered).
    static func identity(of policy: ActorCriticPolicy) -> (name: String, options: String) {
        if let savable = policy as? any SavablePolicy { return (type(of: savable).policyName, savable.policyOptions) }
        return (String(describing: type(of: policy)), "{}")
    }
}

extension MLPActorCritic: SavablePolicy {
    public static var policyName: String { "MlpPolicy" }

    /// `policy_kwargs` as JSON.
    public var policyOptions: String { jsonText(options.settings) }

    public static func rebuild(observationSpace: Space, actionSpace: Space, options: String) throws -> MLPActorCritic {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(options.utf8))) as? [String: Any] else {
            throw ConfigurationError("MlpPolicy: unreadable policy options \(options)")
        }
        var decoded = PolicyOptions()
        for (key, value) in object {
            try decoded.set(key, value, fail: HyperparameterFailure(source: "MlpPolicy options", key: "policy_kwargs", value: value))
        }
        return try MLPActorCritic(observationSize: observationSpace.flatSize, actionSpace: actionSpace, options: decoded)
    }
}
