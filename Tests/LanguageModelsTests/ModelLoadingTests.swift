import Foundation
import Testing
import TestSupport
import Torch
@testable import LanguageModels

/// A writable copy of a fixture model directory.
func copyOfFixture(_ name: String) throws -> URL {
    let target = try temporaryDirectory().appendingPathComponent(name)
    try FileManager.default.copyItem(at: Fixtures.huggingFace.appendingPathComponent(name), to: target)
    // Fixture files are read-only; the copies must be editable.
    for file in try FileManager.default.contentsOfDirectory(atPath: target.path) {
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: target.appendingPathComponent(file).path)
    }
    return target
}

func editConfig(_ directory: URL, _ edit: (inout [String: Any]) -> Void) throws {
    let url = directory.appendingPathComponent("config.json")
    var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    edit(&object)
    try JSONSerialization.data(withJSONObject: object).write(to: url)
}

@Suite("Loading and saving models")
struct ModelLoadingTests {
    @Test("save → reload gives identical logits, in one file and sharded, in the stored dtype", arguments: Fixtures.huggingFaceModels)
    func saveReload(directory: URL) throws {
        let model = try LanguageModel(directory: directory)
        let ids = row([5, 9, 13, 2, 40, 41])
        let positions = Tensor.arange(6).unsqueezed(0)
        let before = withInferenceMode { model.decoder.logits(ids, positions: positions) }
        for shard in [Int.max, 40_000] {
            let target = try temporaryDirectory().appendingPathComponent("saved")
            try model.save(to: target, maxShardBytes: shard)
            let names = try FileManager.default.contentsOfDirectory(atPath: target.path)
            #expect(names.contains("config.json") && names.contains("tokenizer.json") && names.contains("generation_config.json"))
            #expect(names.contains("model.safetensors.index.json") == (shard != Int.max), "\(names)")
            let header = try SafeTensors.files(of: target).flatMap { try SafeTensors.header(of: $0).tensors.values.map(\.dtype) }
            #expect(Set(header) == [model.configuration.storedDType ?? .float32], "saved in the checkpoint's own dtype")
            if model.configuration.tieWordEmbeddings {
                #expect(try SafeTensors.files(of: target).allSatisfy { try SafeTensors.header(of: $0).tensors["lm_head.weight"] == nil })
            }
            let reloaded = try LanguageModel(directory: target)
            let after = withInferenceMode { reloaded.decoder.logits(ids, positions: positions) }
            #expect(after.equal(before), "\(directory.lastPathComponent) shard \(shard)")
        }
    }

    @Test("a broken model directory is an error naming the file and the key, never a crash")
    func badInput() throws {
        let cases: [(String, (URL) throws -> Void, String)] = [
            ("missing config", { try FileManager.default.removeItem(at: $0.appendingPathComponent("config.json")) }, "config.json: no such file"),
            ("malformed config", { try Data("{\"model_type\": ".utf8).write(to: $0.appendingPathComponent("config.json")) }, "config.json: not valid JSON"),
            ("deep config", { try Data((String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)).utf8).write(to: $0.appendingPathComponent("config.json")) },
             "nested deeper than 64 levels"),
            ("unsupported type", { try editConfig($0) { $0["model_type"] = "mamba" } }, "model_type 'mamba' is not supported (supported: gpt2, llama, mistral, qwen2, qwen3)"),
            ("missing key", { try editConfig($0) { $0["hidden_size"] = nil } }, "key 'hidden_size' is required"),
            ("wrong type", { try editConfig($0) { $0["num_hidden_layers"] = "two" } }, "key 'num_hidden_layers' expects an integer, got \"two\""),
            ("fractional", { try editConfig($0) { $0["intermediate_size"] = 17.5 } }, "key 'intermediate_size' expects an integer, got 17.5"),
            ("heads", { try editConfig($0) { $0["num_key_value_heads"] = 3 } }, "must be a multiple of num_key_value_heads (3)"),
            ("rope", { try editConfig($0) { $0["rope_parameters"] = ["rope_type": "yarn", "rope_theta": 10000.0] } }, "rope_type 'yarn' is not supported"),
            ("shape", { try editConfig($0) { $0["intermediate_size"] = 100 } }, "shape mismatches"),
            ("missing tensor", { try editConfig($0) { $0["num_hidden_layers"] = 3 } }, "missing keys: model.layers.2"),
            ("truncated weights", { url in
                let file = url.appendingPathComponent("model.safetensors")
                let data = try Data(contentsOf: file)
                try data.prefix(data.count / 2).write(to: file)
            }, "model.safetensors"),
            ("tokenizer larger than the embedding", { try editConfig($0) { $0["vocab_size"] = 300 } },
             "tokenizer.json: the tokenizer has ids up to 655, beyond the model's embedding of 300 rows"),
            ("no weights", { try FileManager.default.removeItem(at: $0.appendingPathComponent("model.safetensors")) }, "model.safetensors"),
        ]
        for (name, damage, phrase) in cases {
            let directory = try copyOfFixture("tiny-llama")
            try damage(directory)
            do {
                _ = try LanguageModel(directory: directory)
                Issue.record("\(name): loaded")
            } catch let error as ProximaError {
                #expect(error.description.contains(phrase), "\(name): \(error.description)")
                #expect(error.description.contains(directory.path), "\(name) names no file: \(error.description)")
            }
        }
        #expect(throws: ModelLoadingError.self) { try LanguageModel(directory: URL(fileURLWithPath: "/nonexistent/model")) }
    }

    @Test("bfloat16 computation is refused without the CPU instructions unless allowed; config dialects agree")
    func dtypesAndDialects() throws {
        let directory = Fixtures.huggingFace.appendingPathComponent("tiny-llama")
        if !CPUFeatures.hasBFloat16MatrixInstructions {
            #expect(throws: ModelLoadingError.self) { try LanguageModel(directory: directory, dtype: .bfloat16) }
        }
        let slow = try LanguageModel(directory: directory, dtype: .bfloat16, allowSlowBFloat16: true)
        #expect(slow.decoder.outputEmbedding.dtype == .bfloat16)
        // transformers-4 keys (rope_theta at the top level, torch_dtype) read as the transformers-5 ones.
        let old = try copyOfFixture("tiny-llama")
        try editConfig(old) {
            $0["rope_parameters"] = nil
            $0["rope_theta"] = 10000.0
            $0["rope_scaling"] = ["rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                  "original_max_position_embeddings": 64]
            $0["torch_dtype"] = $0["dtype"]
            $0["dtype"] = nil
        }
        let configuration = try ModelConfiguration(contentsOf: old)
        #expect(configuration.ropeTheta == 10000 && configuration.storedDType == .float32)
        #expect(configuration.ropeScaling == .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalMaxPositionEmbeddings: 64))
        let fixture = try ModelConfiguration(contentsOf: directory)
        let loaded = try LanguageModel(directory: directory)
        #expect(fixture.ropeTheta == 10000 && fixture.ropeScaling == .default && fixture.parameterCount == loaded.decoder.parameterCount())
    }
}
