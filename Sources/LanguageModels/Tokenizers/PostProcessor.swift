/// A post-processor of `tokenizer.json` (`post_processor`): adds special tokens around an encoded sequence when
/// special tokens are requested.
public indirect enum PostProcessor: Sendable {
    /// One element of a template: a special token or the sequence itself.
    public enum TemplatePiece: Sendable, Equatable {
        case special(String)
        case sequence
    }

    /// `single` template pieces and the ids/tokens each special token stands for.
    case template(single: [TemplatePiece], specialTokens: [String: (ids: [Int], tokens: [String])])
    /// `[CLS] A [SEP]` (BertProcessing) or `<s> A </s>` (RobertaProcessing).
    case surround(first: (token: String, id: Int), last: (token: String, id: Int))
    /// Offsets only: ids are unchanged.
    case byteLevel
    case sequence([PostProcessor])

    static let supportedTypes = ["TemplateProcessing", "ByteLevel", "BertProcessing", "RobertaProcessing", "Sequence"]

    init(json: TokenizerJSONField) throws(TokenizerError) {
        switch try json.type(supported: PostProcessor.supportedTypes) {
        case "ByteLevel": self = .byteLevel
        case "BertProcessing", "RobertaProcessing":
            func pair(_ key: String) throws(TokenizerError) -> (String, Int) {
                let f = try json.required(key)
                let items = try f.array()
                guard items.count == 2 else { throw f.error("must be [token, id]") }
                return (try items[0].string(), try items[1].int())
            }
            let cls = try pair("cls")
            let sep = try pair("sep")
            self = .surround(first: (cls.0, cls.1), last: (sep.0, sep.1))
        case "TemplateProcessing":
            var pieces: [TemplatePiece] = []
            for item in try json.required("single").array() {
                if let s = item.nonNull("SpecialToken") {
                    pieces.append(.special(try s.string("id")))
                } else if let seq = item.nonNull("Sequence") {
                    let which = try seq.string("id")
                    guard which == "A" else { throw seq.optional("id")?.error("\"\(which)\" is not allowed in a single template (only A)") ?? seq.error("bad id") }
                    pieces.append(.sequence)
                } else {
                    throw item.error("must be {\"SpecialToken\": …} or {\"Sequence\": …}")
                }
            }
            var specials: [String: (ids: [Int], tokens: [String])] = [:]
            if let map = json.nonNull("special_tokens") {
                for (key, field) in try map.members() {
                    var ids: [Int] = []
                    for i in try field.required("ids").array() { ids.append(try i.int()) }
                    var tokens: [String] = []
                    for t in try field.required("tokens").array() { tokens.append(try t.string()) }
                    guard ids.count == tokens.count else { throw field.error("ids and tokens differ in length") }
                    specials[key] = (ids, tokens)
                }
            }
            for piece in pieces {
                if case .special(let name) = piece, specials[name] == nil {
                    throw json.error("special token \"\(name)\" of the single template is missing from special_tokens")
                }
            }
            self = .template(single: pieces, specialTokens: specials)
        default:
            var list: [PostProcessor] = []
            for item in try json.required("processors").array() { list.append(try PostProcessor(json: item)) }
            self = .sequence(list)
        }
    }

    /// Applies the processor to one sequence.
    public func process(ids: [Int], tokens: [String], addSpecialTokens: Bool) -> (ids: [Int], tokens: [String]) {
        switch self {
        case .byteLevel:
            return (ids, tokens)
        case .surround(let first, let last):
            guard addSpecialTokens else { return (ids, tokens) }
            return ([first.id] + ids + [last.id], [first.token] + tokens + [last.token])
        case .template(let single, let specials):
            guard addSpecialTokens else { return (ids, tokens) }
            var outIDs: [Int] = []
            var outTokens: [String] = []
            for piece in single {
                switch piece {
                case .sequence:
                    outIDs.append(contentsOf: ids)
                    outTokens.append(contentsOf: tokens)
                case .special(let name):
                    if let s = specials[name] {
                        outIDs.append(contentsOf: s.ids)
                        outTokens.append(contentsOf: s.tokens)
                    }
                }
            }
            return (outIDs, outTokens)
        case .sequence(let list):
            var current = (ids: ids, tokens: tokens)
            for p in list { current = p.process(ids: current.ids, tokens: current.tokens, addSpecialTokens: addSpecialTokens) }
            return current
        }
    }
}
