import Foundation
import LanguageModels

/// Renders conversations with a model's own chat template, for SFT's `messages` format. The assistant's turns (for
/// assistant-only loss) come from the template's `{% generation %}` blocks when it has them; otherwise from
/// rendering the conversation prefix by prefix: the text a turn adds after the prompt that asks for it
/// (`add_generation_prompt`) is that turn.
public struct ChatTemplateRenderer: ConversationRenderer {
    public let template: ChatTemplate
    public let variables: [String: TemplateValue]

    /// nil when the model directory has no chat template.
    public init?(model: LanguageModel) throws {
        guard let template = try model.chatTemplate() else { return nil }
        self.template = template
        variables = model.chatTemplateVariables
    }

    public init(template: ChatTemplate, variables: [String: TemplateValue]) {
        self.template = template
        self.variables = variables
    }

    public func render(_ messages: [JSONValue], addGenerationPrompt: Bool, findingAssistantTurns: Bool) throws -> (text: String, assistantRanges: [Range<Int>]) {
        let values = messages.map(TemplateValue.init)
        if template.hasGenerationBlocks {
            let (text, spans) = try template.renderWithGenerationSpans(messages: values, addGenerationPrompt: addGenerationPrompt, variables: variables)
            return (text, spans)
        }
        let text = try template.render(messages: values, addGenerationPrompt: addGenerationPrompt, variables: variables)
        guard findingAssistantTurns else { return (text, []) }
        let bytes = Array(text.utf8)
        var ranges: [Range<Int>] = []
        for (k, message) in messages.enumerated() where message["role"]?.stringValue == "assistant" {
            let prompt = Array(try template.render(messages: Array(values[..<k]), addGenerationPrompt: true, variables: variables).utf8)
            let through = Array(try template.render(messages: Array(values[...k]), addGenerationPrompt: false, variables: variables).utf8)
            guard through.starts(with: prompt), bytes.starts(with: through) else {
                throw DataError("the chat template does not render this conversation prefix by prefix (turn \(k) changes the text before it), so its assistant turns cannot be found; a template with {% generation %} blocks can")
            }
            if prompt.count < through.count { ranges.append(prompt.count..<through.count) }
        }
        return (text, ranges)
    }
}
