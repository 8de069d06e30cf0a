import Foundation
import Testing
@testable import Torch
import TestSupport

@Suite("safetensors")
struct SafeTensorsTests {
    @Test("every dtype round-trips bit for bit with metadata")
    func roundTrip() throws {
        let dir = try temporaryDirectory()
        var tensors: [String: Tensor] = [:]
        let source = Tensor([0.5, -1.25, 3, 1e-3, -7, 2.75] as [Double], shape: [2, 3])
        for dtype in DType.allCases { tensors["t.\(dtype.rawValue)"] = source.to(dtype: dtype) }
        tensors["scalar"] = Tensor(Float(4.5))
        tensors["empty"] = Tensor.zeros([0, 4])
        let url = dir.appendingPathComponent("all.safetensors")
        try SafeTensors.write(tensors, metadata: ["format": "pt", "note": "round trip"], to: url)
        let (loaded, metadata) = try SafeTensors.read(url)
        #expect(metadata == ["format": "pt", "note": "round trip"])
        #expect(Set(loaded.keys) == Set(tensors.keys))
        for (name, original) in tensors {
            let back = try #require(loaded[name])
            #expect(back.dtype == original.dtype, "\(name)")
            #expect(back.shape == original.shape, "\(name)")
            #expect(back.rawBytes() == original.rawBytes(), "\(name)")
        }
        // The data section starts 8-byte aligned.
        let bytes = try Data(contentsOf: url)
        let headerLength = bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect((8 + headerLength) % 8 == 0)
    }

    @Test("every Hugging Face fixture checkpoint matches its config.json", arguments: Fixtures.huggingFaceModels)
    func huggingFaceCheckpoints(model: URL) throws {
        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: model.appendingPathComponent("config.json"))) as? [String: Any])
        let tensors = try SafeTensors.load(model)
        #expect(!tensors.isEmpty)
        let header = try SafeTensors.header(of: model.appendingPathComponent("model.safetensors")).tensors
        #expect(Set(header.keys) == Set(tensors.keys))

        let dtypeName = (config["dtype"] ?? config["torch_dtype"]) as? String ?? "float32"
        let dtype: DType = ["float32": .float32, "bfloat16": .bfloat16, "float16": .float16][dtypeName]!
        let hidden = (config["hidden_size"] ?? config["n_embd"]) as! Int
        let vocab = config["vocab_size"] as! Int
        let layers = (config["num_hidden_layers"] ?? config["n_layer"]) as! Int
        let heads = (config["num_attention_heads"] ?? config["n_head"]) as? Int
        let kvHeads = config["num_key_value_heads"] as? Int ?? heads
        let intermediate = config["intermediate_size"] as? Int ?? 4 * hidden

        for (name, t) in tensors {
            #expect(t.dtype == dtype, "\(name) is \(t.dtype), config says \(dtypeName)")
            #expect(t.shape == header[name]!.shape)
        }
        let layerIndices = Set(tensors.keys.compactMap { name -> Int? in
            let parts = name.split(separator: ".")
            guard let i = parts.firstIndex(where: { $0 == "layers" || $0 == "h" }), i + 1 < parts.count else { return nil }
            return Int(parts[i + 1])
        })
        #expect(layerIndices == Set(0..<layers))
        let embedding = try #require(tensors.first { $0.key.hasSuffix("embed_tokens.weight") || $0.key.hasSuffix("wte.weight") }?.value)
        #expect(embedding.shape == [vocab, hidden])
        let tied = config["tie_word_embeddings"] as? Bool ?? true
        #expect((tensors["lm_head.weight"] != nil) == !tied)
        if let head = tensors["lm_head.weight"] { #expect(head.shape == [vocab, hidden]) }
        // Qwen3's head_dim is its own setting (not hidden / heads), and its per-head q/k norms have that width.
        let headDim = config["head_dim"] as? Int ?? hidden / (heads ?? 1)
        for (name, t) in tensors where name.hasSuffix("norm.weight") || name.contains("ln_") {
            let perHead = name.hasSuffix("q_norm.weight") || name.hasSuffix("k_norm.weight")
            #expect(t.shape == [perHead ? headDim : hidden], "\(name)")
        }
        for (name, t) in tensors {
            if name.hasSuffix("q_proj.weight") { #expect(t.shape == [(heads ?? 1) * headDim, hidden], "\(name)") }
            if name.hasSuffix("o_proj.weight") { #expect(t.shape == [hidden, (heads ?? 1) * headDim], "\(name)") }
            if name.hasSuffix("k_proj.weight") || name.hasSuffix("v_proj.weight") { #expect(t.shape == [kvHeads! * headDim, hidden], "\(name)") }
            if name.hasSuffix("gate_proj.weight") || name.hasSuffix("up_proj.weight") { #expect(t.shape == [intermediate, hidden], "\(name)") }
            if name.hasSuffix("down_proj.weight") { #expect(t.shape == [hidden, intermediate], "\(name)") }
            if name.hasSuffix("c_attn.weight") { #expect(t.shape == [hidden, 3 * hidden], "\(name)") }
            if name.hasSuffix("c_fc.weight") { #expect(t.shape == [hidden, intermediate], "\(name)") }
            if name.hasSuffix("wpe.weight") { #expect(t.shape == [config["n_positions"] as! Int, hidden], "\(name)") }
        }
        // Values are real weights, not zeros or garbage.
        #expect(embedding.to(dtype: .float64).isFinite().all().item(Bool.self))
        #expect(embedding.to(dtype: .float64).std().item(Double.self) > 1e-4)
    }

    @Test("a sharded checkpoint loads through its index")
    func sharded() throws {
        let dir = try temporaryDirectory()
        let g = Generator(seed: 5)
        let tensors = ["a.weight": Tensor.randn([16, 16], generator: g), "b.weight": Tensor.randn([16, 16], generator: g),
                       "c.bias": Tensor.randn([16], generator: g).to(dtype: .bfloat16)]
        try SafeTensors.writeSharded(tensors, to: dir, maxShardBytes: 1100)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        // a (1024 bytes) fills the first shard; b (1024) and c (32) share the second.
        #expect(files == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"])
        let loaded = try SafeTensors.load(dir)
        for (name, t) in tensors { #expect(loaded[name]?.rawBytes() == t.rawBytes(), "\(name)") }
    }

    @Test("an index naming a tensor its shard lacks is an error naming both")
    func shardMissingTensor() throws {
        let dir = try temporaryDirectory()
        try SafeTensors.write(["x": Tensor.ones([2])], to: dir.appendingPathComponent("part.safetensors"))
        let index = #"{"weight_map": {"x": "part.safetensors", "y": "part.safetensors"}}"#
        try index.write(to: dir.appendingPathComponent("model.safetensors.index.json"), atomically: true, encoding: .utf8)
        let error = #expect(throws: SafeTensorsError.self) { try SafeTensors.load(dir) }
        #expect(error?.description.contains("part.safetensors") == true)
        #expect(error?.description.contains("'y'") == true)
    }

    @Test("a truncated file throws an error naming the file")
    func truncated() throws {
        let dir = try temporaryDirectory()
        let url = dir.appendingPathComponent("model.safetensors")
        try SafeTensors.write(["w": Tensor.ones([64, 64])], to: url)
        let full = try Data(contentsOf: url)
        for cut in [4, 20, full.count - 10] {
            try full.prefix(cut).write(to: url)
            let error = #expect(throws: SafeTensorsError.self) { try SafeTensors.read(url) }
            #expect(error?.file == url.path)
            #expect(error?.description.contains(url.path) == true)
        }
    }

    @Test("headers that lie about sizes, offsets, dtypes or JSON are rejected")
    func lyingHeaders() throws {
        let dir = try temporaryDirectory()
        func file(header: String, dataBytes: Int) throws -> URL {
            var data = Data()
            var length = UInt64(header.utf8.count).littleEndian
            data.append(Data(bytes: &length, count: 8))
            data.append(Data(header.utf8))
            data.append(Data(count: dataBytes))
            let url = dir.appendingPathComponent("lie-\(UUID().uuidString).safetensors")
            try data.write(to: url)
            return url
        }
        let cases: [(String, Int, String)] = [
            (#"{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}}"#, 12, "needs 16"),
            (#"{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}"#, 8, "truncated"),
            (#"{"w": {"dtype": "Q4", "shape": [4], "data_offsets": [0, 4]}}"#, 4, "unsupported dtype"),
            (#"{"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}"#, 4, "malformed shape"),
            (#"{"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}"#, 8, "malformed data_offsets"),
            (#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}"#, 12, "overlaps"),
            (#"{"w": {"dtype": "F32""#, 0, "not valid JSON"),
            (#"[1, 2]"#, 0, "not a JSON object"),
        ]
        for (header, bytes, phrase) in cases {
            let url = try file(header: header, dataBytes: bytes)
            let error = #expect(throws: SafeTensorsError.self) { try SafeTensors.read(url) }
            #expect(error?.description.contains(url.path) == true)
            #expect(error?.reason.contains(phrase) == true, "expected '\(phrase)' in: \(error?.reason ?? "no error")")
        }
        var huge = Data()
        var length = UInt64(1 << 40).littleEndian
        huge.append(Data(bytes: &length, count: 8))
        let url = dir.appendingPathComponent("huge.safetensors")
        try huge.write(to: url)
        #expect(throws: SafeTensorsError.self) { try SafeTensors.read(url) }
        #expect(throws: SafeTensorsError.self) { try SafeTensors.read(dir.appendingPathComponent("missing.safetensors")) }
    }

    @Test("writing replaces the old file only once the new one is complete")
    func atomicWrite() throws {
        let dir = try temporaryDirectory()
        let url = dir.appendingPathComponent("w.safetensors")
        try SafeTensors.write(["w": Tensor.ones([3])], to: url)
        try SafeTensors.write(["w": Tensor.zeros([3])], to: url)
        #expect(try SafeTensors.read(url).tensors["w"]?.floats == [0, 0, 0])
        // No temporary files are left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["w.safetensors"])
    }
}
