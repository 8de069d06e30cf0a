@testable import LanguageModels
import Foundation
import Testing

/// The public surface: values, JSON, render arguments, generation spans.
@Suite struct ChatTemplateAPITests {
    @Test func valueLiteralsAndConstructors() throws {
        let message: TemplateValue = ["role": "user", "content": "hi", "n": 1, "x": 1.5, "ok": true, "none": nil]
        #expect(message["role"] == "user")
        #expect(message["n"] == .int(1))
        #expect(message["none"] == TemplateValue.none)
        let built = TemplateValue.dictionary([("role", "user"), ("content", "hi")])
        #expect(built == .message(role: "user", content: "hi"))
        if case .dictionary(let d) = built {
            #expect(d.keys == ["role", "content"])
        } else {
            Issue.record("expected a dictionary")
        }
        let list: TemplateValue = [1, "a", nil, [2]]
        #expect(list == .list([.int(1), .string("a"), .none, .list([.int(2)])]))
        #expect(TemplateValue("x") == .string("x"))
        #expect(TemplateValue(nil as String?) == TemplateValue.none)
        // Dictionaries compare like Python dicts (order does not matter); lists never equal tuples.
        #expect(TemplateValue.dictionary([("a", 1), ("b", 2)]) == .dictionary([("b", 2), ("a", 1)]))
        #expect(TemplateValue.list([1]) != .tuple([1]))
    }

    @Test func jsonKeepsKeyOrderAndNumberKinds() throws {
        let v = try TemplateValue(json: #"{"z": 1, "a": [1.0, 2, "\u00e9\ud83d\ude42", null, true], "m": {"k": -3e2}}"#)
        guard case .dictionary(let d) = v else {
            Issue.record("expected a dictionary")
            return
        }
        #expect(d.keys == ["z", "a", "m"])
        #expect(d["a"] == [.double(1.0), .int(2), "é🙂", nil, true])
        #expect(try v.jsonString() == #"{"z": 1, "a": [1.0, 2, "é🙂", null, true], "m": {"k": -300.0}}"#)
        #expect(try v.jsonString(indent: 1, sortKeys: true).hasPrefix("{\n \"a\": [\n  1.0,"))
        #expect(throws: ChatTemplateError.self) { try TemplateValue(json: "{\"a\": }") }
        #expect(throws: ChatTemplateError.self) { try TemplateValue(json: "[1, 2") }
        #expect(throws: ChatTemplateError.self) { try TemplateValue.undefined.jsonString() }
    }

    @Test func renderSetsMessagesAndGenerationPromptAndDefaultsTools() throws {
        let t = try ChatTemplate(source: "{{ messages|length }}|{{ add_generation_prompt }}|{{ tools is none }}|{{ documents is none }}|{{ bos_token }}")
        let out = try t.render(
            messages: [.message(role: "user", content: "a")], addGenerationPrompt: true,
            variables: ["bos_token": "<s>", "messages": "ignored", "add_generation_prompt": false])
        #expect(out == "1|True|True|True|<s>")
        let withTools = try t.render(messages: [], addGenerationPrompt: false, variables: ["tools": [["type": "function"]]])
        #expect(withTools == "0|False|False|True|")
    }

    @Test func templateIsReusableAndThreadSafe() async throws {
        let t = try ChatTemplate(source: "{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}")
        let results = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<16 {
                group.addTask {
                    try t.render(messages: [.message(role: "user", content: "\(i)")], addGenerationPrompt: false)
                }
            }
            var all: [String] = []
            for try await r in group { all.append(r) }
            return all
        }
        #expect(Set(results) == Set((0..<16).map { "user:\($0);" }))
    }

    @Test func generationSpansAreUTF8ByteRanges() throws {
        let source = "{% for m in messages %}<{{ m.role }}>{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}{% endfor %}"
        let t = try ChatTemplate(source: source)
        #expect(t.hasGenerationBlocks)
        let messages: [TemplateValue] = [
            .message(role: "user", content: "héllo"), .message(role: "assistant", content: "🙂 ok"),
            .message(role: "user", content: "x"), .message(role: "assistant", content: "é"),
        ]
        let (text, spans) = try t.renderWithGenerationSpans(messages: messages, addGenerationPrompt: false)
        let bytes = Array(text.utf8)
        let pieces = spans.map { String(decoding: bytes[$0], as: UTF8.self) }
        #expect(pieces == ["🙂 ok", "é"])
        // Without generation blocks, no spans; plain render gives the same text.
        #expect(try t.render(messages: messages, addGenerationPrompt: false) == text)
        let plain = try ChatTemplate(source: "{{ 1 }}")
        #expect(!plain.hasGenerationBlocks)
        #expect(try plain.renderWithGenerationSpans(messages: [], addGenerationPrompt: false).generationSpans.isEmpty)
        // A generation block inside a macro is in the macro's captured output, not reported.
        let inMacro = try ChatTemplate(source: "{% macro m() %}{% generation %}x{% endgeneration %}{% endmacro %}{{ m() }}")
        #expect(inMacro.hasGenerationBlocks)
        #expect(try inMacro.renderWithGenerationSpans(messages: [], addGenerationPrompt: false).generationSpans.isEmpty)
    }

    @Test func strftimeNowUsesTheLocalClock() throws {
        let year = Calendar.current.component(.year, from: Date())
        #expect(try renderTemplate("{{ strftime_now('%Y') }}") == String(year))
    }
}
