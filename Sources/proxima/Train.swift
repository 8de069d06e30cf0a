import ArgumentParser
import Environments
import Foundation
import NeuralNetworks
import ReinforcementLearning
import Torch

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
    @Option(help: "Random seed.") var seed: UInt64?
    @Option(help: "Total environment steps (n_timesteps).") var totalSteps: Int?
    @Option(name: .customLong("set"), help: "Override a hyperparameter: --set key=value (repeatable).") var overrides: [String] = []
    @Option(help: "Run directory (default runs/ENV__ALGO__SEED__TIME).") var out: String?
    @Option(help: "Continue the killed or finished run in this directory.") var resume: String?
    @Option(help: "Deterministic evaluation episodes after training (0 to skip).") var evalEpisodes: Int = 10
    @Flag(help: "No progress output.") var quiet = false
    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        if resume == nil && (algorithm == nil || env == nil) { throw ValidationError("give ALGORITHM and --env ID (or --resume DIR)") }
        if let totalSteps, totalSteps <= 0 { throw ValidationError("--total-steps must be positive, got \(totalSteps)") }
        if evalEpisodes < 0 { throw ValidationError("--eval-episodes must not be negative") }
    }

    func run() throws {
        threads.apply()
        try withUserErrors {
            let trainer: OnPolicyTrainer
            if let resume {
                trainer = try OnPolicyTrainer.resume(runDirectory: URL(fileURLWithPath: resume))
                print("resuming \(resume) at step \(trainer.steps) (update \(trainer.update) of \(trainer.config.updates))")
            } else {
                _ = try Registry.spec(env!)
                var settings = overrides
                if let seed { settings.append("seed=\(seed)") }
                if let totalSteps { settings.append("n_timesteps=\(totalSteps)") }
                let resolved = try OnPolicyConfig.resolve(algorithm: algorithm!, env: env!, file: config.map { URL(fileURLWithPath: $0) },
                                                          overrides: settings)
                let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "-")
                let directory = URL(fileURLWithPath: out ?? "runs/\(resolved.env)__\(resolved.algorithm.rawValue)__\(resolved.seed)__\(stamp)")
                if FileManager.default.fileExists(atPath: directory.appendingPathComponent("run.json").path) {
                    throw UserError(message: "\(directory.path) already holds a run; continue it with --resume \(directory.path) or choose another --out")
                }
                trainer = try OnPolicyTrainer(config: resolved, runDirectory: directory)
                let c = resolved
                print("\(c.algorithm.rawValue.uppercased()) on \(c.env): \(c.nTimesteps) steps, \(c.nEnvs) envs × \(c.nSteps) steps per rollout, seed \(c.seed), \(LibTorch.numThreads) thread(s)")
                print("run directory: \(directory.path)")
            }
            trainer.showProgress = !quiet
            let summary = try trainer.train()
            print(String(format: "trained %d steps in %.1f s (%.0f steps/s); mean return of the last %d episodes: %.1f",
                         summary.steps, summary.seconds, Double(summary.steps) / summary.seconds,
                         min(100, summary.episodes), summary.meanEpisodeReturn))
            if evalEpisodes > 0 {
                let artifact = try PolicyArtifact.read(trainer.modelURL)
                let returns = try artifact.evaluate(episodes: evalEpisodes, deterministic: true, seed: 1_000_000)
                let (mean, std) = meanAndStd(returns)
                print(String(format: "deterministic evaluation over %d episodes: %.1f ± %.1f", evalEpisodes, mean, std))
            }
            print("learning curve: \(summary.learningCurve.path)")
            print("model: \(trainer.modelURL.path)")
        }
    }
}

func meanAndStd(_ values: [Double]) -> (Double, Double) {
    let mean = values.reduce(0, +) / Double(max(values.count, 1))
    let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(values.count, 1))
    return (mean, variance.squareRoot())
}

/// Turns mistakes in user input (configuration, files, environment ids, actions) into a one-line error and exit code 2.
func withUserErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let error as ConfigurationError {
        throw UserError(message: error.description)
    } catch let error as EnvironmentError {
        throw UserError(message: error.description)
    } catch let error as SafeTensorsError {
        throw UserError(message: error.description)
    } catch let error as TrainingError {
        throw UserError(message: error.description)
    } catch let error as CheckpointError {
        throw UserError(message: error.description)
    } catch let error as TorchError {
        throw UserError(message: error.description)
    }
}

struct UserError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
