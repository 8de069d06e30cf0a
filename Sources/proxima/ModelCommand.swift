import ArgumentParser
import Foundation
import LanguageModels
import Torch

/// `proxima model …`: model directories.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "model", abstract: "Inspect Hugging Face model directories.",
                                                    subcommands: [Inspect.self])

    /// `proxima model inspect DIR`: what the directory holds and what loading it would do, read from config.json and
    /// the safetensors headers (the weights are not read).
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Architecture, parameters, dtypes, tied weights and files of a model directory.")

        @Argument(help: "A Hugging Face model directory.") var directory: String

        func run() throws {
            let url = URL(fileURLWithPath: directory)
            let c = try ModelConfiguration(contentsOf: url.appendingPathComponent("config.json"))
            let files = try SafeTensors.files(of: url)
            var dtypes: [String: (tensors: Int, elements: Int)] = [:]
            var names = Set<String>()
            var bytes = 0
            for file in files {
                let header = try SafeTensors.header(of: file).tensors
                for (name, info) in header {
                    names.insert(name)
                    let elements = info.shape.reduce(1, *)
                    let key = SafeTensors.formatName(of: info.dtype)
                    dtypes[key, default: (0, 0)].tensors += 1
                    dtypes[key, default: (0, 0)].elements += elements
                    bytes += info.dataOffsets.count
                }
            }
            let expected = c.parameterCount
            let stored = dtypes.values.reduce(0) { $0 + $1.elements }
            print("\(url.path)")
            print("architecture: \(c.architecture.transformersClass) (model_type \(c.raw["model_type"] as? String ?? c.architecture.rawValue))")
            print("shape: \(c.layerCount) layers, hidden \(c.hiddenSize), \(c.headCount) heads (\(c.keyValueHeadCount) key/value), head size \(c.headDimension), MLP \(c.intermediateSize), vocabulary \(c.vocabularySize), \(c.maximumPositions) positions")
            if c.architecture != .gpt2 {
                print("positions: rotary, theta \(c.ropeTheta), scaling \(c.ropeScaling.ropeType)")
            }
            print("parameters: \(expected) (\(String(format: "%.1f", Double(expected) / 1e6))M); the files hold \(stored) in \(names.count) tensors")
            print("tied output head: \(c.tieWordEmbeddings ? "yes (no lm_head.weight)" : "no")")
            let onDisk = dtypes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.tensors) tensors" }.joined(separator: ", ")
            print("on disk: \(onDisk); \(files.count) file(s), \(String(format: "%.1f", Double(bytes) / 1e6)) MB: \(files.map(\.lastPathComponent).joined(separator: ", "))")
            let conversion = dtypes.keys.allSatisfy { $0 == "F32" } ? "adopted from the mapped file, no copy" : "converted once to float32"
            print("loading: computes in float32, weights \(conversion) (\(String(format: "%.1f", Double(expected) * 4 / 1e6)) MB)")
            let defaults = try GenerationDefaults(directory: url)
            let eos = defaults.eosTokenIDs.isEmpty ? c.eosTokenIDs : defaults.eosTokenIDs
            print("generation: eos \(eos), \(defaults.doSample == true ? "samples (temperature \(defaults.temperature ?? 1))" : "greedy by default")")
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("tokenizer.json").path) {
                let tokenizer = try Tokenizer(directory: url)
                print("tokenizer: \(tokenizer.vocabularySize) tokens, bos \(tokenizer.bosToken ?? "none"), eos \(tokenizer.eosToken ?? "none"), pad \(tokenizer.padToken ?? "none")")
            } else {
                print("tokenizer: none (no tokenizer.json)")
            }
            if stored != expected {
                print("warning: config.json describes \(expected) parameters, the files hold \(stored)")
            }
        }
    }
}
