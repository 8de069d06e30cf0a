import Environments
import FastKernels
import Foundation
import NeuralNetworks
import Torch
import Tracking
import Training

/// The files of one training run, as `proxima train` leaves them:
/// `config.json` (resolved hyperparameters), `run.json` (status, seed, threads, versions, returns),
/// `metrics.jsonl` / `metrics.csv` / TensorBoard events, `checkpoints/checkpoint.safetensors` (complete state, for
/// resuming), `model.safetensors` (the final policy, see `PolicyArtifact`) and `learning_curve.svg`.
public struct RunDirectory {
    public let url: URL

    public init(_ url: URL) { self.url = url }

    public var configURL: URL { url.appendingPathComponent("config.json") }
    public var checkpointURL: URL { url.appendingPathComponent("checkpoints/checkpoint.safetensors") }
    public var modelURL: URL { url.appendingPathComponent("model.safetensors") }
    public var learningCurveURL: URL { url.appendingPathComponent("learning_curve.svg") }

    /// Whether a run was started here.
    public var holdsRun: Bool { FileManager.default.fileExists(atPath: url.appendingPathComponent("run.json").path) }

    /// The recorders that fill this directory while `algorithm` learns: the configuration (at a fresh start), run
    /// status, metrics, a checkpoint every `checkpointInterval` updates, the learning curve, and progress output when
    /// `progress` is set.
    public func recorders(for algorithm: OnPolicyAlgorithm, checkpointInterval: Int, progress: Bool) -> [TrainingRecorder] {
        let threshold = (try? Registry.spec(algorithm.environmentID))?.rewardThreshold
        let curve = LearningCurveRecorder(
            directory: url, metric: "rollout/ep_rew_mean",
            title: "\(algorithm.algorithm.rawValue.uppercased()) on \(algorithm.environmentID) (seed \(algorithm.settings.seed))",
            xLabel: "environment steps", yLabel: "mean episode return (last 100)",
            reference: threshold.map { ($0, "reward threshold \(String(format: "%g", $0))") })
        let status = RunStatusRecorder(directory: url) { [algorithm, curve] in
            var facts: [String: Any] = [
                "algorithm": algorithm.algorithm.rawValue, "env": algorithm.environmentID, "seed": algorithm.settings.seed,
                "threads": FastPath.threads ?? LibTorch.numThreads, "libtorch": LibTorch.version, "proxima": proximaVersion,
            ]
            if let meanReturn = algorithm.collector.meanEpisodeReturn { facts["last_return"] = meanReturn }
            if let best = curve.points.map(\.y).max() { facts["best_return"] = best }
            return facts
        }
        var recorders: [TrainingRecorder] = [
            DirectoryLockRecorder(directory: url),
            ConfigurationFileRecorder(url: configURL, algorithm: algorithm, checkpointInterval: checkpointInterval),
            status, MetricsRecorder(directory: url), CheckpointRecorder(url: checkpointURL, interval: checkpointInterval), curve,
        ]
        if progress {
            recorders.append(ProgressRecorder(headline: [("return", "rollout/ep_rew_mean"), ("value loss", "train/value_loss")]))
        }
        return recorders
    }

    /// The run's configuration (`config.json`).
    public func configuration() throws -> RunConfiguration { try RunConfiguration.read(configURL) }

    /// Whether a process is writing this run now (it holds the directory's lock).
    public var isInUse: Bool { DirectoryLock.isHeld(url) }

    /// Rebuilds the run's algorithm from `config.json` and restores its last checkpoint; `continueLearning` then
    /// finishes the run as if it had never stopped. A run that stopped before its first checkpoint starts over.
    /// Pass `makeEnvironment` for an environment the registry does not know and `policy` for a policy type that is
    /// not registered.
    public func resume(makeEnvironment: (() throws -> Environment)? = nil, policy: ActorCriticPolicy? = nil) throws -> OnPolicyAlgorithm {
        let configuration = try configuration()
        let algorithm = try configuration.makeAlgorithm(makeEnvironment: makeEnvironment, policy: policy)
        if FileManager.default.fileExists(atPath: checkpointURL.path) {
            try algorithm.restore(checkpoint: checkpointURL)
        } else {
            try algorithm.plan(steps: configuration.totalSteps)
        }
        return algorithm
    }
}

/// Writes `config.json` when a run starts in a directory that has none (a continued run keeps its file).
final class ConfigurationFileRecorder: TrainingRecorder {
    let url: URL
    let algorithm: OnPolicyAlgorithm
    let checkpointInterval: Int

    init(url: URL, algorithm: OnPolicyAlgorithm, checkpointInterval: Int) {
        self.url = url
        self.algorithm = algorithm
        self.checkpointInterval = checkpointInterval
    }

    func trainingWillStart(_ run: TrainingRunState) throws {
        if FileManager.default.fileExists(atPath: url.path) {
            // A continued run keeps its file, unless its length changed (`--total-steps` on resume).
            let saved = (try? JSONSerialization.jsonObject(with: Data(contentsOf: url))) as? [String: Any]
            guard let steps = saved?["n_timesteps"] as? Int, steps != run.plannedUnits,
                  var configuration = try? RunConfiguration.read(url) else { return }
            configuration.totalSteps = run.plannedUnits
            try AtomicFile.write(Data(configuration.json().utf8), to: url)
            return
        }
        let configuration = algorithm.runConfiguration(totalSteps: run.plannedUnits, checkpointInterval: checkpointInterval)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try AtomicFile.write(Data(configuration.json().utf8), to: url)
    }
}

/// Proxima's version, recorded in run directories.
public let proximaVersion = "0.1.0"
