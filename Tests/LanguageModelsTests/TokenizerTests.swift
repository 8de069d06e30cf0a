import Foundation
import Testing
import TestSupport
@testable import LanguageModels

/// The folder holding one sub-folder per Hugging Face model fixture (`PROXIMA_HF_FIXTURES`, else Tests/Fixtures).
private func fixturesFolder() -> URL { Fixtures.huggingFace }

/// Every fixture sub-folder that has a tokenizer.json.
func tokenizerFixtureDirectories() -> [URL] {
    let root = fixturesFolder()
    let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
    return names.sorted().map { root.appendingPathComponent($0) }
        .filter { FileManager.default.fileExists(atPath: $0.appendingPathComponent("tokenizer.json").path) }
}

/// One case of a `tokenizer_expected.json`.
struct ExpectedTokenization {
    var text: String
    var ids: [Int]
    var tokens: [String]
    var decoded: String?
}

/// Reads a list of expected cases (`{"cases": [{text, ids, tokens, decoded}]}`) with the library's own parser.
func readExpectedCases(_ url: URL) throws -> [ExpectedTokenization] {
    let json = try JSONValue.parse(contentsOf: url)
    guard let cases = json["cases"]?.arrayValue else { throw TokenizerError("\(url.path): no cases") }
    return try cases.map { c in
        guard let text = c["text"]?.stringValue, let ids = c["ids"]?.arrayValue, let tokens = c["tokens"]?.arrayValue else {
            throw TokenizerError("\(url.path): malformed case")
        }
        return ExpectedTokenization(text: text, ids: ids.compactMap(\.intValue), tokens: tokens.compactMap(\.stringValue),
                                    decoded: c["decoded"]?.stringValue)
    }
}

/// Scalars of a string, for readable failure messages.
func scalarDump(_ s: String) -> String {
    s.unicodeScalars.map { $0.value < 0x80 && $0.value >= 0x20 ? String($0) : "\\u{\(String($0.value, radix: 16))}" }.joined()
}

@Suite("Tokenizer fixtures")
struct TokenizerFixtureTests {
    @Test("fixture folder has tokenizers")
    func fixturesExist() {
        #expect(!tokenizerFixtureDirectories().isEmpty, "no sub-folder of \(fixturesFolder().path) has a tokenizer.json")
    }

    @Test("encode and decode match tokenizer_expected.json in every fixture")
    func expectedCases() throws {
        let directories = tokenizerFixtureDirectories()
        #expect(!directories.isEmpty)
        var checked = 0
        for dir in directories {
            let expectedURL = dir.appendingPathComponent("tokenizer_expected.json")
            guard FileManager.default.fileExists(atPath: expectedURL.path) else { continue }
            let tokenizer = try Tokenizer(directory: dir)
            for c in try readExpectedCases(expectedURL) {
                let encoding = tokenizer.encodeWithTokens(c.text, addSpecialTokens: true)
                #expect(encoding.ids == c.ids, "\(dir.lastPathComponent): ids of \"\(scalarDump(c.text))\"")
                #expect(encoding.tokens == c.tokens, "\(dir.lastPathComponent): tokens of \"\(scalarDump(c.text))\"")
                #expect(tokenizer.encode(c.text, addSpecialTokens: true) == c.ids)
                if let decoded = c.decoded {
                    let mine = tokenizer.decode(c.ids, skipSpecialTokens: false)
                    #expect(mine.unicodeScalars.elementsEqual(decoded.unicodeScalars),
                            "\(dir.lastPathComponent): decode of \"\(scalarDump(c.text))\" gave \"\(scalarDump(mine))\"")
                }
                checked += 1
            }
        }
        #expect(checked > 0, "no tokenizer_expected.json cases were found")
    }

    @Test("special token ids come from tokenizer_config.json")
    func specialTokenIDs() throws {
        let directories = tokenizerFixtureDirectories()
        #expect(!directories.isEmpty)
        for dir in directories {
            let tokenizer = try Tokenizer(directory: dir)
            let config = try JSONValue.parse(contentsOf: dir.appendingPathComponent("tokenizer_config.json"))
            if let eos = config["eos_token"]?.stringValue ?? config["eos_token"]?["content"]?.stringValue {
                #expect(tokenizer.eosToken == eos)
                #expect(tokenizer.eosTokenID != nil)
                #expect(tokenizer.eosTokenID.flatMap(tokenizer.idToToken) == eos)
            }
            #expect(tokenizer.vocabularySize > 0)
            #expect(tokenizer.vocabularySize <= tokenizer.idCount)
            // Every id round-trips through its token string.
            for id in 0..<tokenizer.idCount {
                if let token = tokenizer.idToToken(id) { #expect(tokenizer.tokenToID(token) == id, "\(dir.lastPathComponent) id \(id)") }
            }
        }
    }

    @Test("decode skips special tokens on request")
    func skipSpecial() throws {
        let dir = try #require(tokenizerFixtureDirectories().first { $0.lastPathComponent.contains("gpt2") })
        let tokenizer = try Tokenizer(directory: dir)
        let ids = tokenizer.encode("<|endoftext|>hello<|endoftext|>", addSpecialTokens: false)
        #expect(ids.first == 0 && ids.last == 0)
        #expect(tokenizer.decode(ids, skipSpecialTokens: true) == "hello")
        #expect(tokenizer.decode(ids, skipSpecialTokens: false) == "<|endoftext|>hello<|endoftext|>")
    }
}
