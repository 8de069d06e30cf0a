import Foundation

/// Writes `tokenizer.json` documents that Hugging Face `tokenizers` loads.
public enum TokenizerWriter {
    /// A GPT-2-style byte-level BPE document: ByteLevel pre-tokenizer (GPT-2 pattern, no prefix space), ByteLevel
    /// post-processor and decoder, no normaliser. `vocabulary[i]` is the token of id `i`; `specialTokens` are
    /// registered as special added tokens with their vocabulary ids.
    public static func byteLevelBPEDocument(vocabulary: [String], merges: [(String, String)], specialTokens: [String]) -> JSONValue {
        let byteLevel: JSONValue = .object([
            JSONMember("type", .string("ByteLevel")),
            JSONMember("add_prefix_space", .bool(false)),
            JSONMember("trim_offsets", .bool(true)),
            JSONMember("use_regex", .bool(true)),
        ])
        var idOf: [TokenBytes: Int] = [:]
        for (i, t) in vocabulary.enumerated() where idOf[TokenBytes(t)] == nil { idOf[TokenBytes(t)] = i }
        let added: [JSONValue] = specialTokens.compactMap { token in
            guard let id = idOf[TokenBytes(token)] else { return nil }
            return AddedToken(id: id, content: token, normalized: false, special: true).json()
        }
        let vocab: JSONValue = .object(vocabulary.enumerated().map { JSONMember($0.element, .number(JSONNumber($0.offset))) })
        let model: JSONValue = .object([
            JSONMember("type", .string("BPE")),
            JSONMember("dropout", .null),
            JSONMember("unk_token", .null),
            JSONMember("continuing_subword_prefix", .null),
            JSONMember("end_of_word_suffix", .null),
            JSONMember("fuse_unk", .bool(false)),
            JSONMember("byte_fallback", .bool(false)),
            JSONMember("ignore_merges", .bool(false)),
            JSONMember("vocab", vocab),
            JSONMember("merges", .array(merges.map { .array([.string($0.0), .string($0.1)]) })),
        ])
        return .object([
            JSONMember("version", .string("1.0")),
            JSONMember("truncation", .null),
            JSONMember("padding", .null),
            JSONMember("added_tokens", .array(added)),
            JSONMember("normalizer", .null),
            JSONMember("pre_tokenizer", byteLevel),
            JSONMember("post_processor", byteLevel),
            JSONMember("decoder", byteLevel),
            JSONMember("model", model),
        ])
    }

    /// Writes a document as pretty-printed UTF-8 JSON.
    public static func write(_ document: JSONValue, to url: URL) throws(TokenizerError) {
        do {
            try Data(document.serialized(pretty: true).utf8).write(to: url, options: .atomic)
        } catch {
            throw TokenizerError("\(url.path): cannot be written (\(error.localizedDescription))")
        }
    }
}

extension Tokenizer {
    /// Writes this tokenizer's `tokenizer.json` to `url` (a file path).
    public func save(to url: URL) throws(TokenizerError) {
        try TokenizerWriter.write(document, to: url)
    }
}
