@testable import LanguageModels
import Testing

/// One template rendering with its expected result (text, generation spans, or the message
/// passed to `raise_exception`). `vars` is JSON; its `messages` and `add_generation_prompt`
/// entries become the render arguments.
struct ParityCase {
    let template: String
    let vars: String
    let expect: String?
    let raised: String?
    let spans: [Range<Int>]

    init(_ template: String, vars: String, expect: String, spans: [Range<Int>] = []) {
        self.template = template
        self.vars = vars
        self.expect = expect
        self.raised = nil
        self.spans = spans
    }

    init(_ template: String, vars: String, raised: String) {
        self.template = template
        self.vars = vars
        self.expect = nil
        self.raised = raised
        self.spans = []
    }
}

/// Splits JSON variables into render arguments.
func chatTemplateRenderArguments(_ json: String) throws -> (messages: [TemplateValue], addGenerationPrompt: Bool, variables: [String: TemplateValue]) {
    var variables: [String: TemplateValue] = [:]
    if case .dictionary(let d) = try TemplateValue(json: json) {
        for e in d.entries {
            if case .string(let k) = e.key { variables[k] = e.value }
        }
    }
    var messages: [TemplateValue] = []
    if case .list(let m)? = variables["messages"] { messages = m }
    let addGenerationPrompt = variables["add_generation_prompt"] == .bool(true)
    return (messages, addGenerationPrompt, variables)
}

func expectParity(_ cases: [ParityCase], sourceLocation: SourceLocation = #_sourceLocation) throws {
    for c in cases {
        let args = try chatTemplateRenderArguments(c.vars)
        let template = try ChatTemplate(source: c.template)
        if let raised = c.raised {
            do {
                _ = try template.render(
                    messages: args.messages, addGenerationPrompt: args.addGenerationPrompt, variables: args.variables)
                Issue.record("expected raise_exception for \(c.template)", sourceLocation: sourceLocation)
            } catch let e as ChatTemplateRaised {
                #expect(e.message == raised, "\(c.template)", sourceLocation: sourceLocation)
            }
            continue
        }
        let (text, spans) = try template.renderWithGenerationSpans(
            messages: args.messages, addGenerationPrompt: args.addGenerationPrompt, variables: args.variables)
        #expect(text == c.expect, "\(c.template)", sourceLocation: sourceLocation)
        #expect(spans == c.spans, "\(c.template)", sourceLocation: sourceLocation)
    }
}

/// Renders a template with plain variables.
func renderTemplate(
    _ source: String, _ variables: [String: TemplateValue] = [:], messages: [TemplateValue] = [],
    addGenerationPrompt: Bool = false
) throws -> String {
    try ChatTemplate(source: source).render(
        messages: messages, addGenerationPrompt: addGenerationPrompt, variables: variables)
}

/// The `ChatTemplateError` a template throws when parsed or rendered (nil if none).
func chatTemplateError(_ source: String, _ variables: [String: TemplateValue] = [:], messages: [TemplateValue] = [])
    -> ChatTemplateError?
{
    do {
        _ = try renderTemplate(source, variables, messages: messages)
        return nil
    } catch let e as ChatTemplateError {
        return e
    } catch {
        return nil
    }
}
