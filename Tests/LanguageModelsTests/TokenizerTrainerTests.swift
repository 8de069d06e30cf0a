import Foundation
import Testing
@testable import LanguageModels

@Suite("BPE trainer and writer")
struct TokenizerTrainerTests {
    static let corpus = [
        "the cat sat on the mat. the cat ate the rat.\n",
        "A quick brown fox jumps over the lazy dog; the dog sleeps.\n",
        "naïve café — 你好 🙂 the end<|endoftext|>the beginning\n",
    ]

    @Test("trains to the target size and encodes losslessly")
    func trainAndEncode() throws {
        let trainer = BPETrainer(vocabularySize: 300, minimumFrequency: 2, specialTokens: ["<|endoftext|>"])
        let tokenizer = try trainer.train(texts: Self.corpus)
        #expect(tokenizer.vocabularySize <= 300)
        #expect(tokenizer.vocabularySize > 257)
        #expect(tokenizer.tokenToID("<|endoftext|>") == 0)
        #expect(tokenizer.tokenToID("Ġthe") != nil)
        for text in Self.corpus + ["unseen wörds ¿and? \u{301}"] {
            let ids = tokenizer.encode(text, addSpecialTokens: false)
            #expect(tokenizer.decode(ids) == text)
        }
        #expect(tokenizer.encode("<|endoftext|>", addSpecialTokens: false) == [0])
        #expect(tokenizer.encode(" the cat", addSpecialTokens: false).count == 2)
        // Too small a target is an error, not a crash.
        #expect(throws: TokenizerError.self) { _ = try BPETrainer(vocabularySize: 10).train(texts: Self.corpus) }
    }

    @Test("save writes a tokenizer.json that loads back to the same encoder")
    func saveAndReload() throws {
        let tokenizer = try BPETrainer(vocabularySize: 280, specialTokens: ["<|endoftext|>", "<pad>"]).train(texts: Self.corpus)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: url) }
        try tokenizer.save(to: url)
        let reloaded = try Tokenizer(tokenizerJSON: try JSONValue.parse(contentsOf: url))
        #expect(reloaded.vocabularySize == tokenizer.vocabularySize)
        #expect(reloaded.document == tokenizer.document)
        for text in Self.corpus {
            #expect(reloaded.encode(text) == tokenizer.encode(text))
        }
        // Loaded fixtures save and reload unchanged too.
        for dir in tokenizerFixtureDirectories() {
            let original = try Tokenizer(directory: dir)
            try original.save(to: url)
            let again = try Tokenizer(tokenizerJSON: try JSONValue.parse(contentsOf: url))
            #expect(again.document == original.document)
            #expect(again.encode("Hello wörld 🙂 12345") == original.encode("Hello wörld 🙂 12345"))
        }
    }
}
