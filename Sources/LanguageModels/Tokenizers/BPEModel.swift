import Foundation

/// A token's text as UTF-8 bytes. Vocabularies are keyed by these bytes, never by `String`, whose equality treats
/// canonically equivalent texts (precomposed `é` and `e` + U+0301) as the same.
public struct TokenBytes: Hashable, Sendable {
    public let bytes: [UInt8]
    public init(_ text: String) { bytes = Array(text.utf8) }
    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init(_ scalars: some Sequence<Unicode.Scalar>) {
        var b: [UInt8] = []
        for c in scalars { UTF8.encode(c) { b.append($0) } }
        bytes = b
    }
}

/// A model vocabulary: token text ↔ id.
struct TokenVocabulary: Sendable {
    var tokenToID: [TokenBytes: Int] = [:]
    /// Dense reverse table (nil where no token has that id).
    var idToToken: [String?] = []

    init() {}

    init(json: TokenizerJSONField) throws(TokenizerError) {
        let members = try json.members()
        tokenToID.reserveCapacity(members.count)
        var maxID = -1
        var pairs: [(String, Int)] = []
        pairs.reserveCapacity(members.count)
        for (key, field) in members {
            let id = try field.int()
            guard id >= 0 && id < (1 << 26) else { throw field.error("id \(id) is out of range") }
            pairs.append((key, id))
            maxID = max(maxID, id)
        }
        idToToken = [String?](repeating: nil, count: maxID + 1)
        for (key, id) in pairs {
            tokenToID[TokenBytes(key)] = id
            idToToken[id] = key
        }
    }

    init(tokens: [String]) {
        idToToken = tokens
        for (i, t) in tokens.enumerated() { tokenToID[TokenBytes(t)] = i }
    }

    func id(_ token: String) -> Int? { tokenToID[TokenBytes(token)] }
    func token(_ id: Int) -> String? { id >= 0 && id < idToToken.count ? idToToken[id] : nil }
    var count: Int { tokenToID.count }

    /// The vocabulary as a JSON object ordered by id.
    func json() -> JSONValue {
        var members: [JSONMember] = []
        members.reserveCapacity(count)
        for (id, token) in idToToken.enumerated() {
            if let token { members.append(JSONMember(token, .number(JSONNumber(id)))) }
        }
        return .object(members)
    }
}

/// The byte-pair-encoding model (`model.type == "BPE"`).
public final class BPEModel: @unchecked Sendable {
    let vocabulary: TokenVocabulary
    /// (left id << 32 | right id) → (rank << 32 | merged id).
    let merges: [UInt64: UInt64]
    /// The merges in rank order, as written in the file.
    public let mergeList: [(String, String)]
    public let unknownToken: String?
    let unknownID: Int?
    public let fuseUnknown: Bool
    public let byteFallback: Bool
    public let ignoreMerges: Bool
    public let continuingSubwordPrefix: String?
    public let endOfWordSuffix: String?
    /// Ids of single-scalar tokens (used when there is no prefix/suffix to add).
    let smallScalarIDs: [Int32]
    let largeScalarIDs: [Unicode.Scalar: Int32]
    let usesAffixes: Bool
    /// Id of `<0xNN>` for each byte, or -1.
    let byteTokenIDs: [Int32]

    private let cacheLock = NSLock()
    private var cache: [[Unicode.Scalar]: [Int32]] = [:]
    static let cacheCapacity = 200_000
    static let maximumCachedLength = 256

    /// Builds a model from a vocabulary and merges (in rank order).
    public convenience init(vocabulary tokens: [String: Int], merges mergeList: [(String, String)], unknownToken: String? = nil,
                fuseUnknown: Bool = false, byteFallback: Bool = false, ignoreMerges: Bool = false,
                continuingSubwordPrefix: String? = nil, endOfWordSuffix: String? = nil) throws(TokenizerError) {
        var vocab = TokenVocabulary()
        let maxID = tokens.values.max() ?? -1
        guard maxID < (1 << 26), tokens.values.allSatisfy({ $0 >= 0 }) else { throw TokenizerError("BPE: ids out of range") }
        vocab.idToToken = [String?](repeating: nil, count: maxID + 1)
        for (t, id) in tokens {
            vocab.tokenToID[TokenBytes(t)] = id
            vocab.idToToken[id] = t
        }
        try self.init(vocabulary: vocab, merges: mergeList, unknownToken: unknownToken, fuseUnknown: fuseUnknown,
                      byteFallback: byteFallback, ignoreMerges: ignoreMerges,
                      continuingSubwordPrefix: continuingSubwordPrefix, endOfWordSuffix: endOfWordSuffix, source: "BPE model")
    }

    init(vocabulary: TokenVocabulary, merges mergeList: [(String, String)], unknownToken: String?, fuseUnknown: Bool,
         byteFallback: Bool, ignoreMerges: Bool, continuingSubwordPrefix: String?, endOfWordSuffix: String?,
         source: String) throws(TokenizerError) {
        self.vocabulary = vocabulary
        self.mergeList = mergeList
        self.unknownToken = unknownToken
        self.fuseUnknown = fuseUnknown
        self.byteFallback = byteFallback
        self.ignoreMerges = ignoreMerges
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.endOfWordSuffix = endOfWordSuffix
        unknownID = unknownToken.flatMap { vocabulary.id($0) }
        let prefix = continuingSubwordPrefix ?? ""
        usesAffixes = !(continuingSubwordPrefix ?? "").isEmpty || !(endOfWordSuffix ?? "").isEmpty

        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(mergeList.count)
        for (rank, (a, b)) in mergeList.enumerated() {
            guard let left = vocabulary.id(a) else { throw TokenizerError("\(source): merges[\(rank)]: token \"\(a)\" is not in the vocabulary") }
            guard let right = vocabulary.id(b) else { throw TokenizerError("\(source): merges[\(rank)]: token \"\(b)\" is not in the vocabulary") }
            var tail = Array(b.utf8)
            if !prefix.isEmpty, tail.starts(with: prefix.utf8) { tail.removeFirst(prefix.utf8.count) }
            let mergedBytes = Array(a.utf8) + tail
            guard let merged = vocabulary.tokenToID[TokenBytes(bytes: mergedBytes)] else {
                throw TokenizerError("\(source): merges[\(rank)]: the merged token \"\(String(decoding: mergedBytes, as: UTF8.self))\" is not in the vocabulary")
            }
            table[UInt64(left) << 32 | UInt64(right)] = UInt64(rank) << 32 | UInt64(merged)
        }
        merges = table

        var small = [Int32](repeating: -1, count: 0x800)
        var large: [Unicode.Scalar: Int32] = [:]
        for (bytes, id) in vocabulary.tokenToID {
            guard let text = strictUTF8String(bytes.bytes) else { continue }
            let scalars = text.unicodeScalars
            if scalars.count == 1, let c = scalars.first {
                if c.value < 0x800 { small[Int(c.value)] = Int32(id) } else { large[c] = Int32(id) }
            }
        }
        smallScalarIDs = small
        largeScalarIDs = large
        var bytesIDs = [Int32](repeating: -1, count: 256)
        let hex = Array("0123456789ABCDEF")
        for b in 0..<256 {
            let name = "<0x\(hex[b >> 4])\(hex[b & 15])>"
            if let id = vocabulary.id(name) { bytesIDs[b] = Int32(id) }
        }
        byteTokenIDs = bytesIDs
    }

    /// Reads `model` of a `tokenizer.json`.
    convenience init(json: TokenizerJSONField) throws(TokenizerError) {
        if let dropout = json.nonNull("dropout") {
            guard case .number(let n) = dropout.value, let d = n.doubleValue else { throw dropout.error("must be a number or null") }
            if d != 0 { throw dropout.error("\(n.literal) is not supported (only null or 0: encoding must be deterministic)") }
        }
        let vocab = try TokenVocabulary(json: json.required("vocab"))
        var list: [(String, String)] = []
        if let mergesField = json.nonNull("merges") {
            let items = try mergesField.array()
            list.reserveCapacity(items.count)
            for item in items {
                switch item.value {
                case .string(let line):
                    let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                    guard parts.count == 2 else { throw item.error("must be two tokens separated by one space (found \"\(line)\")") }
                    list.append((String(parts[0]), String(parts[1])))
                case .array(let pair):
                    guard pair.count == 2, let a = pair[0].stringValue, let b = pair[1].stringValue else {
                        throw item.error("must be a pair of strings")
                    }
                    list.append((a, b))
                default:
                    throw item.error("must be a string \"a b\" or a pair [a, b] (found \(item.value.kindName))")
                }
            }
        }
        try self.init(vocabulary: vocab, merges: list, unknownToken: try json.optionalString("unk_token"),
                      fuseUnknown: try json.bool("fuse_unk", default: false), byteFallback: try json.bool("byte_fallback", default: false),
                      ignoreMerges: try json.bool("ignore_merges", default: false),
                      continuingSubwordPrefix: try json.optionalString("continuing_subword_prefix"),
                      endOfWordSuffix: try json.optionalString("end_of_word_suffix"), source: json.file + ": " + json.path)
    }

    /// The number of tokens in the model vocabulary.
    public var vocabularySize: Int { vocabulary.count }

    /// Appends the ids of one pre-tokenised piece.
    func tokenize(_ piece: [Unicode.Scalar], into ids: inout [Int32]) {
        if piece.isEmpty { return }
        if ignoreMerges, let id = vocabulary.tokenToID[TokenBytes(piece)] {
            ids.append(Int32(id))
            return
        }
        let cacheable = piece.count <= BPEModel.maximumCachedLength
        if cacheable {
            cacheLock.lock()
            let hit = cache[piece]
            cacheLock.unlock()
            if let hit {
                ids.append(contentsOf: hit)
                return
            }
        }
        let word = mergeWord(piece)
        if cacheable {
            cacheLock.lock()
            if cache.count < BPEModel.cacheCapacity { cache[piece] = word }
            cacheLock.unlock()
        }
        ids.append(contentsOf: word)
    }

    @inline(__always)
    func scalarID(_ c: Unicode.Scalar) -> Int32 {
        c.value < 0x800 ? smallScalarIDs[Int(c.value)] : (largeScalarIDs[c] ?? -1)
    }

    /// The initial symbols of a word (one per scalar, with byte fallback and unknown handling), then merged.
    func mergeWord(_ piece: [Unicode.Scalar]) -> [Int32] {
        var symbols: [Int32] = []
        symbols.reserveCapacity(piece.count)
        var pendingUnknown = false
        let unk = unknownID.map { Int32($0) }
        for (i, c) in piece.enumerated() {
            var id: Int32 = -1
            if usesAffixes {
                var text = String(c)
                if i > 0, let p = continuingSubwordPrefix { text = p + text }
                if i == piece.count - 1, let s = endOfWordSuffix { text += s }
                if let found = vocabulary.tokenToID[TokenBytes(text)] { id = Int32(found) }
            } else {
                id = scalarID(c)
            }
            if id >= 0 {
                if pendingUnknown, let unk { symbols.append(unk) }
                pendingUnknown = false
                symbols.append(id)
                continue
            }
            if byteFallback {
                var text = String(c)
                if usesAffixes {
                    if i > 0, let p = continuingSubwordPrefix { text = p + text }
                    if i == piece.count - 1, let s = endOfWordSuffix { text += s }
                }
                let byteIDs = text.utf8.map { byteTokenIDs[Int($0)] }
                if byteIDs.allSatisfy({ $0 >= 0 }) {
                    symbols.append(contentsOf: byteIDs)
                    continue
                }
            }
            if let unk {
                if pendingUnknown && !fuseUnknown { symbols.append(unk) }
                pendingUnknown = true
            }
        }
        if pendingUnknown, let unk { symbols.append(unk) }
        mergeSymbols(&symbols)
        return symbols
    }

    @inline(__always)
    func mergeInfo(_ a: Int32, _ b: Int32) -> UInt64 {
        merges[UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))] ?? UInt64.max
    }

    /// Applies merges lowest rank first (leftmost among equal ranks) until none applies.
    func mergeSymbols(_ symbols: inout [Int32]) {
        if symbols.count < 2 || merges.isEmpty { return }
        var pairs: [UInt64] = []
        pairs.reserveCapacity(symbols.count - 1)
        for i in 0..<(symbols.count - 1) { pairs.append(mergeInfo(symbols[i], symbols[i + 1])) }
        while true {
            var best = UInt64.max
            var bestIndex = -1
            for i in 0..<pairs.count where pairs[i] >> 32 < best >> 32 {
                best = pairs[i]
                bestIndex = i
            }
            if bestIndex < 0 { return }
            symbols[bestIndex] = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
            symbols.remove(at: bestIndex + 1)
            pairs.remove(at: bestIndex)
            if bestIndex > 0 { pairs[bestIndex - 1] = mergeInfo(symbols[bestIndex - 1], symbols[bestIndex]) }
            if bestIndex < pairs.count { pairs[bestIndex] = mergeInfo(symbols[bestIndex], symbols[bestIndex + 1]) }
        }
    }

    func token(_ id: Int) -> String? { vocabulary.token(id) }
    func id(_ token: String) -> Int? { vocabulary.id(token) }

    /// The `model` object of a `tokenizer.json`.
    func json() -> JSONValue {
        func optional(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        return .object([
            JSONMember("type", .string("BPE")),
            JSONMember("dropout", .null),
            JSONMember("unk_token", optional(unknownToken)),
            JSONMember("continuing_subword_prefix", optional(continuingSubwordPrefix)),
            JSONMember("end_of_word_suffix", optional(endOfWordSuffix)),
            JSONMember("fuse_unk", .bool(fuseUnknown)),
            JSONMember("byte_fallback", .bool(byteFallback)),
            JSONMember("ignore_merges", .bool(ignoreMerges)),
            JSONMember("vocab", vocabulary.json()),
            JSONMember("merges", .array(mergeList.map { .array([.string($0.0), .string($0.1)]) })),
        ])
    }
}
