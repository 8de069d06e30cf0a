import ArgumentParser
import Environments
import Foundation
import NeuralNetworks
import ReinforcementLearning
import Torch

/// `proxima eval --run DIR`: evaluates a trained policy.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eval", abstract: "Evaluate a trained policy.")

    @Option(name: .customLong("run"), help: "Run directory (or a model.safetensors file).") var runPath: String
    @Option(help: "Number of episodes.") var episodes: Int = 10
    @Flag(help: "Take the most likely action instead of sampling.") var deterministic = false
    @Flag(help: "Print one JSON object on the last line.") var json = false
    @Option(help: "Seed of the first episode.") var seed: UInt64 = 1_000_000
    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        if episodes <= 0 { throw ValidationError("--episodes must be positive, got \(episodes)") }
    }

    func run() throws {
        threads.apply()
        let artifact = try PolicyArtifact.read(try modelFile(runPath))
        let result = try artifact.evaluate(episodes: episodes, deterministic: deterministic, seed: seed)
        if json {
            let object: [String: Any] = ["mean_return": result.meanReturn, "std_return": result.stdReturn, "episodes": episodes]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print(String(format: "%@ on %@: mean return %.2f ± %.2f over %d episodes (%@)", artifact.algorithm.rawValue,
                         artifact.environmentID, result.meanReturn, result.stdReturn, episodes, deterministic ? "deterministic" : "sampled"))
        }
    }
}

/// The model file of a run directory (or the file itself).
func modelFile(_ path: String) throws -> URL {
    let url = URL(fileURLWithPath: path)
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw UserError(message: "\(path): no such run directory or model file")
    }
    if isDirectory.boolValue {
        let model = url.appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: model.path) else {
            throw UserError(message: "\(model.path): no final model (the run has not finished; resume it with proxima train --resume)")
        }
        return model
    }
    return url
}
