/// A decoder of `tokenizer.json` (`decoder`): turns token strings back into text. Each decoder maps the list of
/// token strings to a new list (as `decode_chain` does in `tokenizers`); the final text is their concatenation.
public indirect enum TokenDecoder: Sendable {
    case byteLevel
    case byteFallback
    case fuse
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case replace(PatternScanner, content: String)
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme)
    case sequence([TokenDecoder])

    static let supportedTypes = ["ByteLevel", "ByteFallback", "Fuse", "Strip", "Replace", "Metaspace", "Sequence"]

    init(json: TokenizerJSONField) throws(TokenizerError) {
        switch try json.type(supported: TokenDecoder.supportedTypes) {
        case "ByteLevel": self = .byteLevel
        case "ByteFallback": self = .byteFallback
        case "Fuse": self = .fuse
        case "Strip":
            let start = try json.int("start", default: 0)
            let stop = try json.int("stop", default: 0)
            guard start >= 0, stop >= 0 else { throw json.error("start and stop must not be negative") }
            self = .strip(content: try json.singleScalar("content"), start: start, stop: stop)
        case "Replace": self = .replace(try json.required("pattern").pattern(), content: try json.string("content"))
        case "Metaspace":
            var scheme = PrependScheme.always
            if let s = json.nonNull("prepend_scheme") {
                let name = try s.string()
                guard let parsed = PrependScheme(rawValue: name) else { throw s.error("\"\(name)\" is not supported (supported: always, first, never)") }
                scheme = parsed
            }
            if let add = json.nonNull("add_prefix_space"), try add.bool() == false { scheme = .never }
            self = .metaspace(replacement: try json.singleScalar("replacement"), prependScheme: scheme)
        default:
            var list: [TokenDecoder] = []
            for item in try json.required("decoders").array() { list.append(try TokenDecoder(json: item)) }
            self = .sequence(list)
        }
    }

    /// Decodes token strings to text.
    public func decode(_ tokens: [String]) -> String {
        decodeChain(tokens).joined()
    }

    /// One step of decoding: token strings in, token strings out.
    public func decodeChain(_ tokens: [String]) -> [String] {
        switch self {
        case .byteLevel:
            var bytes: [UInt8] = []
            for token in tokens {
                let start = bytes.count
                var mapped = true
                for c in token.unicodeScalars {
                    guard let b = ByteLevelAlphabet.byte(for: c) else { mapped = false; break }
                    bytes.append(b)
                }
                if !mapped {
                    bytes.removeSubrange(start...)
                    bytes.append(contentsOf: token.utf8)
                }
            }
            return [String(decoding: bytes, as: UTF8.self)]
        case .byteFallback:
            var out: [String] = []
            var pending: [UInt8] = []
            func flush() {
                if pending.isEmpty { return }
                if let s = strictUTF8String(pending) {
                    out.append(s)
                } else {
                    out.append(contentsOf: repeatElement("\u{FFFD}", count: pending.count))
                }
                pending.removeAll()
            }
            for token in tokens {
                if let b = TokenDecoder.byteToken(token) {
                    pending.append(b)
                } else {
                    flush()
                    out.append(token)
                }
            }
            flush()
            return out
        case .fuse:
            return [tokens.joined()]
        case .strip(let content, let start, let stop):
            return tokens.map { token in
                let chars = Array(token.unicodeScalars)
                var startCut = 0
                for i in 0..<min(start, chars.count) {
                    if chars[i] == content { startCut = i + 1 } else { break }
                }
                var stopCut = chars.count
                for i in 0..<min(stop, chars.count) {
                    let index = chars.count - i - 1
                    if chars[index] == content { stopCut = index } else { break }
                }
                if stopCut <= startCut { return "" }
                var view = String.UnicodeScalarView()
                view.append(contentsOf: chars[startCut..<stopCut])
                return String(view)
            }
        case .replace(let pattern, let content):
            let replacement = Array(content.unicodeScalars)
            return tokens.map { token in
                var view = String.UnicodeScalarView()
                view.append(contentsOf: Normalizer.replace(Array(token.unicodeScalars), pattern: pattern, content: replacement))
                return String(view)
            }
        case .metaspace(let replacement, let scheme):
            return tokens.enumerated().map { i, token in
                var view = String.UnicodeScalarView()
                for c in token.unicodeScalars {
                    if c == replacement {
                        if i == 0 && scheme != .never { continue }
                        view.append(" ")
                    } else {
                        view.append(c)
                    }
                }
                return String(view)
            }
        case .sequence(let list):
            var current = tokens
            for d in list { current = d.decodeChain(current) }
            return current
        }
    }

    /// The byte of a `<0xNN>` token.
    static func byteToken(_ token: String) -> UInt8? {
        let u = Array(token.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
    }
}
