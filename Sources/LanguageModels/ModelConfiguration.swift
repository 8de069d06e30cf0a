import Foundation
import Torch

/// The decoder architectures Proxima runs, by the `model_type` of a Hugging Face `config.json`.
public enum ModelArchitecture: String, CaseIterable, Sendable {
    /// GPT-2: learned positions, LayerNorm, GELU (tanh), fused transposed `Conv1D` projections.
    case gpt2
    /// Llama: RMSNorm, rotary positions, SwiGLU, grouped-query attention. Mistral- and SmolLM-style configs too.
    case llama
    /// Qwen2: Llama with biases on the query, key and value projections.
    case qwen2
    /// Qwen3: Llama with an RMSNorm over each head of the query and key, and a head size of its own.
    case qwen3

    /// `model_type` values read as each architecture.
    static let aliases: [String: ModelArchitecture] = ["gpt2": .gpt2, "llama": .llama, "mistral": .llama, "qwen2": .qwen2, "qwen3": .qwen3]

    /// The class name transformers gives the causal-LM model (`architectures` in config.json).
    public var transformersClass: String {
        switch self {
        case .gpt2: "GPT2LMHeadModel"
        case .llama: "LlamaForCausalLM"
        case .qwen2: "Qwen2ForCausalLM"
        case .qwen3: "Qwen3ForCausalLM"
        }
    }
}

/// A decoder's shape and numerics, read from a Hugging Face `config.json` in either dialect: the transformers-4 keys
/// most published checkpoints carry (`rope_theta`, `rope_scaling`, `torch_dtype`) and the transformers-5 keys
/// (`rope_parameters` with `rope_theta`/`rope_type`, `dtype`). GPT-2's own key names (`n_embd`, `n_layer`, …) are
/// read for GPT-2.
public struct ModelConfiguration: @unchecked Sendable {
    public var architecture: ModelArchitecture
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    /// Key/value heads (grouped-query attention); `headCount` when the config has none.
    public var keyValueHeadCount: Int
    /// The size of one attention head (`head_dim`; hidden / heads when absent).
    public var headDimension: Int
    /// The MLP's inner size (`intermediate_size`; GPT-2: `n_inner`, 4 × hidden when null).
    public var intermediateSize: Int
    /// The longest sequence the position table covers (`max_position_embeddings`, `n_positions`).
    public var maximumPositions: Int
    /// The epsilon of RMSNorm (`rms_norm_eps`) or LayerNorm (`layer_norm_epsilon`).
    public var normEpsilon: Double
    /// Rotary base (`rope_theta`), for rotary architectures.
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling
    /// Whether the output head reuses the token embedding (a tied checkpoint has no `lm_head.weight`).
    public var tieWordEmbeddings: Bool
    /// Biases on the query, key and value projections (Qwen2; Llama's `attention_bias`).
    public var attentionBias: Bool
    /// A bias on the attention output projection too (Llama's `attention_bias` covers all four; Qwen2 has none there).
    public var outputProjectionBias: Bool
    /// Biases in the MLP (Llama's `mlp_bias`).
    public var mlpBias: Bool
    /// GPT-2's `scale_attn_by_inverse_layer_idx`: scores of layer i are further divided by i + 1.
    public var scaleAttentionByInverseLayerIndex: Bool
    /// The dtype of the weights on disk (`dtype` or `torch_dtype`), when the config names one.
    public var storedDType: DType?
    public var bosTokenID: Int?
    /// End-of-sequence ids (one or several).
    public var eosTokenIDs: [Int]
    public var padTokenID: Int?
    /// Not read from config.json: when set, the rotary inverse frequencies are rounded to this dtype, as in a
    /// PyTorch model that was cast to bfloat16 (or float16) and back (the cast rounds its rotary buffer). Reference
    /// outputs computed that way need it; transformers' `from_pretrained` keeps the table in float32 (nil).
    public var rotaryFrequencyDType: DType?
    /// The parsed file, written back (with the saved dtype) when the model is saved.
    public var raw: [String: Any]
    /// Where the configuration was read from.
    public var path: String

    /// Reads `config.json` of a model directory (or the file itself).
    public init(contentsOf url: URL) throws {
        let file = url.hasDirectoryPath || url.pathExtension != "json" ? url.appendingPathComponent("config.json") : url
        try self.init(file: ConfigurationFile(file))
    }

    /// Interprets a parsed `config.json`.
    public init(file: ConfigurationFile) throws {
        path = file.path
        raw = file.values
        guard let type = try file.optionalString("model_type") else {
            throw ModelLoadingError("\(file.path): key 'model_type' is required (supported: \(Self.supportedTypes))")
        }
        guard let architecture = ModelArchitecture.aliases[type] else {
            throw ModelLoadingError("\(file.path): model_type '\(type)' is not supported (supported: \(Self.supportedTypes))")
        }
        self.architecture = architecture
        vocabularySize = try file.int("vocab_size")
        let dtypeName = try file.optionalString("dtype") ?? file.optionalString("torch_dtype")
        if let dtypeName {
            guard let dtype = Self.dtypes[dtypeName] else {
                throw ModelLoadingError("\(file.path): dtype '\(dtypeName)' is not supported (supported: \(Self.dtypes.keys.sorted().joined(separator: ", ")))")
            }
            storedDType = dtype
        } else {
            storedDType = nil
        }
        bosTokenID = try file.optionalInt("bos_token_id")
        eosTokenIDs = try file.intList("eos_token_id")
        padTokenID = try file.optionalInt("pad_token_id")
        if architecture == .gpt2 {
            hiddenSize = try file.int("n_embd")
            layerCount = try file.int("n_layer")
            headCount = try file.int("n_head")
            keyValueHeadCount = headCount
            intermediateSize = try file.optionalInt("n_inner", in: 1...Int(Int32.max)) ?? 4 * hiddenSize
            maximumPositions = try file.int("n_positions")
            normEpsilon = try file.optionalDouble("layer_norm_epsilon") ?? 1e-5
            ropeTheta = 0
            ropeScaling = .default
            tieWordEmbeddings = try file.optionalBool("tie_word_embeddings") ?? true
            attentionBias = true
            outputProjectionBias = true
            mlpBias = true
            scaleAttentionByInverseLayerIndex = try file.optionalBool("scale_attn_by_inverse_layer_idx") ?? false
            let activation = try file.optionalString("activation_function") ?? "gelu_new"
            guard ["gelu_new", "gelu_pytorch_tanh"].contains(activation) else {
                throw ModelLoadingError("\(file.path): activation_function '\(activation)' is not supported (supported: gelu_new, gelu_pytorch_tanh)")
            }
            if try file.optionalBool("reorder_and_upcast_attn") == true {
                throw ModelLoadingError("\(file.path): reorder_and_upcast_attn = true is not supported")
            }
            guard hiddenSize % headCount == 0 else {
                throw ModelLoadingError("\(file.path): n_embd (\(hiddenSize)) must be a multiple of n_head (\(headCount))")
            }
            headDimension = hiddenSize / headCount
        } else {
            hiddenSize = try file.int("hidden_size")
            layerCount = try file.int("num_hidden_layers")
            headCount = try file.int("num_attention_heads")
            keyValueHeadCount = try file.optionalInt("num_key_value_heads", in: 1...Int(Int32.max)) ?? headCount
            intermediateSize = try file.int("intermediate_size")
            maximumPositions = try file.optionalInt("max_position_embeddings", in: 1...Int(Int32.max)) ?? 2048
            normEpsilon = try file.optionalDouble("rms_norm_eps") ?? 1e-6
            tieWordEmbeddings = try file.optionalBool("tie_word_embeddings") ?? false
            let bias = try file.optionalBool("attention_bias")
            attentionBias = architecture == .qwen2 ? true : bias ?? false
            outputProjectionBias = architecture == .qwen2 ? false : bias ?? false
            mlpBias = try file.optionalBool("mlp_bias") ?? false
            scaleAttentionByInverseLayerIndex = false
            let activation = try file.optionalString("hidden_act") ?? "silu"
            guard activation == "silu" else {
                throw ModelLoadingError("\(file.path): hidden_act '\(activation)' is not supported (supported: silu)")
            }
            if architecture == .qwen3 || file.has("head_dim") {
                headDimension = try file.optionalInt("head_dim", in: 1...65_536) ?? hiddenSize / headCount
            } else {
                guard hiddenSize % headCount == 0 else {
                    throw ModelLoadingError("\(file.path): hidden_size (\(hiddenSize)) must be a multiple of num_attention_heads (\(headCount))")
                }
                headDimension = hiddenSize / headCount
            }
            guard headCount % keyValueHeadCount == 0 else {
                throw ModelLoadingError("\(file.path): num_attention_heads (\(headCount)) must be a multiple of num_key_value_heads (\(keyValueHeadCount))")
            }
            guard headDimension % 2 == 0 else { throw ModelLoadingError("\(file.path): head_dim (\(headDimension)) must be even for rotary positions") }
            // transformers 5 keeps rope_theta and the scaling inside rope_parameters; transformers 4 at the top level.
            let parameters = try file.optionalObject("rope_parameters")
            ropeTheta = try parameters?.optionalDouble("rope_theta") ?? file.optionalDouble("rope_theta") ?? 10_000
            guard ropeTheta > 0 else { throw ModelLoadingError("\(file.path): rope_theta must be positive, got \(ropeTheta)") }
            let scalingObject = try parameters ?? file.optionalObject("rope_scaling")
            ropeScaling = try scalingObject.map { try Self.ropeScaling($0) } ?? .default
            if let window = try file.optionalInt("sliding_window", in: 1...Int(Int32.max)), try file.optionalBool("use_sliding_window") ?? (architecture == .llama),
               window < maximumPositions {
                throw ModelLoadingError("\(file.path): sliding-window attention (sliding_window = \(window)) is not supported")
            }
        }
        if vocabularySize > 1 << 24 { throw ModelLoadingError("\(file.path): vocab_size \(vocabularySize) is larger than 2^24") }
    }

    static let supportedTypes = ModelArchitecture.aliases.keys.sorted().joined(separator: ", ")
    static let dtypes: [String: DType] = ["float32": .float32, "float16": .float16, "bfloat16": .bfloat16, "float64": .float64]

    private static func ropeScaling(_ object: ConfigurationFile) throws -> RopeScaling {
        let type = try object.optionalString("rope_type") ?? object.optionalString("type") ?? "default"
        switch type {
        case "default": return .default
        case "linear":
            guard let factor = try object.optionalDouble("factor"), factor > 0 else {
                throw ModelLoadingError("\(object.path): linear scaling needs a positive 'factor'")
            }
            return .linear(factor: factor)
        case "llama3":
            guard let factor = try object.optionalDouble("factor"), let low = try object.optionalDouble("low_freq_factor"),
                  let high = try object.optionalDouble("high_freq_factor"),
                  let original = try object.optionalInt("original_max_position_embeddings", in: 1...Int(Int32.max)),
                  factor > 0, low > 0, high > low else {
                throw ModelLoadingError("\(object.path): llama3 scaling needs factor, low_freq_factor < high_freq_factor and original_max_position_embeddings")
            }
            return .llama3(factor: factor, lowFrequencyFactor: low, highFrequencyFactor: high, originalMaxPositionEmbeddings: original)
        default:
            throw ModelLoadingError("\(object.path): rope_type '\(type)' is not supported (supported: default, linear, llama3)")
        }
    }

    /// Parameters of the model this configuration describes (embeddings counted once when tied).
    public var parameterCount: Int {
        let h = hiddenSize, v = vocabularySize
        switch architecture {
        case .gpt2:
            let block = 2 * 2 * h + (h * 3 * h + 3 * h) + (h * h + h) + (h * intermediateSize + intermediateSize) + (intermediateSize * h + h)
            return v * h + maximumPositions * h + layerCount * block + 2 * h + (tieWordEmbeddings ? 0 : v * h)
        case .llama, .qwen2, .qwen3:
            let q = headCount * headDimension, kv = keyValueHeadCount * headDimension
            var attention = h * q + 2 * h * kv + q * h
            if attentionBias { attention += q + 2 * kv }
            if outputProjectionBias { attention += h }
            if architecture == .qwen3 { attention += 2 * headDimension }
            let mlp = 3 * h * intermediateSize + (mlpBias ? 2 * intermediateSize + h : 0)
            return v * h + layerCount * (attention + mlp + 2 * h) + h + (tieWordEmbeddings ? 0 : v * h)
        }
    }
}

/// Generation defaults from `generation_config.json`.
public struct GenerationDefaults: Sendable, Equatable {
    public var eosTokenIDs: [Int] = []
    public var bosTokenID: Int?
    public var padTokenID: Int?
    public var doSample: Bool?
    public var temperature: Double?
    public var topK: Int?
    public var topP: Double?
    public var minP: Double?
    public var repetitionPenalty: Double?
    public var maxNewTokens: Int?

    public init() {}

    /// Reads `generation_config.json` of a model directory; a directory without one has no defaults.
    public init(directory: URL) throws {
        let url = directory.appendingPathComponent("generation_config.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return }
        let file = try ConfigurationFile(url)
        eosTokenIDs = try file.intList("eos_token_id")
        bosTokenID = try file.optionalInt("bos_token_id")
        padTokenID = try file.optionalInt("pad_token_id")
        doSample = try file.optionalBool("do_sample")
        temperature = try file.optionalDouble("temperature")
        topK = try file.optionalInt("top_k")
        topP = try file.optionalDouble("top_p")
        minP = try file.optionalDouble("min_p")
        repetitionPenalty = try file.optionalDouble("repetition_penalty")
        maxNewTokens = try file.optionalInt("max_new_tokens", in: 1...Int(Int32.max))
    }
}
