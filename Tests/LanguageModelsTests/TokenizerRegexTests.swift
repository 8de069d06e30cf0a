import Foundation
import Testing
@testable import LanguageModels

/// A deterministic generator, so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random text biased towards what the split patterns care about: letters, digits, apostrophes, all kinds of
/// whitespace, punctuation, non-ASCII letters/numbers/marks/emoji.
func randomText(_ rng: inout SplitMix64, length: Int) -> String {
    let pool: [Unicode.Scalar] = Array("aZs'tTrRevlLmdD  \t\n\r\r\n019٣²Ⅻ.,!?-_()[]\"#éÉñßſǅ你好Ωω\u{301}\u{300}\u{A0}\u{2028}\u{3000}\u{85}\u{B}\u{C}\u{1F642}\u{1F3FD}\u{200D}😀".unicodeScalars)
    var view = String.UnicodeScalarView()
    for _ in 0..<length {
        if Int.random(in: 0..<10, using: &rng) == 0 {
            // Any assigned-or-not scalar from the BMP and a bit beyond (no surrogates).
            var v = UInt32.random(in: 0x20...0x2FFFF, using: &rng)
            if (0xD800...0xDFFF).contains(v) { v = 0x41 }
            view.append(Unicode.Scalar(v) ?? "a")
        } else {
            view.append(pool[Int.random(in: 0..<pool.count, using: &rng)])
        }
    }
    return String(view)
}

@Suite("Tokenizer regex and scanners")
struct TokenizerRegexTests {
    static let patterns = [PatternScanner.gpt2Pattern, PatternScanner.llama3Pattern, PatternScanner.qwen2Pattern]

    @Test("hand-written scanners equal the general regex", arguments: patterns)
    func scannersMatchGeneralPath(pattern: String) throws {
        let fast = try PatternScanner(regex: pattern)
        let general = try PatternScanner(regex: pattern, forceGeneral: true)
        #expect(fast.isSpecialized)
        #expect(!general.isSpecialized)
        var texts: [String] = []
        for dir in tokenizerFixtureDirectories() {
            if let cases = try? readExpectedCases(dir.appendingPathComponent("tokenizer_expected.json")) { texts += cases.map(\.text) }
        }
        #expect(!texts.isEmpty)
        texts += ["'s'S'ſ'RE'Ve'll'LL'd", "  \n\n  x", "a\r\n\r\n  b", "\t\u{A0} 'hello", "123456789", " ?!\n\n", "x   ", "   "]
        var rng = SplitMix64(state: 42)
        for i in 0..<3000 { texts.append(randomText(&rng, length: 1 + i % 40)) }
        for text in texts {
            let scalars = Array(text.unicodeScalars)
            let a = fast.matches(in: scalars)
            let b = general.matches(in: scalars)
            #expect(a == b, "pattern \(pattern) on \"\(scalarDump(text))\"")
            if a != b { break }
        }
    }

    @Test("GPT-2 pattern splits like GPT-2")
    func gpt2Examples() throws {
        let scanner = try PatternScanner(regex: PatternScanner.gpt2Pattern)
        let text = Array("I'm  here, 123 times!\n  ok".unicodeScalars)
        let pieces = scanner.matches(in: text).map { String(String.UnicodeScalarView(text[$0])) }
        #expect(pieces == ["I", "'m", " ", " here", ",", " 123", " times", "!", "\n ", " ok"])
    }

    @Test("general regex features")
    func regexFeatures() throws {
        func all(_ pattern: String, _ text: String) throws -> [String] {
            let s = Array(text.unicodeScalars)
            return try TokenizerRegex(pattern).matches(in: s).map { String(String.UnicodeScalarView(s[$0])) }
        }
        #expect(try all("a+?", "aaa") == ["a", "a", "a"])
        #expect(try all("a{2,3}", "aaaaaaa") == ["aaa", "aaa"])
        #expect(try all("x(?=y)", "xyxz") == ["x"])
        #expect(try all("(?<=a)b", "ab cb") == ["b"])
        #expect(try all("(?<!a)b", "ab cb") == ["b"])
        #expect(try all("[^\\s\\p{L}]+", "ab, 12!") == [",", "12!"])
        #expect(try all("(?i:hello)", "HeLLo hello") == ["HeLLo", "hello"])
        #expect(try all("\\p{Lu}\\p{Ll}*", "Hello World") == ["Hello", "World"])
        #expect(try all("[a-c\\d]+", "abz19c") == ["ab", "19c"])
        #expect(try all("\\bis\\b", "this is") == ["is"])
        #expect(try all("(?>a+)b|a", "aaa") == ["a", "a", "a"])
        #expect(try all("a*", "baa") == ["", "aa"])
        #expect(try all("\\x{1F642}|\\u00e9", "é🙂") == ["é", "🙂"])
        #expect(try all("^ab$", "ab\nab") == ["ab", "ab"])
        // Catastrophic patterns finish quickly thanks to state memoisation.
        #expect(try all("(a*)*b", String(repeating: "a", count: 200)) == [])
        // Matching is on scalars: a combining accent is not part of a letter class match of the base letter.
        #expect(try all("\\p{L}+", "e\u{301}x") == ["e", "x"])
    }

    @Test("invalid patterns are reported, not crashed on")
    func invalidPatterns() {
        for p in ["(ab", "ab)", "[a-", "\\p{Nope}", "a{3,1}", "*a", "(?<x"] {
            #expect(throws: TokenizerError.self, "\(p)") { _ = try TokenizerRegex(p) }
        }
    }
}

@Suite("Tokenizer regex against Oniguruma")
struct TokenizerOnigurumaTests {
    @Test("Split(Isolated) pieces equal those of HF tokenizers on random strings, both paths")
    func randomStrings() throws {
        let url = tokenizerTestDataFolder().appendingPathComponent("component_cases.json")
        let groups = try #require(try JSONValue.parse(contentsOf: url)["regex_cases"]?.arrayValue)
        #expect(groups.count >= 5)
        for group in groups {
            let pattern = try #require(group["pattern"]?.stringValue)
            for forceGeneral in [false, true] {
                let splitter = PreTokenizer.split(try PatternScanner(regex: pattern, forceGeneral: forceGeneral), behavior: .isolated, invert: false)
                for c in try #require(group["cases"]?.arrayValue) {
                    let text = try #require(c.arrayValue?[0].stringValue)
                    let expected = (c.arrayValue?[1].arrayValue ?? []).compactMap(\.stringValue)
                    let pieces = splitter.preTokenize([TextPiece(Array(text.unicodeScalars), atOrigin: true)])
                        .map { String(String.UnicodeScalarView($0.scalars)) }
                    #expect(pieces.map { Array($0.unicodeScalars) } == expected.map { Array($0.unicodeScalars) },
                            "\(pattern) on \"\(scalarDump(text))\"")
                }
            }
        }
    }
}
