import Foundation
import NeuralNetworks
import Torch

/// Shapes for models trained from scratch in CPU demos (`proxima model init`).
public enum ModelPreset: String, CaseIterable, Sendable {
    /// About 0.8M parameters plus the embedding: 4 layers of width 128, 4 heads.
    case tiny

    var layers: Int { 4 }
    var hidden: Int { 128 }
    var heads: Int { 4 }
    public var positions: Int { 256 }
}

/// Writes Hugging Face model directories with random weights.
public enum RandomModel {
    /// The config.json of `architecture` at `preset`'s shape for a tokenizer of `vocabularySize` ids.
    public static func configuration(_ architecture: ModelArchitecture, preset: ModelPreset, vocabularySize: Int,
                                     bosTokenID: Int?, eosTokenID: Int?, padTokenID: Int?) -> [String: Any] {
        var config: [String: Any] = [
            "model_type": architecture.rawValue, "architectures": [architecture.transformersClass], "vocab_size": vocabularySize,
            "initializer_range": 0.02, "tie_word_embeddings": true, "dtype": "float32",
        ]
        if let bosTokenID { config["bos_token_id"] = bosTokenID }
        if let eosTokenID { config["eos_token_id"] = eosTokenID }
        if let padTokenID { config["pad_token_id"] = padTokenID }
        switch architecture {
        case .gpt2:
            config.merge(["n_embd": preset.hidden, "n_layer": preset.layers, "n_head": preset.heads, "n_positions": preset.positions,
                          "n_inner": NSNull(), "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
                          "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0]) { $1 }
        case .llama, .qwen2, .qwen3:
            config.merge(["hidden_size": preset.hidden, "num_hidden_layers": preset.layers, "num_attention_heads": preset.heads,
                          "num_key_value_heads": preset.heads / 2, "intermediate_size": preset.hidden * 11 / 4,
                          "max_position_embeddings": preset.positions, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
                          "hidden_act": "silu", "attention_dropout": 0.0]) { $1 }
            if architecture == .qwen3 { config["head_dim"] = preset.hidden / preset.heads }
        }
        return config
    }

    /// A byte-level BPE tokenizer for demo models, trained on `texts` with `<|pad|>` and `<|endoftext|>` (EOS, BOS)
    /// as special tokens, that never merges digits (numbers are read one digit per token); with the files to write
    /// beside the model (`tokenizer.json`, `tokenizer_config.json`).
    public static func trainDemoTokenizer(texts: [String], vocabularySize: Int, maximumLength: Int = ModelPreset.tiny.positions) throws
        -> (tokenizer: Tokenizer, files: [String: Data]) {
        var trainer = BPETrainer(vocabularySize: vocabularySize, minimumFrequency: 2, specialTokens: ["<|pad|>", "<|endoftext|>"])
        trainer.keepsDigitsApart = true
        let trained = try trainer.train(texts: texts)
        let configText = """
        {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "model_max_length": \(maximumLength), "pad_token": "<|pad|>", "tokenizer_class": "PreTrainedTokenizerFast"}
        """
        let tokenizer = try Tokenizer(tokenizerJSON: trained.document, config: try JSONValue.parse(configText))
        return (tokenizer, ["tokenizer.json": Data(trained.document.serialized(pretty: true).utf8), "tokenizer_config.json": Data(configText.utf8)])
    }

    /// A character-level tokenizer (transformers' WordLevel model over single characters, as the peers' tiny models
    /// use): `<pad>`, `<bos>`, `<eos>`, `<unk>`, then one token per character of `characters`; no special tokens are
    /// added when encoding. With a vocabulary of only the task's characters, a tiny model cannot move probability onto
    /// tokens it never saw in training.
    public static func characterTokenizer(characters: String) throws -> (tokenizer: Tokenizer, files: [String: Data]) {
        var seen = Set<Character>()
        let alphabet = characters.filter { seen.insert($0).inserted }
        let specials = ["<pad>", "<bos>", "<eos>", "<unk>"]
        var vocabulary: [String: Int] = [:]
        for (id, token) in (specials + alphabet.map(String.init)).enumerated() { vocabulary[token] = id }
        let added = specials.enumerated().map { id, token in
            ["id": id, "content": token, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true] as [String: Any]
        }
        let document: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added, "normalizer": NSNull(),
            "pre_tokenizer": ["type": "Split", "pattern": ["Regex": "[\\s\\S]"], "behavior": "Isolated", "invert": false],
            "post_processor": NSNull(), "decoder": ["type": "Fuse"],
            "model": ["type": "WordLevel", "vocab": vocabulary, "unk_token": "<unk>"],
        ]
        let json = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
        let configText = """
        {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>", "model_max_length": \(ModelPreset.tiny.positions), "tokenizer_class": "PreTrainedTokenizerFast"}
        """
        let tokenizer = try Tokenizer(tokenizerJSON: try JSONValue.parse(String(decoding: json, as: UTF8.self)), config: try JSONValue.parse(configText))
        return (tokenizer, ["tokenizer.json": json, "tokenizer_config.json": Data(configText.utf8)])
    }

    /// Writes `config.json`, `model.safetensors` (weights normal(0, 0.02), norms one, biases zero, drawn with
    /// `seed`), `generation_config.json` and the tokenizer files into `directory`.
    public static func write(_ architecture: ModelArchitecture, preset: ModelPreset, tokenizer: Tokenizer,
                             tokenizerFiles: [String: Data], to directory: URL, seed: UInt64) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = configuration(architecture, preset: preset, vocabularySize: tokenizer.idCount,
                                   bosTokenID: tokenizer.bosTokenID, eosTokenID: tokenizer.eosTokenID, padTokenID: tokenizer.padTokenID)
        let configURL = directory.appendingPathComponent("config.json")
        try AtomicFile.write(JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]), to: configURL)
        let parsed = try ModelConfiguration(contentsOf: configURL)
        let decoder = makeDecoder(parsed, dtype: .float32)
        let generator = Generator(seed: seed)
        var tensors: [String: Tensor] = [:]
        for (name, tensor) in decoder.checkpointTensors().sorted(by: { $0.key < $1.key }) {
            if tensor.rank >= 2 {
                Initializer.normal(mean: 0, std: 0.02).apply(to: tensor, generator: generator)
            } else {
                Initializer.constant(name.hasSuffix(".bias") ? 0 : 1).apply(to: tensor)
            }
            tensors[name] = tensor.contiguous()
        }
        try SafeTensors.write(tensors, metadata: ["format": "pt"], to: directory.appendingPathComponent("model.safetensors"))
        var generation: [String: Any] = ["do_sample": false]
        if let eos = tokenizer.eosTokenID { generation["eos_token_id"] = eos }
        if let bos = tokenizer.bosTokenID { generation["bos_token_id"] = bos }
        if let pad = tokenizer.padTokenID { generation["pad_token_id"] = pad }
        try AtomicFile.write(JSONSerialization.data(withJSONObject: generation, options: [.prettyPrinted, .sortedKeys]),
                             to: directory.appendingPathComponent("generation_config.json"))
        for (name, data) in tokenizerFiles { try AtomicFile.write(data, to: directory.appendingPathComponent(name)) }
    }
}
