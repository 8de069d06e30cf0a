import ArgumentParser
import Foundation
import LanguageModels
import Torch

/// `proxima model …`: model directories.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "model", abstract: "Inspect Hugging Face model directories.",
                                                    subcommands: [Inspect.self, Convert.self, Init.self])

    /// `proxima model convert DIR --out DIR2`: load a model and save it again in the Hugging Face layout (another
    /// dtype on disk, or sharded) — what the trainers do with their results, so transformers loads it.
    struct Convert: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Load a model directory and save it in the Hugging Face layout (dtype, shards).")

        @Argument(help: "A Hugging Face model directory.") var directory: String
        @Option(help: "The directory to write.") var out: String
        @Option(help: "The dtype on disk: float32, bfloat16 or float16 (default: the source's).") var dtype: String?
        @Option(name: .customLong("max-shard-size"), help: "Shard the weights into files of at most this many MB.") var maxShardSize: Int?

        func run() throws {
            let saved: DType? = try dtype.map { name in
                guard let value = ["float32": DType.float32, "bfloat16": .bfloat16, "float16": .float16][name] else {
                    throw ValidationError("--dtype must be float32, bfloat16 or float16, got '\(name)'")
                }
                return value
            }
            if let maxShardSize, maxShardSize < 1 { throw ValidationError("--max-shard-size must be at least 1 (MB), got \(maxShardSize)") }
            guard !out.isEmpty else { throw ValidationError("--out must name a directory") }
            let model = try LanguageModel(directory: URL(fileURLWithPath: directory))
            try model.save(to: URL(fileURLWithPath: out), dtype: saved, maxShardBytes: (maxShardSize ?? 5_000) * 1_000_000)
            print("wrote \(out) (\(model.configuration.architecture.transformersClass), \(model.decoder.parameterCount()) parameters)")
        }
    }

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
