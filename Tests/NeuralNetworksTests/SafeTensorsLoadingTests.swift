import Foundation
import Testing
import TestSupport
@testable import Torch
@testable import NeuralNetworks

final class LoadBlock: Module {
    @Key("q_proj") var query: Linear
    @Key("input_layernorm") var norm: RMSNorm

    init(dtype: DType, generator: Generator?) {
        _query.wrappedValue = Linear(inputSize: 6, outputSize: 6, dtype: dtype, generator: generator)
        super.init()
        norm = RMSNorm(6, dtype: dtype)
    }
}

/// Llama-like names: an embedding, blocks, a norm and a head tied to the embedding.
final class LoadModel: Module {
    @Key("embed_tokens") var embedding: Embedding
    @Key var layers: [LoadBlock]
    @Key var norm: RMSNorm
    @Key("lm_head") var head: Linear

    init(dtype: DType = .float64, seed: UInt64 = 0) {
        let g = Generator(seed: seed)
        let embedding = Embedding(count: 11, dimension: 6, dtype: dtype, generator: g)
        _embedding.wrappedValue = embedding
        layers = [LoadBlock(dtype: dtype, generator: g), LoadBlock(dtype: dtype, generator: g)]
        norm = RMSNorm(6, dtype: dtype)
        _head.wrappedValue = Linear(weight: embedding.weight)
    }

    func callAsFunction(_ ids: Tensor) -> Tensor {
        head(norm(layers.reduce(embedding(ids)) { h, block in h + block.query(block.norm(h)) }))
    }
}

@Suite("Loading safetensors into modules")
struct SafeTensorsLoadingTests {
    let ids = Tensor([[1, 4, 9], [0, 2, 10]] as [[Int]])

    /// A trained-looking source model written to a file (the tied head is stored once, as Hugging Face does).
    func checkpoint(dtype: DType = .float64, in dir: URL, name: String = "model.safetensors") throws -> (LoadModel, URL) {
        let source = LoadModel(dtype: .float64, seed: 42)
        withNoGrad { for p in source.parameters() { p.add_(Tensor.randn(p.shape, dtype: .float64, generator: Generator(seed: 1)) * 0.1) } }
        var state = source.stateDict().mapValues { $0.to(dtype: dtype) }
        state["lm_head.weight"] = nil
        let url = dir.appendingPathComponent(name)
        try SafeTensors.write(state, to: url)
        return (source, url)
    }

    @Test("a model on the CPU with the file's dtype adopts every tensor: it views the mapped file, no copy")
    func adoption() throws {
        let dir = try temporaryDirectory()
        let (source, url) = try checkpoint(in: dir)
        let file = try SafeTensorsFile(url)
        let a = withoutInitialization { LoadModel() }
        let b = withoutInitialization { LoadModel() }
        let report = try a.load(safetensors: [file])
        try b.load(safetensors: [file])
        #expect(report.adopted == file.names)
        #expect(report.converted.isEmpty && report.copied.isEmpty && report.missing.isEmpty && report.unexpected.isEmpty)
        for ((name, pa), (_, pb)) in zip(a.namedParameters(), b.namedParameters()) {
            #expect(file.contains(pa), "\(name) lies in the mapping")
            #expect(pa.dataAddress == pb.dataAddress, "\(name): two loads share the mapped bytes")
        }
        #expect(a.head.weight === a.embedding.weight, "the tie survives")
        expectClose(a(ids), source(ids).doubles, atol: 1e-12, "outputs")
    }

    @Test("a dtype change converts each tensor exactly once, straight from the file")
    func conversion() throws {
        let dir = try temporaryDirectory()
        let (source, url) = try checkpoint(dtype: .bfloat16, in: dir)
        let file = try SafeTensorsFile(url)
        let model = withoutInitialization { LoadModel(dtype: .float32) }
        let report = try model.load(safetensors: [file])
        #expect(report.converted == file.names && report.adopted.isEmpty && report.copied.isEmpty)
        for (name, p) in model.namedParameters() {
            #expect(p.dtype == .float32 && !file.contains(p), "\(name)")
            let expected = source.stateDict()[name]!.to(dtype: .bfloat16).to(dtype: .float32)
            #expect(p.equal(expected), "\(name) holds the bfloat16 values widened")
        }
    }

    @Test("optimizer steps on adopted weights stay private to the process: the file does not change")
    func trainingOnAdoptedWeights() throws {
        let dir = try temporaryDirectory()
        let (_, url) = try checkpoint(in: dir)
        let onDisk = try SafeTensors.read(url).tensors
        let model = withoutInitialization { LoadModel() }
        try model.load(safetensors: url)
        let sgd = SGD(parameters: model.parameters(), learningRate: 0.5)
        model(ids).square().mean().backward()
        sgd.step()
        #expect(!model.embedding.weight.equal(onDisk["embed_tokens.weight"]!))
        for (name, t) in try SafeTensors.read(url).tensors { #expect(t.equal(onDisk[name]!), "\(name) unchanged on disk") }
    }

    @Test("mapping renames and drops keys; missing and unexpected keys are reported, strictly or not")
    func mappingAndReports() throws {
        let dir = try temporaryDirectory()
        let (source, url) = try checkpoint(in: dir)
        // A checkpoint with Hugging Face's prefix, an extra buffer the mapping drops and one the model lacks.
        var state = try SafeTensors.read(url).tensors
        state = Dictionary(uniqueKeysWithValues: state.map { ("model.\($0.key)", $0.value) })
        state["model.layers.0.rotary_emb.inv_freq"] = Tensor.ones([3])
        state["model.extra.weight"] = Tensor.ones([2])
        state["model.norm.weight"] = nil
        let prefixed = dir.appendingPathComponent("prefixed.safetensors")
        try SafeTensors.write(state, to: prefixed)
        let mapping: (String) -> String? = { key in
            key.hasSuffix("inv_freq") ? nil : String(key.dropFirst("model.".count))
        }
        let strict = #expect(throws: StateDictError.self) {
            try withoutInitialization { LoadModel() }.load(safetensors: prefixed, mapping: mapping)
        }
        #expect(strict?.missing == ["norm.weight"])
        #expect(strict?.unexpected == ["prefixed.safetensors model.extra.weight → extra.weight"])

        let model = LoadModel(seed: 5)
        let norm = model.norm.weight.clone()
        let report = try model.load(safetensors: prefixed, mapping: mapping, strict: false)
        #expect(report.missing == ["norm.weight"])
        #expect(report.skipped == ["model.layers.0.rotary_emb.inv_freq"])
        #expect(report.unexpected == ["prefixed.safetensors model.extra.weight → extra.weight"])
        #expect(model.norm.weight.equal(norm), "a missing tensor is left as it was")
        #expect(model.layers[1].query.weight.equal(source.layers[1].query.weight))
    }

    @Test("a shape mismatch names the model key, the checkpoint key and the file, and assigns nothing")
    func shapeMismatch() throws {
        let dir = try temporaryDirectory()
        let (_, url) = try checkpoint(in: dir)
        var state = try SafeTensors.read(url).tensors
        state["layers.1.q_proj.bias"] = Tensor.zeros([5], dtype: .float64)
        let bad = dir.appendingPathComponent("bad.safetensors")
        try SafeTensors.write(state, to: bad)
        let model = LoadModel(seed: 3)
        let before = model.stateDict().mapValues { $0.clone() }
        let error = #expect(throws: StateDictError.self) { try model.load(safetensors: bad) }
        #expect(error?.shapeMismatched == ["layers.1.q_proj.bias (model [6], given [5] by 'layers.1.q_proj.bias' in bad.safetensors)"])
        for (name, t) in model.stateDict() { #expect(t.equal(before[name]!), "\(name) untouched") }
    }

    @Test("two checkpoint tensors mapped to one name are an error naming both")
    func duplicateTargets() throws {
        let dir = try temporaryDirectory()
        let (_, url) = try checkpoint(in: dir)
        let error = #expect(throws: SafeTensorsError.self) {
            try withoutInitialization { LoadModel() }.load(safetensors: url, mapping: { $0.hasSuffix("norm.weight") ? "norm.weight" : $0 })
        }
        #expect(error?.reason.contains("maps to 'norm.weight'") == true, "\(error?.reason ?? "")")
    }

    @Test("a sharded checkpoint loads through its directory, every shard adopted")
    func sharded() throws {
        let dir = try temporaryDirectory()
        let (source, url) = try checkpoint(in: dir)
        let shards = dir.appendingPathComponent("sharded")
        try SafeTensors.writeSharded(try SafeTensors.read(url).tensors, to: shards, maxShardBytes: 700)
        #expect(try SafeTensors.files(of: shards).count > 1)
        let model = withoutInitialization { LoadModel() }
        let report = try model.load(safetensors: shards)
        #expect(report.adopted.count == source.stateDict().count - 1)
        expectClose(model(ids), source(ids).doubles, atol: 1e-12, "outputs")
    }

    @Test("a Hugging Face fixture loads by its own names into a module of the same layout", arguments: Fixtures.huggingFaceModels)
    func huggingFaceFixture(model directory: URL) throws {
        let files = try SafeTensors.files(of: directory).map { try SafeTensorsFile($0) }
        #expect(!files.isEmpty)
        let model = withoutInitialization { HeaderShapedModel(files) }
        let report = try model.load(safetensors: files)
        let names = files.flatMap(\.names).sorted()
        let expectedDType = files[0].tensors.values.first!.dtype
        #expect(report.adopted == names, "every fixture tensor is viewed in place")
        #expect(report.missing.isEmpty && report.unexpected.isEmpty)
        for (name, t) in model.namedParameters() { #expect(t.dtype == expectedDType && files.contains { $0.contains(t) }, "\(name)") }
    }
}

/// A module with one parameter per tensor of the files, by the same dotted names (for loading real checkpoints
/// without their architecture).
final class HeaderShapedModel: Module {
    let tensors: [(String, Tensor)]

    init(_ files: [SafeTensorsFile]) {
        tensors = files.flatMap { file in
            file.names.map { ($0, Tensor.empty(file.tensors[$0]!.shape, dtype: file.tensors[$0]!.dtype)) }
        }
    }

    override func namedChildren() -> [(String, Any)] { tensors.map { ($0.0, $0.1) } }
}
