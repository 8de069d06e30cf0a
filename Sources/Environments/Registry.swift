import Foundation

/// How to build a registered environment, with Gymnasium's registration facts.
public struct EnvironmentSpec: Sendable {
    public var id: String
    /// Episodes are truncated after this many steps (TimeLimit); nil for no limit.
    public var maxEpisodeSteps: Int?
    /// The return at which the task counts as solved.
    public var rewardThreshold: Double?
    /// Keyword arguments passed to `make` unless overridden.
    public var defaultArguments: [String: Double]
    public var make: @Sendable (_ arguments: [String: Double]) throws -> Environment

    public init(id: String, maxEpisodeSteps: Int?, rewardThreshold: Double?, defaultArguments: [String: Double] = [:],
                make: @escaping @Sendable ([String: Double]) throws -> Environment) {
        self.id = id
        self.maxEpisodeSteps = maxEpisodeSteps
        self.rewardThreshold = rewardThreshold
        self.defaultArguments = defaultArguments
        self.make = make
    }
}

/// Environments by id. The classic-control tasks are registered from the start; add your own with `register`.
public enum Registry {
    nonisolated(unsafe) private static var specs: [String: EnvironmentSpec] = builtIn()
    private static let lock = NSLock()

    public static func register(_ spec: EnvironmentSpec) {
        lock.lock(); defer { lock.unlock() }
        specs[spec.id] = spec
    }

    public static var ids: [String] {
        lock.lock(); defer { lock.unlock() }
        return specs.keys.sorted()
    }

    public static func spec(_ id: String) throws -> EnvironmentSpec {
        lock.lock(); defer { lock.unlock() }
        guard let spec = specs[id] else { throw EnvironmentError.unknownEnvironment(id: id, registered: specs.keys.sorted()) }
        return spec
    }

    /// Builds `id` with its default arguments overridden by `arguments`, wrapped in `TimeLimit` when the spec (or
    /// `maxEpisodeSteps`) sets a limit.
    public static func make(_ id: String, arguments: [String: Double] = [:], maxEpisodeSteps: Int? = nil) throws -> Environment {
        let spec = try spec(id)
        let env = try spec.make(spec.defaultArguments.merging(arguments) { $1 })
        if let limit = maxEpisodeSteps ?? spec.maxEpisodeSteps { return TimeLimit(env, maxEpisodeSteps: limit) }
        return env
    }

    static func builtIn() -> [String: EnvironmentSpec] {
        let list = [
            EnvironmentSpec(id: "CartPole-v1", maxEpisodeSteps: 500, rewardThreshold: 475) { _ in CartPole() },
            EnvironmentSpec(id: "Acrobot-v1", maxEpisodeSteps: 500, rewardThreshold: -100) { _ in Acrobot() },
            EnvironmentSpec(id: "MountainCar-v0", maxEpisodeSteps: 200, rewardThreshold: -110) { _ in MountainCar() },
            EnvironmentSpec(id: "MountainCarContinuous-v0", maxEpisodeSteps: 999, rewardThreshold: 90) { _ in MountainCarContinuous() },
            EnvironmentSpec(id: "Pendulum-v1", maxEpisodeSteps: 200, rewardThreshold: nil, defaultArguments: ["g": 10]) { args in
                Pendulum(gravity: args["g"] ?? 10)
            },
        ]
        return Dictionary(uniqueKeysWithValues: list.map { ($0.id, $0) })
    }
}
