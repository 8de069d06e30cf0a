import Foundation

/// The result of encoding one text: token ids and the token strings they stand for.
public struct TokenEncoding: Sendable, Equatable {
    public var ids: [Int]
    public var tokens: [String]
    public init(ids: [Int], tokens: [String]) {
        self.ids = ids
        self.tokens = tokens
    }
}

/// The model of a tokenizer.
public enum TokenizerModel: Sendable {
    case bpe(BPEModel)
    case wordLevel(WordLevelModel)

    func tokenize(_ piece: [Unicode.Scalar], into ids: inout [Int32]) {
        switch self {
        case .bpe(let m): m.tokenize(piece, into: &ids)
        case .wordLevel(let m): m.tokenize(piece, into: &ids)
        }
    }

    func token(_ id: Int) -> String? {
        switch self {
        case .bpe(let m): m.token(id)
        case .wordLevel(let m): m.vocabulary.token(id)
        }
    }

    func id(_ token: String) -> Int? {
        switch self {
        case .bpe(let m): m.id(token)
        case .wordLevel(let m): m.vocabulary.id(token)
        }
    }

    var vocabulary: TokenVocabulary {
        switch self {
        case .bpe(let m): m.vocabulary
        case .wordLevel(let m): m.vocabulary
        }
    }

    func json() -> JSONValue {
        switch self {
        case .bpe(let m): m.json()
        case .wordLevel(let m): m.json()
        }
    }
}

/// A Hugging Face tokenizer loaded from `tokenizer.json` (and `tokenizer_config.json`), encoding and decoding as
/// the Rust `tokenizers` library does.
///
/// The pipeline for `encode`: added tokens are found in the raw text (those with `normalized: false`), the rest is
/// normalised and searched for the `normalized: true` added tokens, each remaining stretch is pre-tokenised and
/// given to the model, and the post-processor adds special tokens when asked to.
public final class Tokenizer: Sendable {
    public let normalizer: Normalizer?
    public let preTokenizer: PreTokenizer?
    public let model: TokenizerModel
    public let decoder: TokenDecoder?
    public let postProcessor: PostProcessor?
    /// The added tokens, in file order.
    public let addedTokens: [AddedToken]

    let addedByID: [Int: AddedToken]
    let addedByContent: [TokenBytes: Int]
    /// Decoding text of added tokens whose normalised form differs from their content.
    let normalizedAddedContent: [Int: String]
    let rawMatcher: AddedTokenMatcher
    let normalizedMatcher: AddedTokenMatcher
    let specialContents: Set<TokenBytes>

    /// Special tokens named by `tokenizer_config.json` (nil when absent).
    public let bosToken: String?
    public let eosToken: String?
    public let padToken: String?
    public let unkToken: String?
    /// `add_bos_token` / `add_eos_token` of `tokenizer_config.json` when present. They are reported, not applied:
    /// `tokenizers` (and transformers' `TokenizersBackend`) take special tokens from the post-processor.
    public let addBOSToken: Bool?
    public let addEOSToken: Bool?
    /// The `tokenizer.json` document this tokenizer was built from (what ``save(to:)`` writes).
    public let document: JSONValue

    /// Loads `tokenizer.json` and, when present, `tokenizer_config.json` from a directory.
    public convenience init(directory: URL) throws(TokenizerError) {
        let url = directory.appendingPathComponent("tokenizer.json")
        let json = try JSONValue.parse(contentsOf: url)
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        var config: JSONValue? = nil
        if FileManager.default.fileExists(atPath: configURL.path) { config = try JSONValue.parse(contentsOf: configURL) }
        // Errors name the files by their paths.
        try self.init(tokenizerJSON: json, config: config, file: url.path, configFile: configURL.path)
    }

    /// Builds a tokenizer from a parsed `tokenizer.json` and optional `tokenizer_config.json`.
    public init(tokenizerJSON: JSONValue, config: JSONValue? = nil, file: String = "tokenizer.json",
                configFile: String = "tokenizer_config.json") throws(TokenizerError) {
        document = tokenizerJSON
        let root = TokenizerJSONField(tokenizerJSON, file: file)
        guard case .object = tokenizerJSON else { throw root.error("the document must be an object (found \(tokenizerJSON.kindName))") }
        normalizer = try root.nonNull("normalizer").map { f throws(TokenizerError) in try Normalizer(json: f) }
        preTokenizer = try root.nonNull("pre_tokenizer").map { f throws(TokenizerError) in try PreTokenizer(json: f) }
        decoder = try root.nonNull("decoder").map { f throws(TokenizerError) in try TokenDecoder(json: f) }
        postProcessor = try root.nonNull("post_processor").map { f throws(TokenizerError) in try PostProcessor(json: f) }
        let modelField = try root.required("model")
        let modelType: String
        if modelField.nonNull("type") == nil, modelField.nonNull("merges") != nil {
            modelType = "BPE"
        } else {
            modelType = try modelField.type(supported: ["BPE", "WordLevel"])
        }
        model = modelType == "BPE" ? .bpe(try BPEModel(json: modelField)) : .wordLevel(try WordLevelModel(json: modelField))

        var tokens: [AddedToken] = []
        if let list = root.nonNull("added_tokens") {
            for item in try list.array() { tokens.append(try AddedToken(json: item)) }
        }
        addedTokens = tokens
        var byID: [Int: AddedToken] = [:]
        var byContent: [TokenBytes: Int] = [:]
        var specials = Set<TokenBytes>()
        var normalizedContent: [Int: String] = [:]
        var raw: [([Unicode.Scalar], AddedToken)] = []
        var normalizedPatterns: [([Unicode.Scalar], AddedToken)] = []
        for t in tokens where !t.content.isEmpty {
            byID[t.id] = t
            byContent[TokenBytes(t.content)] = t.id
            if t.special { specials.insert(TokenBytes(t.content)) }
            let scalars = Array(t.content.unicodeScalars)
            if t.normalized {
                let pattern = normalizer?.normalize(scalars) ?? scalars
                if pattern != scalars {
                    var view = String.UnicodeScalarView()
                    view.append(contentsOf: pattern)
                    normalizedContent[t.id] = String(view)
                }
                normalizedPatterns.append((pattern, t))
            } else {
                raw.append((scalars, t))
            }
        }
        addedByID = byID
        addedByContent = byContent
        specialContents = specials
        normalizedAddedContent = normalizedContent
        rawMatcher = AddedTokenMatcher(raw.map { (pattern: $0.0, token: $0.1) })
        normalizedMatcher = AddedTokenMatcher(normalizedPatterns.map { (pattern: $0.0, token: $0.1) })

        let configRoot = config.map { TokenizerJSONField($0, file: configFile) }
        func specialName(_ key: String) throws(TokenizerError) -> String? {
            guard let f = configRoot?.nonNull(key) else { return nil }
            if case .string(let s) = f.value { return s }
            if case .object = f.value { return try f.string("content") }
            throw f.error("must be a string or an object with \"content\" (found \(f.value.kindName))")
        }
        bosToken = try specialName("bos_token")
        eosToken = try specialName("eos_token")
        padToken = try specialName("pad_token")
        unkToken = try specialName("unk_token")
        addBOSToken = try configRoot?.nonNull("add_bos_token")?.bool()
        addEOSToken = try configRoot?.nonNull("add_eos_token")?.bool()
    }

    // MARK: Vocabulary

    /// The id of a token (added tokens first, then the model vocabulary), compared byte-exactly.
    public func tokenToID(_ token: String) -> Int? {
        addedByContent[TokenBytes(token)] ?? model.id(token)
    }

    /// The token string of an id.
    public func idToToken(_ id: Int) -> String? {
        if let added = addedByID[id] { return normalizedAddedContent[id] ?? added.content }
        return model.token(id)
    }

    /// The number of distinct tokens, added tokens included (`get_vocab_size(with_added_tokens=True)`).
    public var vocabularySize: Int {
        var count = model.vocabulary.count
        for key in addedByContent.keys where model.vocabulary.tokenToID[key] == nil { count += 1 }
        return count
    }

    /// The largest id in use plus one: the number of rows an embedding table needs.
    public var idCount: Int {
        max(model.vocabulary.idToToken.count, (addedByID.keys.max() ?? -1) + 1)
    }

    public var bosTokenID: Int? { bosToken.flatMap(tokenToID) }
    public var eosTokenID: Int? { eosToken.flatMap(tokenToID) }
    public var padTokenID: Int? { padToken.flatMap(tokenToID) }
    public var unkTokenID: Int? { unkToken.flatMap(tokenToID) }

    /// Whether an id is a special added token.
    public func isSpecial(_ id: Int) -> Bool { addedByID[id]?.special ?? false }

    // MARK: Encoding

    /// Encodes text to token ids; with `addSpecialTokens`, the post-processor adds its special tokens.
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        var ids: [Int32] = []
        var tokens: [String]? = nil
        encodeRaw(text, ids: &ids, tokens: &tokens)
        let plain = ids.map { Int($0) }
        guard let postProcessor, addSpecialTokens else { return plain }
        return postProcessor.process(ids: plain, tokens: [], addSpecialTokens: true).ids
    }

    /// Encodes text to ids and token strings.
    public func encodeWithTokens(_ text: String, addSpecialTokens: Bool = true) -> TokenEncoding {
        var ids: [Int32] = []
        var tokens: [String]? = []
        encodeRaw(text, ids: &ids, tokens: &tokens)
        let plainIDs = ids.map { Int($0) }
        let plainTokens = tokens ?? []
        guard let postProcessor, addSpecialTokens else { return TokenEncoding(ids: plainIDs, tokens: plainTokens) }
        let result = postProcessor.process(ids: plainIDs, tokens: plainTokens, addSpecialTokens: true)
        return TokenEncoding(ids: result.ids, tokens: result.tokens)
    }

    func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    /// Runs everything up to (not including) the post-processor. `tokens` is filled when non-nil.
    func encodeRaw(_ text: String, ids: inout [Int32], tokens: inout [String]?) {
        let scalars = Array(text.unicodeScalars)
        if scalars.isEmpty { return }
        ids.reserveCapacity(scalars.count / 3)
        for split in rawMatcher.split(scalars) {
            switch split {
            case .token(let id, let range):
                ids.append(Int32(id))
                tokens?.append(string(scalars[range]))
            case .text(let range):
                if range.isEmpty { continue }
                let segment = Array(scalars[range])
                let normalized = normalizer?.normalize(segment) ?? segment
                for inner in normalizedMatcher.split(normalized) {
                    switch inner {
                    case .token(let id, let r):
                        ids.append(Int32(id))
                        tokens?.append(string(normalized[r]))
                    case .text(let r):
                        if r.isEmpty { continue }
                        let piece = TextPiece(Array(normalized[r]), atOrigin: range.lowerBound == 0 && r.lowerBound == 0)
                        let pieces = preTokenizer?.preTokenize([piece]) ?? [piece]
                        for p in pieces {
                            let start = ids.count
                            model.tokenize(p.scalars, into: &ids)
                            if tokens != nil {
                                for k in start..<ids.count { tokens?.append(model.token(Int(ids[k])) ?? "") }
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: Decoding

    /// Decodes ids to text; unknown ids are skipped, and special added tokens too with `skipSpecialTokens`.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            guard let token = idToToken(id) else { continue }
            if skipSpecialTokens && specialContents.contains(TokenBytes(token)) { continue }
            tokens.append(token)
        }
        if let decoder { return decoder.decode(tokens) }
        return tokens.joined(separator: " ")
    }
}
