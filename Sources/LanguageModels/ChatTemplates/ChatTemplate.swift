/// The parsed form of a template, shared by every render.
final class TemplateProgram: @unchecked Sendable {
    let nodes: [TemplateNode]
    init(nodes: [TemplateNode]) { self.nodes = nodes }
}

/// A Hugging Face chat template (a Jinja template), rendered the way transformers'
/// `apply_chat_template` renders it: Jinja's sandbox with `trim_blocks` and `lstrip_blocks`,
/// transformers' `tojson`, `raise_exception`, `strftime_now` and `{% generation %}`.
///
/// Parsing rejects syntax errors and anything outside the supported subset of Jinja (unknown
/// tags, filters and tests) with a `ChatTemplateError` naming line and column; like Jinja, an
/// unknown filter or test inside an `if` block or inline `if` only fails if it runs. A parsed
/// template is immutable and can be rendered concurrently.
///
/// Runaway templates stop with an error: macro recursion deeper than 256, evaluation nesting
/// deeper than 1000, output or any single string/list over 64 MiB, more than 10 million loop
/// steps, values nested over 400 deep, and (as in Jinja's sandbox) ranges over 100,000 items.
public struct ChatTemplate: Sendable {
    /// The template text.
    public let source: String
    /// The name used in error messages.
    public let name: String
    /// Whether the template contains `{% generation %}` blocks (anywhere, macros included).
    public let hasGenerationBlocks: Bool

    private let program: TemplateProgram

    /// Parses a template. Throws `ChatTemplateError` for syntax errors and unsupported constructs.
    public init(source: String, name: String = "chat_template.jinja") throws {
        self.source = source
        self.name = name
        do {
            let (nodes, generation) = try TemplateDeepStack.run { () throws -> ([TemplateNode], Bool) in
                let tokens = try TemplateLexer.tokenize(source)
                var parser = TemplateParser(tokens: tokens)
                let nodes = try parser.parseTemplate()
                return (nodes, parser.hasGenerationBlocks)
            }
            program = TemplateProgram(nodes: nodes)
            hasGenerationBlocks = generation
        } catch {
            throw ChatTemplate.publicError(error, name: name)
        }
    }

    /// Renders the conversation.
    ///
    /// `variables` supplies everything else the template reads (`bos_token`, `eos_token`,
    /// `tools`, `documents`, custom flags...). `messages` and `add_generation_prompt` are set
    /// from the arguments. Like transformers, `tools` and `documents` are `none` unless given.
    ///
    /// Throws `ChatTemplateRaised` when the template calls `raise_exception`, and
    /// `ChatTemplateError` (with line and column) for any other failure.
    public func render(
        messages: [TemplateValue], addGenerationPrompt: Bool, variables: [String: TemplateValue] = [:]
    ) throws -> String {
        try run(messages: messages, addGenerationPrompt: addGenerationPrompt, variables: variables).text
    }

    /// Renders like `render`, and also returns the UTF-8 byte ranges of the output produced by
    /// each `{% generation %}` block, in the order the blocks finished (empty when the template
    /// has none). Blocks rendered inside a macro call or a `{% set %}` block are not reported,
    /// since their text does not go straight to the output.
    public func renderWithGenerationSpans(
        messages: [TemplateValue], addGenerationPrompt: Bool, variables: [String: TemplateValue] = [:]
    ) throws -> (text: String, generationSpans: [Range<Int>]) {
        let r = try run(messages: messages, addGenerationPrompt: addGenerationPrompt, variables: variables)
        return (r.text, r.spans)
    }

    private func run(messages: [TemplateValue], addGenerationPrompt: Bool, variables: [String: TemplateValue])
        throws -> (text: String, spans: [Range<Int>])
    {
        var vars = variables
        if vars["tools"] == nil { vars["tools"] = TemplateValue.none }
        if vars["documents"] == nil { vars["documents"] = TemplateValue.none }
        vars["messages"] = .list(messages)
        vars["add_generation_prompt"] = .bool(addGenerationPrompt)
        let program = self.program
        let name = self.name
        let variables = vars
        do {
            return try TemplateDeepStack.run { () throws -> (text: String, spans: [Range<Int>]) in
                let interpreter = TemplateInterpreter(templateName: name)
                let text = try interpreter.render(program.nodes, variables: variables)
                return (text, interpreter.spans)
            }
        } catch {
            throw ChatTemplate.publicError(error, name: name)
        }
    }

    static func publicError(_ error: Error, name: String) -> Error {
        switch error {
        case let e as TemplateLocatedFailure:
            return ChatTemplateError(message: e.message, line: Int(e.loc.line), column: Int(e.loc.column), templateName: name)
        case let e as TemplateFailure:
            return ChatTemplateError(message: e.message, line: 0, column: 0, templateName: name)
        case is ChatTemplateRaised, is ChatTemplateError:
            return error
        default:
            return ChatTemplateError(message: "\(error)", line: 0, column: 0, templateName: name)
        }
    }
}
