@testable import LanguageModels
import Foundation
import Testing

/// Random mutations of real-shaped templates must only ever throw `ChatTemplateError` or
/// `ChatTemplateRaised` — never crash or throw anything else. Set
/// `CHAT_TEMPLATE_FUZZ_ITERATIONS` for a longer run.
@Suite struct ChatTemplateFuzzTests {
    /// SplitMix64: small, deterministic.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
    }

    static let fragments: [String] = [
        "{%", "%}", "{{", "}}", "{#", "#}", "-", "+", "(", ")", "[", "]", "{", "}", "'", "\"", "\\", "|", ".", ",", ":",
        "=", "==", "~", "*", "**", "/", "//", "%", " ", "\n", "for", "endfor", "if", "elif", "else", "endif", "set",
        "endset", "macro", "endmacro", "generation", "endgeneration", "in", "not", "and", "or", "is", "loop",
        "messages", "message", "ns", "namespace(", "range(", "raise_exception(", "trim", "tojson", "items", "defined",
        "none", "true", "0", "1", "-1", "1.5", "1e308", "9223372036854775807", "é", "🙂", "\u{0}", "\u{2028}", "\\u",
        "\\x", "\\U0010FFFF", "\\ud800", "raw", "endraw", "break", "continue", "[::-1]", "[1:]", "|length", ".split(",
    ]

    static let seeds: [String] = [
        RealisticTemplateTests.llama3Template,
        RealisticTemplateTests.chatmlToolsTemplate,
        RealisticTemplateTests.mistralTemplate,
        RealisticTemplateTests.gemmaTemplate,
        RealisticTemplateTests.generationTemplate,
        "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{{ loop.index }}{{ m.role|upper }}{% endfor %}{{ ns.n }}",
        "{% macro f(x, y=2) %}{{ x ~ y }}{% if x > 0 %}{{ f(x - 1) }}{% endif %}{% endmacro %}{{ f(3) }}",
        "{{ [1, 2, 3][::-1]|join(',') }}{{ {'a': [1, {'b': none}]}|tojson(indent=2) }}{{ 'a b'.split()|length }}",
        "{%- for k, v in {'a': 1}|items -%}{{ k }}={{ v if v is number else 'x' }}{%- endfor -%}{# c #}{% raw %}{{x}}{% endraw %}",
    ]

    static let messages: [TemplateValue] = [
        .message(role: "system", content: "sys"), .message(role: "user", content: "hi 🙂"),
        ["role": "assistant", "content": "", "tool_calls": [["function": ["name": "f", "arguments": ["a": 1]]]]],
        .message(role: "tool", content: "{}"), .message(role: "user", content: "again"),
    ]

    static func mutate(_ source: String, _ rng: inout Generator) -> String {
        var scalars = Array(source.unicodeScalars)
        for _ in 0..<(1 + rng.below(4)) {
            let n = scalars.count
            switch rng.below(5) {
            case 0 where n > 0:
                let start = rng.below(n)
                let length = min(n - start, 1 + rng.below(12))
                scalars.removeSubrange(start..<(start + length))
            case 1:
                let fragment = fragments[rng.below(fragments.count)]
                scalars.insert(contentsOf: fragment.unicodeScalars, at: rng.below(n + 1))
            case 2 where n > 0:
                let start = rng.below(n)
                let length = min(n - start, 1 + rng.below(40))
                let piece = Array(scalars[start..<(start + length)])
                scalars.insert(contentsOf: piece, at: rng.below(n + 1))
            case 3 where n > 1:
                let i = rng.below(n)
                let j = rng.below(n)
                scalars.swapAt(i, j)
            default:
                if let s = Unicode.Scalar(UInt32(rng.below(0x80))) { scalars.insert(s, at: rng.below(n + 1)) }
            }
        }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    @Test func mutatedTemplatesOnlyEverThrowTemplateErrors() throws {
        let iterations = Int(ProcessInfo.processInfo.environment["CHAT_TEMPLATE_FUZZ_ITERATIONS"] ?? "") ?? 3000
        var rng = Generator(state: UInt64(ProcessInfo.processInfo.environment["CHAT_TEMPLATE_FUZZ_SEED"] ?? "") ?? 0xC0FFEE)
        var rendered = 0
        var failed = 0
        for i in 0..<iterations {
            let seed = Self.seeds[i % Self.seeds.count]
            let source = Self.mutate(seed, &rng)
            do {
                let template = try ChatTemplate(source: source)
                _ = try template.renderWithGenerationSpans(
                    messages: Self.messages, addGenerationPrompt: i % 2 == 0,
                    variables: ["bos_token": "<s>", "eos_token": "</s>", "tools": [["type": "function"]]])
                rendered += 1
            } catch is ChatTemplateError {
                failed += 1
            } catch is ChatTemplateRaised {
                failed += 1
            } catch {
                Issue.record("unexpected error type \(type(of: error)) for \(source.debugDescription)")
            }
        }
        #expect(rendered + failed == iterations)
        #expect(rendered > 0 && failed > 0)
    }

    @Test func arbitraryBytesOnlyEverThrowTemplateErrors() {
        var rng = Generator(state: 42)
        for _ in 0..<500 {
            var bytes: [UInt8] = []
            for _ in 0..<rng.below(80) {
                let pool = Array("{}%#-+()[]'\"\\|.,:=~ abc0 \n".utf8)
                bytes.append(rng.below(4) == 0 ? UInt8(rng.below(256)) : pool[rng.below(pool.count)])
            }
            let source = String(decoding: bytes, as: UTF8.self)
            do {
                _ = try ChatTemplate(source: source).render(messages: Self.messages, addGenerationPrompt: true)
            } catch is ChatTemplateError {
            } catch is ChatTemplateRaised {
            } catch {
                Issue.record("unexpected error type \(type(of: error)) for \(source.debugDescription)")
            }
        }
    }
}
