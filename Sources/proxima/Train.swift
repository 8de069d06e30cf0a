import ArgumentParser
import Environments
import Foundation
import NeuralNetworks
import ReinforcementLearning
import Torch
import Training

extension Algorithm: ExpressibleByArgument {}

/// `proxima train ALGO --env ID`: trains a policy and leaves a run directory with metrics, checkpoints, the final
/// model and a learning curve.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a policy with an on-policy algorithm.",
        discussion: "Hyperparameters: Stable-Baselines3 defaults, then the shipped RL-Zoo-style file for the algorithm, then --config, then --set and the flags.")

    @Argument(help: "The on-policy algorithm.")
    var algorithm: Algorithm?

    @Option(help: "Environment id, e.g. CartPole-v1.") var env: String?
    @Option(help: "YAML (env id → settings) or JSON hyperparameter file.") var config: String?
    @Option(help: "Random seed (default: the configuration's, 0).") var seed: UInt64?
    @Option(parsing: .unconditional, help: "Total environment steps (n_timesteps); with --resume, the run's new total.") var totalSteps: Int?
    @Option(name: .customLong("set"), help: "Override a hyperparameter: --set key=value (repeatable).") var overrides: [String] = []
    @Option(help: "Run directory (default runs/ENV__ALGO__SEED__TIME).") var out: String?
    @Option(help: "Continue the killed or finished run in this directory.") var resume: String?
    @Option(help: "Deterministic evaluation episodes after training (0 to skip).") var evalEpisodes: Int = 10
    @Flag(help: "No progress output.") var quiet = false
    @Flag(name: .customLong("validate"), help: "Check the configuration (values, sizes, memory) and exit without training.")
    var validateOnly = false
    @OptionGroup var threads: ThreadOptions
    /// Whatever the parser did not recognise, so that a misspelt option is reported as such (ArgumentParser would
    /// otherwise report the option it then misses, such as --env).
    @Argument(parsing: .allUnrecognized, help: .hidden) var unrecognized: [String] = []

    func validate() throws {
        if let first = unrecognized.first {
            let known = ["--env", "--config", "--seed", "--total-steps", "--set", "--out", "--resume", "--eval-episodes", "--quiet",
                         "--validate", "--threads"]
            let name = String(first.split(separator: "=", maxSplits: 1)[0])
            throw ValidationError(name.hasPrefix("-") ? "unknown option '\(name)'\(closest(name, known))" : "unexpected argument '\(first)'")
        }
        if resume != nil {
            // A resumed run continues with its own configuration: anything that would change it is refused.
            let given = [algorithm.map { _ in "ALGORITHM" }, env.map { _ in "--env" }, config.map { _ in "--config" },
                         seed.map { _ in "--seed" }, overrides.isEmpty ? nil : "--set",
                         out.map { _ in "--out" }, validateOnly ? "--validate" : nil].compactMap { $0 }
            if !given.isEmpty {
                throw ValidationError("--resume continues the run with its saved configuration; \(given.joined(separator: ", ")) cannot apply")
            }
            if resume!.isEmpty { throw ValidationError("--resume must not be empty") }
        }
        if resume == nil && (algorithm == nil || env == nil) { throw ValidationError("give ALGORITHM and --env ID (or --resume DIR)") }
        if let out, out.isEmpty { throw ValidationError("--out must not be empty") }
        if let totalSteps, totalSteps <= 0 { throw ValidationError("--total-steps must be positive, got \(totalSteps)") }
        if evalEpisodes < 0 { throw ValidationError("--eval-episodes must not be negative") }
    }

    func run() throws {
        threads.apply()
        let algorithm: OnPolicyAlgorithm, directory: RunDirectory, checkpointInterval: Int, totalSteps: Int?
        if let resume {
            directory = RunDirectory(URL(fileURLWithPath: resume))
            if directory.isInUse { throw TrainingError.directoryInUse(path: directory.url.path, holder: "") }
            let config = try directory.configuration()
            algorithm = try directory.resume()
            if let steps = self.totalSteps { try algorithm.extendPlan(toTotalSteps: steps) }
            checkpointInterval = config.checkpointInterval
            totalSteps = nil
            print("resuming \(resume) at step \(algorithm.steps) (update \(algorithm.updates) of \(algorithm.plannedUpdates ?? config.updates))")
        } else {
            _ = try Registry.spec(env!)
            var flags: [(key: String, value: Any, source: String)] = []
            if let seed { flags.append(("seed", seed, "--seed")) }
            if let steps = self.totalSteps { flags.append(("n_timesteps", steps, "--total-steps")) }
            let config = try RunConfiguration.resolve(algorithm: self.algorithm!, environment: env!,
                                                      file: self.config.map { URL(fileURLWithPath: $0) }, overrides: overrides,
                                                      settings: flags)
            try config.checkResources()
            if validateOnly {
                print("configuration valid: \(type(of: config.algorithm).algorithm.rawValue) on \(config.environment), \(config.updates) updates of \(config.algorithm.rolloutSize) steps")
                return
            }
            let name = type(of: config.algorithm).algorithm.rawValue
            let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "-")
            directory = RunDirectory(URL(fileURLWithPath: out ?? "runs/\(config.environment)__\(name)__\(config.algorithm.seed)__\(stamp)"))
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: directory.url.path, isDirectory: &isDirectory), !isDirectory.boolValue {
                throw UserError(message: "--out \(directory.url.path) is a file, not a directory")
            }
            if directory.holdsRun {
                throw UserError(message: "\(directory.url.path) already holds a run; continue it with --resume \(directory.url.path) or choose another --out")
            }
            algorithm = try config.makeAlgorithm()
            checkpointInterval = config.checkpointInterval
            let a = config.algorithm
            print("\(name.uppercased()) on \(config.environment): \(config.totalSteps) steps, \(a.environmentCount) envs × \(a.rolloutSteps) steps per rollout, seed \(a.seed), \(LibTorch.numThreads) thread(s)")
            print("run directory: \(directory.url.path)")
            totalSteps = config.totalSteps
        }
        let recorders = directory.recorders(for: algorithm, checkpointInterval: checkpointInterval, progress: !quiet)
        let result = try totalSteps.map { try algorithm.learn(steps: $0, recorders: recorders) }
            ?? algorithm.continueLearning(recorders: recorders)
        if result.outcome == .interrupted {
            print("interrupted at step \(result.steps) (update \(result.updates)); checkpoint written; continue with: proxima train --resume \(directory.url.path)")
            throw ExitCode(130)
        }
        try algorithm.save(to: directory.modelURL)
        print(String(format: "trained %d steps in %.1f s (%.0f steps/s); mean return of the last %d episodes: %.1f",
                     result.steps, result.seconds, Double(result.steps) / result.seconds,
                     min(100, result.episodes), result.meanEpisodeReturn ?? .nan))
        if evalEpisodes > 0 {
            let evaluation = try PolicyArtifact.read(directory.modelURL).evaluate(episodes: evalEpisodes, deterministic: true, seed: 1_000_000)
            print(String(format: "deterministic evaluation over %d episodes: %.1f ± %.1f", evalEpisodes, evaluation.meanReturn, evaluation.stdReturn))
        }
        print("learning curve: \(directory.learningCurveURL.path)")
        print("model: \(directory.modelURL.path)")
    }
}

/// A mistake in what was typed (a path, a combination of flags) found by the command line itself.
struct UserError: ProximaError {
    let message: String
    var description: String { message }
}
