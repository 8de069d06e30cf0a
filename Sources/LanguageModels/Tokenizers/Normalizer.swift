import Foundation

/// A text normaliser of `tokenizer.json` (`normalizer`), applied to each stretch of text between added tokens.
public indirect enum Normalizer: Sendable {
    case nfc, nfd, nfkc, nfkd
    case lowercase
    /// Removes leading and/or trailing whitespace.
    case strip(left: Bool, right: Bool)
    /// Removes combining marks (general category Mn).
    case stripAccents
    /// Prepends a string to non-empty text.
    case prepend(String)
    /// Replaces every match of a pattern with `content`.
    case replace(PatternScanner, content: String)
    case sequence([Normalizer])

    static let supportedTypes = ["NFC", "NFD", "NFKC", "NFKD", "Lowercase", "Strip", "StripAccents", "Prepend", "Replace", "Sequence"]

    init(json: TokenizerJSONField) throws(TokenizerError) {
        switch try json.type(supported: Normalizer.supportedTypes) {
        case "NFC": self = .nfc
        case "NFD": self = .nfd
        case "NFKC": self = .nfkc
        case "NFKD": self = .nfkd
        case "Lowercase": self = .lowercase
        case "StripAccents": self = .stripAccents
        case "Strip":
            self = .strip(left: try json.bool("strip_left", default: true), right: try json.bool("strip_right", default: true))
        case "Prepend": self = .prepend(try json.string("prepend"))
        case "Replace": self = .replace(try json.required("pattern").pattern(), content: try json.string("content"))
        default:
            let items = try json.required("normalizers").array()
            var list: [Normalizer] = []
            for item in items { list.append(try Normalizer(json: item)) }
            self = .sequence(list)
        }
    }

    /// Normalises one stretch of text.
    public func normalize(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        switch self {
        case .nfc: return Normalizer.unicodeForm(text, below: 0x300) { $0.precomposedStringWithCanonicalMapping }
        case .nfd: return Normalizer.unicodeForm(text, below: 0xC0) { $0.decomposedStringWithCanonicalMapping }
        case .nfkc: return Normalizer.unicodeForm(text, below: 0xA0) { $0.precomposedStringWithCompatibilityMapping }
        case .nfkd: return Normalizer.unicodeForm(text, below: 0xA0) { $0.decomposedStringWithCompatibilityMapping }
        case .lowercase:
            var out: [Unicode.Scalar] = []
            out.reserveCapacity(text.count)
            for c in text {
                if c.value < 0x80 {
                    out.append(c.value >= 0x41 && c.value <= 0x5A ? Unicode.Scalar(UInt8(c.value + 32)) : c)
                } else {
                    out.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
                }
            }
            return out
        case .strip(let left, let right):
            var start = 0
            var end = text.count
            if left { while start < end && text[start].properties.isWhitespace { start += 1 } }
            if right { while end > start && text[end - 1].properties.isWhitespace { end -= 1 } }
            return Array(text[start..<end])
        case .stripAccents:
            return text.filter { $0.properties.generalCategory != .nonspacingMark }
        case .prepend(let prefix):
            if text.isEmpty { return text }
            return Array(prefix.unicodeScalars) + text
        case .replace(let pattern, let content):
            return Normalizer.replace(text, pattern: pattern, content: Array(content.unicodeScalars))
        case .sequence(let list):
            var current = text
            for n in list { current = n.normalize(current) }
            return current
        }
    }

    /// Applies a Unicode normalisation form; text made only of scalars below `below` is already in that form.
    static func unicodeForm(_ text: [Unicode.Scalar], below: UInt32, _ transform: (String) -> String) -> [Unicode.Scalar] {
        if text.allSatisfy({ $0.value < below }) { return text }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: text)
        return Array(transform(String(view)).unicodeScalars)
    }

    static func replace(_ text: [Unicode.Scalar], pattern: PatternScanner, content: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let matches = pattern.matches(in: text)
        if matches.isEmpty { return text }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var previous = 0
        for m in matches {
            out.append(contentsOf: text[previous..<m.lowerBound])
            out.append(contentsOf: content)
            previous = m.upperBound
        }
        out.append(contentsOf: text[previous...])
        return out
    }
}
