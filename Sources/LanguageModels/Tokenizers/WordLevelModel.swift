/// The word-level model (`model.type == "WordLevel"`): each pre-tokenised piece is looked up whole.
public final class WordLevelModel: Sendable {
    let vocabulary: TokenVocabulary
    public let unknownToken: String
    let unknownID: Int?

    init(json: TokenizerJSONField) throws(TokenizerError) {
        vocabulary = try TokenVocabulary(json: json.required("vocab"))
        unknownToken = try json.string("unk_token", default: "[UNK]")
        unknownID = vocabulary.id(unknownToken)
    }

    /// Builds a model from a vocabulary.
    public init(vocabulary tokens: [String: Int], unknownToken: String) {
        var vocab = TokenVocabulary()
        vocab.idToToken = [String?](repeating: nil, count: (tokens.values.max() ?? -1) + 1)
        for (t, id) in tokens where id >= 0 && id < (1 << 26) {
            vocab.tokenToID[TokenBytes(t)] = id
            vocab.idToToken[id] = t
        }
        vocabulary = vocab
        self.unknownToken = unknownToken
        unknownID = vocab.id(unknownToken)
    }

    public var vocabularySize: Int { vocabulary.count }

    /// Appends the id of a piece, or the unknown token's id (nothing when that token is not in the vocabulary,
    /// where `tokenizers` raises an error).
    func tokenize(_ piece: [Unicode.Scalar], into ids: inout [Int32]) {
        if piece.isEmpty { return }
        if let id = vocabulary.tokenToID[TokenBytes(piece)] {
            ids.append(Int32(id))
        } else if let unk = unknownID {
            ids.append(Int32(unk))
        }
    }

    func json() -> JSONValue {
        .object([
            JSONMember("type", .string("WordLevel")),
            JSONMember("vocab", vocabulary.json()),
            JSONMember("unk_token", .string(unknownToken)),
        ])
    }
}
