import Foundation
import Testing
import TestSupport
@testable import LanguageModels

/// The HF fixture directories that have chat_expected.json (a placeholder that fails when there are none).
let chatFixtureDirectories: [URL] = {
    let found = Fixtures.huggingFaceModels.filter { FileManager.default.fileExists(atPath: $0.appendingPathComponent("chat_expected.json").path) }
    return found.isEmpty ? [Fixtures.huggingFace.appendingPathComponent("NO-CHAT-FIXTURES-FOUND")] : found
}()

@Suite("Chat templates of the model fixtures")
struct ChatTemplateFixtureTests {
    @Test("chat_expected.json: rendered text, token ids, and the raising cases carry the template's message", arguments: chatFixtureDirectories)
    func fixture(directory: URL) throws {
        let expected = try Fixtures.json(directory.appendingPathComponent("chat_expected.json"))
        let cases = try #require(expected["cases"] as? [[String: Any]])
        #expect(!cases.isEmpty)
        let model = try LanguageModel(directory: directory)
        #expect(try model.chatTemplate() != nil)
        for (k, item) in cases.enumerated() {
            let data = try JSONSerialization.data(withJSONObject: item["messages"]!)
            let messages = try JSONValue.parse(Array(data)).arrayValue!
            let generation = item["add_generation_prompt"] as! Bool
            if let message = item["error"] as? String {
                #expect(performing: { try model.applyChatTemplate(messages, addGenerationPrompt: generation) },
                        throws: { ($0 as? ChatTemplateRaised)?.message == message })
                continue
            }
            let (text, ids) = try model.applyChatTemplate(messages, addGenerationPrompt: generation)
            #expect(text == item["text"] as? String, "\(directory.lastPathComponent) case \(k)")
            #expect(ids == (item["ids"] as! [Any]).map { ($0 as! NSNumber).intValue }, "\(directory.lastPathComponent) case \(k) ids")
        }
    }

    @Test("a template outside the supported set is refused with the file, line and column")
    func unsupported() throws {
        let directory = try temporaryDirectory()
        for name in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(at: Fixtures.huggingFace.appendingPathComponent("tiny-llama/\(name)"), to: directory.appendingPathComponent(name))
        }
        try "{% for m in messages %}\n  {% include 'x.jinja' %}\n{% endfor %}".write(to: directory.appendingPathComponent("chat_template.jinja"), atomically: true, encoding: .utf8)
        let model = try LanguageModel(directory: directory)
        #expect(performing: { try model.chatTemplate() }, throws: { error in
            let text = "\(error)"
            return text.contains("chat_template.jinja") && text.contains(":2:")
        })
    }
}

@Suite("Chat template engine: review findings")
struct ChatTemplateReviewTests {
    func render(_ source: String) throws -> String { try ChatTemplate(source: source).render(messages: [], addGenerationPrompt: false) }

    @Test("the smallest integer passes through unique without trapping")
    func smallestInteger() throws {
        #expect(try render("{{ [-9223372036854775807 - 1, 1, 1]|unique|list }}") == "[-9223372036854775808, 1]")
    }

    @Test("floats between 2^53 and 1e16 print as Python does")
    func largeFloats() throws {
        #expect(try render("{{ 9.1e15 }} {{ 1e16 }} {{ 2.5 }}") == "9100000000000000.0 1e+16 2.5")
    }

    @Test("lists and loops too large to build are refused, not allocated")
    func sizeCaps() throws {
        #expect(throws: ChatTemplateError.self) { try render("{{ ([0] * 60000000)|length }}") }
        #expect(throws: ChatTemplateError.self) { try render("{% for c in 'x' * 60000000 %}{% endfor %}") }
    }
}

extension ChatTemplateReviewTests {
    @Test("set blocks: their own scope, and a break inside one ends the loop before the assignment (as jinja2 3.1)")
    func setBlocks() throws {
        let source = "{% set x = 'init' %}{% for i in [1, 2] %}{% set x %}a{{ i }}{% if i == 2 %}{% break %}{% endif %}b{% endset %}[{{ x }}]{% endfor %}({{ x }})"
        #expect(try render(source) == "[a1b](init)")
        #expect(try render("{% set x %}{% set y = 3 %}v{% endset %}{{ y }}|{{ x }}") == "|v")
    }
}
