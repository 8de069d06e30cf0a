import Foundation
import NeuralNetworks
import Torch

/// A causal language model loaded from a Hugging Face model directory (`config.json`, `model.safetensors` or a
/// sharded `model.safetensors.index.json`, `generation_config.json`), ready to compute logits, log-probabilities
/// and generations, and to be saved back in the same layout.
///
/// ```swift
/// let model = try LanguageModel(directory: URL(fileURLWithPath: "models/SmolLM2-135M"))
/// let logits = model.decoder.logits(ids, positions: positions)
/// ```
public final class LanguageModel {
    public let directory: URL
    public let configuration: ModelConfiguration
    /// The network, laid out with the checkpoint's module names.
    public let decoder: any TransformerDecoder
    public let generationDefaults: GenerationDefaults
    /// The dtype the model computes in (float32 unless asked otherwise).
    public let dtype: DType
    /// What loading did, tensor by tensor (adopted from the mapped file, converted, …).
    public let loadReport: SafeTensorsLoadReport
    /// Whether generation takes the architecture's decoding kernel where it applies (`TransformerDecoder.decodeStep`;
    /// `GenerationStatistics.kernelSteps` counts its steps). False runs every step through the modules.
    public var usesDecodeKernel = true
    /// The directory's tokenizer (`tokenizer.json` with `tokenizer_config.json`), when it has one.
    public let tokenizer: Tokenizer?
    /// The score head of a sequence classifier or reward model (`score.weight`); nil for a causal LM.
    public let scoreHead: ScoreHead?

    /// Loads the model in `directory`.
    ///
    /// - Parameters:
    ///   - dtype: the dtype to compute in: float32 by default (weights stored as bfloat16 or float16 are converted
    ///     once). bfloat16 is refused on CPUs without bfloat16 matrix instructions (AVX-512 BF16 or AMX), where its
    ///     matrix products are tens of times slower than float32, unless `allowSlowBFloat16`.
    /// - Throws: `ModelLoadingError` naming the file and key for a missing or malformed config, an unsupported
    ///   architecture, a missing or misshapen tensor; `SafeTensorsError` for a truncated or corrupt weights file.
    ///   - rotaryFrequencyDType: round the rotary table to this dtype (see `ModelConfiguration.rotaryFrequencyDType`).
    ///   - scoreLabels: load the model as a score model with this many labels: a `…ForSequenceClassification`
    ///     directory must have that many; a causal LM's trunk gets a new score head (drawn from the global
    ///     generator) and its output head is dropped — how a reward model starts from an SFT model. nil: whatever
    ///     the directory holds.
    public init(directory: URL, dtype: DType = .float32, allowSlowBFloat16: Bool = false, rotaryFrequencyDType: DType? = nil,
                scoreLabels: Int? = nil) throws {
        guard [.float32, .float64, .bfloat16, .float16].contains(dtype) else {
            throw ModelLoadingError("a language model computes in a floating-point dtype, not \(dtype)")
        }
        if dtype == .bfloat16 && !allowSlowBFloat16 && !CPUFeatures.hasBFloat16MatrixInstructions {
            throw ModelLoadingError("bfloat16 computation needs a CPU with AVX-512 BF16 or AMX (this one has neither, so bfloat16 matrix products would be tens of times slower than float32); compute in float32, or allow it explicitly")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelLoadingError("\(directory.path): not a model directory (no such directory)")
        }
        self.directory = directory
        self.dtype = dtype
        var configuration = try ModelConfiguration(contentsOf: directory.appendingPathComponent("config.json"))
        configuration.rotaryFrequencyDType = rotaryFrequencyDType
        self.configuration = configuration
        generationDefaults = try GenerationDefaults(directory: directory)
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent("tokenizer.json").path) {
            let tokenizer = try Tokenizer(directory: directory)
            guard tokenizer.idCount <= configuration.vocabularySize else {
                throw ModelLoadingError("\(directory.appendingPathComponent("tokenizer.json").path): the tokenizer has ids up to \(tokenizer.idCount - 1), beyond the model's embedding of \(configuration.vocabularySize) rows (config.json vocab_size)")
            }
            self.tokenizer = tokenizer
        } else {
            tokenizer = nil
        }
        let classifier = configuration.isSequenceClassifier
        if classifier, let labels = scoreLabels, labels != configuration.labelCount {
            throw ModelLoadingError("\(directory.appendingPathComponent("config.json").path): a sequence classifier with \(configuration.labelCount) labels, not \(labels)")
        }
        let isScoreModel = classifier || scoreLabels != nil
        let decoder = makeDecoder(configuration, dtype: dtype, outputHead: !isScoreModel)
        let files = try SafeTensors.files(of: directory).map { try SafeTensorsFile($0) }
        let architecture = configuration.architecture
        do {
            loadReport = try decoder.load(safetensors: files, mapping: { key in
                if key.hasPrefix("score.") { return nil }
                if isScoreModel && key.hasPrefix("lm_head.") { return nil }
                return parameterName(forCheckpointKey: key, architecture: architecture)
            })
        } catch let error as StateDictError {
            let names = files.map(\.url.lastPathComponent).joined(separator: ", ")
            throw ModelLoadingError("\(directory.path) (\(names)): \(error.description) — does config.json (\(configuration.architecture.rawValue), \(configuration.layerCount) layers, hidden \(configuration.hiddenSize)) describe these weights?")
        }
        if isScoreModel {
            let head = ScoreHead(hiddenSize: configuration.hiddenSize, labels: scoreLabels ?? configuration.labelCount, dtype: dtype)
            if classifier {
                do {
                    try head.load(safetensors: files, mapping: { $0.hasPrefix("score.") ? $0 : nil })
                } catch let error as StateDictError {
                    throw ModelLoadingError("\(directory.path): the score head: \(error.description)")
                }
            }
            head.eval()
            head.freeze()
            scoreHead = head
        } else {
            scoreHead = nil
        }
        decoder.eval()
        decoder.freeze()
        self.decoder = decoder
    }

    /// Every module that computes the model's outputs: the decoder, and the score head when there is one.
    public var modules: [Module] { [decoder as Module] + (scoreHead.map { [$0 as Module] } ?? []) }

    /// The ids that end a generation: `generation_config.json`'s, else `config.json`'s, else the tokenizer's EOS.
    public var eosTokenIDs: [Int] {
        if !generationDefaults.eosTokenIDs.isEmpty { return generationDefaults.eosTokenIDs }
        if !configuration.eosTokenIDs.isEmpty { return configuration.eosTokenIDs }
        return tokenizer?.eosTokenID.map { [$0] } ?? []
    }

    /// The pad id for batches: the config's, else the tokenizer's, else the first EOS id (padding is described by
    /// lengths, so the value only fills columns).
    public var padTokenID: Int { configuration.padTokenID ?? tokenizer?.padTokenID ?? eosTokenIDs.first ?? 0 }

    /// One empty cache per layer for `capacity` positions.
    public func makeCaches(capacity: Int) -> [PreallocatedKeyValueCache] {
        (0..<configuration.layerCount).map { _ in PreallocatedKeyValueCache(capacity: capacity) }
    }

    /// Writes the model into `directory` in the Hugging Face layout, so transformers (and Proxima) load it:
    /// `model.safetensors` (sharded with an index above `maxShardBytes`), `config.json` with the saved dtype,
    /// and the source directory's generation and tokenizer files. Every file is written atomically.
    ///
    /// - Parameter dtype: the dtype on disk; the dtype the source checkpoint was stored in when nil.
    public func save(to target: URL, dtype saved: DType? = nil, maxShardBytes: Int = 5 << 30) throws {
        let storedDType = saved ?? configuration.storedDType ?? dtype
        if target.standardizedFileURL.path == directory.standardizedFileURL.path {
            throw ModelLoadingError("\(target.path): saving over the directory the model was loaded from would replace the weights it reads")
        }
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        var all = decoder.checkpointTensors()
        if let scoreHead {
            for (name, tensor) in scoreHead.namedParameters() { all[name] = tensor }
        }
        let tensors = all.mapValues { $0.detach().to(dtype: storedDType).contiguous() }
        let bytes = tensors.values.reduce(0) { $0 + $1.count * $1.dtype.byteSize }
        if bytes > maxShardBytes {
            try SafeTensors.writeSharded(tensors, to: target, maxShardBytes: maxShardBytes, metadata: ["format": "pt"])
        } else {
            try SafeTensors.write(tensors, metadata: ["format": "pt"], to: target.appendingPathComponent("model.safetensors"))
        }
        var config = configuration.raw
        let name = ModelConfiguration.dtypes.first { $0.value == storedDType }?.key ?? "float32"
        if config["torch_dtype"] != nil { config["torch_dtype"] = name }
        if let scoreHead {
            config["architectures"] = [configuration.sequenceClassifierClass]
            let labels = (0..<scoreHead.labels).map { "LABEL_\($0)" }
            config["id2label"] = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ("\($0.offset)", $0.element) })
            config["label2id"] = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($0.element, $0.offset) })
            // A score model needs a pad id to batch; transformers refuses batches without one.
            if config["pad_token_id"] == nil || config["pad_token_id"] is NSNull { config["pad_token_id"] = padTokenID }
        }
        config["dtype"] = name
        let data = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(data, to: target.appendingPathComponent("config.json"))
        for file in ["generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"] {
            let source = directory.appendingPathComponent(file)
            guard FileManager.default.fileExists(atPath: source.path) else { continue }
            try AtomicFile.write(Data(contentsOf: source), to: target.appendingPathComponent(file))
        }
    }
}

/// What the CPU offers for reduced-precision matrix products.
public enum CPUFeatures {
    /// Whether /proc/cpuinfo lists `avx512_bf16` or `amx_bf16`.
    public static let hasBFloat16MatrixInstructions: Bool = {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        let set = Set(flags.split(separator: " ").map(String.init))
        return set.contains("avx512_bf16") || set.contains("amx_bf16")
    }()
}
