import Foundation
import Testing
import TestSupport
@testable import LanguageModels

/// Test data of this target: `Tests/Fixtures/tokenizers/`, next to this test folder.
func tokenizerTestDataFolder() -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent("tokenizers")
}

/// Replaces or adds a member of an object.
func setting(_ object: JSONValue, _ key: String, _ value: JSONValue) -> JSONValue {
    guard case .object(var members) = object else { return object }
    if let i = members.firstIndex(where: { $0.key == key }) { members[i].value = value } else { members.append(JSONMember(key, value)) }
    return .object(members)
}

/// Applies an override of `scripts/make_component_cases.py` to a fixture's tokenizer.json.
func applyOverride(_ base: JSONValue, _ override: JSONValue) throws -> JSONValue {
    var result = base
    for member in override.objectValue ?? [] {
        switch member.key {
        case "model":
            var model = try #require(result["model"])
            for m in member.value.objectValue ?? [] {
                if m.key == "merges_as_strings" {
                    let merges = try #require(model["merges"]?.arrayValue)
                    let strings = merges.map { pair -> JSONValue in
                        .string((pair.arrayValue ?? []).compactMap(\.stringValue).joined(separator: " "))
                    }
                    model = setting(model, "merges", .array(strings))
                } else {
                    model = setting(model, m.key, m.value)
                }
            }
            result = setting(result, "model", model)
        case "extra_added":
            let existing = result["added_tokens"]?.arrayValue ?? []
            result = setting(result, "added_tokens", .array(existing + (member.value.arrayValue ?? [])))
        default:
            result = setting(result, member.key, member.value)
        }
    }
    return result
}

@Suite("Tokenizer components against HF tokenizers")
struct TokenizerComponentTests {
    @Test("normalizers, pre-tokenizers, decoders, post-processors, added tokens and models match HF")
    func componentCases() throws {
        let url = tokenizerTestDataFolder().appendingPathComponent("component_cases.json")
        let document = try JSONValue.parse(contentsOf: url)
        let configs = try #require(document["configs"]?.arrayValue)
        #expect(configs.count >= 20)
        for config in configs {
            let name = config["name"]?.stringValue ?? "?"
            let tokenizerJSON: JSONValue
            if let base = config["base"]?.stringValue {
                let dir = fixturesFolderForComponents().appendingPathComponent(base)
                let baseJSON = try JSONValue.parse(contentsOf: dir.appendingPathComponent("tokenizer.json"))
                tokenizerJSON = try applyOverride(baseJSON, try #require(config["override"]))
            } else {
                tokenizerJSON = try #require(config["tokenizer"])
            }
            let tokenizer = try Tokenizer(tokenizerJSON: tokenizerJSON)
            #expect(tokenizer.vocabularySize == config["vocab_size"]?.intValue, "\(name): vocabulary size")
            for c in try #require(config["cases"]?.arrayValue) {
                let text = try #require(c["text"]?.stringValue)
                let ids = (c["ids"]?.arrayValue ?? []).compactMap(\.intValue)
                let tokens = (c["tokens"]?.arrayValue ?? []).compactMap(\.stringValue)
                let encoding = tokenizer.encodeWithTokens(text, addSpecialTokens: true)
                #expect(encoding.ids == ids, "\(name): ids of \"\(scalarDump(text))\"")
                #expect(encoding.tokens == tokens, "\(name): tokens of \"\(scalarDump(text))\"")
                if let decoded = c["decoded"]?.stringValue {
                    let mine = tokenizer.decode(ids, skipSpecialTokens: false)
                    #expect(mine.unicodeScalars.elementsEqual(decoded.unicodeScalars), "\(name): decode of \"\(scalarDump(text))\" gave \"\(scalarDump(mine))\" expected \"\(scalarDump(decoded))\"")
                }
                if let decoded = c["decoded_skip"]?.stringValue {
                    let mine = tokenizer.decode(ids, skipSpecialTokens: true)
                    #expect(mine.unicodeScalars.elementsEqual(decoded.unicodeScalars), "\(name): skip-special decode of \"\(scalarDump(text))\" gave \"\(scalarDump(mine))\"")
                }
            }
        }
    }
}

/// The HF fixtures folder (same rule as the fixture tests).
func fixturesFolderForComponents() -> URL {
    Fixtures.huggingFace
}
