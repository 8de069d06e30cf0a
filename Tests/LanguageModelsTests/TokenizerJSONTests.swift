import Foundation
import Testing
@testable import LanguageModels

@Suite("Tokenizer JSON parser and errors")
struct TokenizerJSONTests {
    @Test("parses values and keeps member order and exact strings")
    func parsing() throws {
        let v = try JSONValue.parse(#"{"b": 1, "a": [true, null, -0.5e2, "x\u00e9\ud83d\ude42\n"], "é": 2, "e\u0301": 3, "big": 123456789012345678901234567890}"#)
        let members = try #require(v.objectValue)
        #expect(members.map(\.key) == ["b", "a", "é", "e\u{301}", "big"])
        #expect(v["é"]?.intValue == 2)
        #expect(v["e\u{301}"]?.intValue == 3) // canonically equivalent keys stay distinct
        #expect(v["a"]?.arrayValue?[3].stringValue?.unicodeScalars.map(\.value) == [0x78, 0xE9, 0x1F642, 0x0A])
        #expect(v["a"]?.arrayValue?[2].doubleValue == -50)
        #expect(v["big"]?.intValue == nil)
        if case .number(let n) = v["big"] { #expect(n.literal == "123456789012345678901234567890") } else { Issue.record("big is not a number") }
        // Round trip.
        #expect(try JSONValue.parse(v.serialized()) == v)
        #expect(try JSONValue.parse(v.serialized(pretty: true)) == v)
    }

    @Test("errors carry line and column")
    func errors() {
        let cases: [(String, String)] = [
            ("{\n  \"a\": [1, 2,\n   }", "line 3, column 4"),
            ("{\"a\" 1}", "line 1, column 6"),
            ("[1, 2", "end of input"),
            ("\"abc", "unterminated string"),
            ("[01]", "leading zeros"),
            ("\"\\ud800\"", "surrogate"),
            ("{} x", "after the JSON value"),
            ("tru", "invalid literal"),
        ]
        for (text, fragment) in cases {
            do {
                _ = try JSONValue.parse(text, source: "t.json")
                Issue.record("\(text) parsed")
            } catch {
                #expect(error.description.contains(fragment), "\(error.description)")
                #expect(error.description.hasPrefix("t.json: "))
            }
        }
    }

    @Test("nesting is bounded")
    func depth() throws {
        let ok = String(repeating: "[", count: 256) + String(repeating: "]", count: 256)
        _ = try JSONValue.parse(ok)
        let deep = String(repeating: "[", count: 257) + String(repeating: "]", count: 257)
        #expect(throws: TokenizerError.self) { _ = try JSONValue.parse(deep) }
        let hostile = String(repeating: "[", count: 100_000)
        #expect(throws: TokenizerError.self) { _ = try JSONValue.parse(hostile) }
    }

    @Test("invalid UTF-8 is rejected")
    func invalidUTF8() {
        #expect(throws: TokenizerError.self) { _ = try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
    }

    func minimalTokenizer(preTokenizer: String = "null", model: String? = nil) -> String {
        """
        {"version": "1.0", "added_tokens": [], "normalizer": null, "pre_tokenizer": \(preTokenizer), "post_processor": null, "decoder": null,
         "model": \(model ?? #"{"type": "BPE", "dropout": null, "unk_token": null, "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}"#)}
        """
    }

    @Test("unknown component types name the type and the field")
    func unknownComponents() throws {
        let bad = minimalTokenizer(preTokenizer: #"{"type": "Sequence", "pretokenizers": [{"type": "Digits"}, {"type": "Foo"}]}"#)
        do {
            _ = try Tokenizer(tokenizerJSON: try JSONValue.parse(bad), file: "tokenizer.json")
            Issue.record("accepted an unknown pre-tokenizer")
        } catch {
            #expect(error.description.contains("tokenizer.json: pre_tokenizer.pretokenizers[1].type \"Foo\" is not supported (supported: "))
        }
        let badModel = minimalTokenizer(model: #"{"type": "Unigram", "vocab": []}"#)
        #expect(throws: TokenizerError.self) { _ = try Tokenizer(tokenizerJSON: try JSONValue.parse(badModel)) }
        let dropout = minimalTokenizer(model: #"{"type": "BPE", "dropout": 0.1, "vocab": {"a": 0}, "merges": []}"#)
        do {
            _ = try Tokenizer(tokenizerJSON: try JSONValue.parse(dropout))
            Issue.record("accepted dropout")
        } catch { #expect(error.description.contains("model.dropout")) }
        let missingMerge = minimalTokenizer(model: #"{"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}"#)
        do {
            _ = try Tokenizer(tokenizerJSON: try JSONValue.parse(missingMerge))
            Issue.record("accepted a merge without its merged token")
        } catch { #expect(error.description.contains("merges[0]")) }
        let badRegex = minimalTokenizer(preTokenizer: #"{"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated", "invert": false}"#)
        do {
            _ = try Tokenizer(tokenizerJSON: try JSONValue.parse(badRegex))
            Issue.record("accepted a bad regex")
        } catch { #expect(error.description.contains("pre_tokenizer.pattern.Regex")) }
    }

    @Test("vocabulary lookups are byte-exact")
    func byteExactVocabulary() throws {
        let json = minimalTokenizer(model: #"{"type": "BPE", "vocab": {"é": 0, "e\u0301": 1, "e": 2, "\u0301": 3}, "merges": [["e", "\u0301"]]}"#)
        let tokenizer = try Tokenizer(tokenizerJSON: try JSONValue.parse(json))
        #expect(tokenizer.tokenToID("é") == 0)
        #expect(tokenizer.tokenToID("e\u{301}") == 1)
        #expect(tokenizer.encode("é") == [0])
        #expect(tokenizer.encode("e\u{301}") == [1])
        #expect(tokenizer.vocabularySize == 4)
    }

    @Test("WordLevel model and BPE merges given as strings")
    func smallModels() throws {
        let json = minimalTokenizer(preTokenizer: #"{"type": "WhitespaceSplit"}"#,
                                    model: #"{"type": "WordLevel", "vocab": {"[UNK]": 0, "hello": 1, "world": 2}, "unk_token": "[UNK]"}"#)
        let tokenizer = try Tokenizer(tokenizerJSON: try JSONValue.parse(json))
        #expect(tokenizer.encode("hello there world") == [1, 0, 2])
        let bpe = try Tokenizer(tokenizerJSON: try JSONValue.parse(minimalTokenizer()))
        #expect(bpe.encode("abab") == [2, 2])
        #expect(bpe.encodeWithTokens("aba").tokens == ["ab", "a"])
    }
}
