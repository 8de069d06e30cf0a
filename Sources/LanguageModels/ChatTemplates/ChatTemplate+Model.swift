import Foundation
import Torch

// A model directory's chat template and how Proxima renders conversations with it.

extension TemplateValue {
    /// The template value of a JSON value (objects keep their key order, numbers become ints when integral).
    public init(_ json: JSONValue) {
        switch json {
        case .null: self = .none
        case .bool(let b): self = .bool(b)
        case .number(let n):
            if let i = n.intValue { self = .int(i) } else { self = .double(n.doubleValue ?? .nan) }
        case .string(let s): self = .string(s)
        case .array(let items): self = .list(items.map(TemplateValue.init))
        case .object(let members): self = .dictionary(OrderedDict(members.map { ($0.key, TemplateValue($0.value)) }))
        }
    }
}

extension ChatTemplate {
    /// The chat template of a model directory: `chat_template.jinja`, else `tokenizer_config.json`'s `chat_template`
    /// (a string, or a list of named templates of which `default` is taken). nil when the directory has none.
    /// Throws `ModelLoadingError` naming the file for a template that does not parse.
    public static func load(directory: URL) throws -> ChatTemplate? {
        let file = directory.appendingPathComponent("chat_template.jinja")
        var source: String?
        var name = file.path
        if FileManager.default.fileExists(atPath: file.path) {
            do { source = try String(contentsOf: file, encoding: .utf8) } catch {
                throw ModelLoadingError("\(file.path): cannot read as UTF-8 text")
            }
        } else {
            let config = directory.appendingPathComponent("tokenizer_config.json")
            if FileManager.default.fileExists(atPath: config.path), let json = try? JSONValue.parse(contentsOf: config) {
                name = config.path + " (chat_template)"
                switch json["chat_template"] {
                case .string(let text)?: source = text
                case .array(let named)?:
                    source = named.first { $0["name"]?.stringValue == "default" }?["template"]?.stringValue
                        ?? named.first?["template"]?.stringValue
                default: break
                }
            }
        }
        guard let source else { return nil }
        do { return try ChatTemplate(source: source, name: name) } catch let error as ChatTemplateError {
            throw ModelLoadingError(error.description)
        }
    }
}

extension LanguageModel {
    /// The directory's chat template, or nil (see `ChatTemplate.load(directory:)`).
    public func chatTemplate() throws -> ChatTemplate? { try ChatTemplate.load(directory: directory) }

    /// The variables transformers passes a chat template besides the messages: `bos_token`, `eos_token`, and
    /// the tokenizer's other named special tokens.
    public var chatTemplateVariables: [String: TemplateValue] {
        var variables: [String: TemplateValue] = [:]
        if let bos = tokenizer?.bosToken { variables["bos_token"] = .string(bos) }
        if let eos = tokenizer?.eosToken { variables["eos_token"] = .string(eos) }
        if let pad = tokenizer?.padToken { variables["pad_token"] = .string(pad) }
        if let unk = tokenizer?.unkToken { variables["unk_token"] = .string(unk) }
        return variables
    }

    /// Renders `messages` (JSON objects with "role" and "content") with the model's chat template and tokenises
    /// the text as transformers' `apply_chat_template(tokenize=True)` does: special tokens matched, none added.
    /// Throws `ChatTemplateRaised` carrying the template's message when it calls `raise_exception`.
    public func applyChatTemplate(_ messages: [JSONValue], addGenerationPrompt: Bool,
                                  variables: [String: TemplateValue] = [:]) throws -> (text: String, ids: [Int]) {
        guard let template = try chatTemplate() else {
            throw ModelLoadingError("\(directory.path): the model has no chat template (chat_template.jinja or tokenizer_config.json's chat_template)")
        }
        guard let tokenizer else { throw ModelLoadingError("\(directory.path): no tokenizer.json to tokenise the rendered conversation") }
        let text = try template.render(messages: messages.map(TemplateValue.init), addGenerationPrompt: addGenerationPrompt,
                                       variables: chatTemplateVariables.merging(variables) { $1 })
        return (text, tokenizer.encode(text, addSpecialTokens: false))
    }
}

/// Template errors end the command line with one line, as other bad input does.
extension ChatTemplateError: ProximaError {}
extension ChatTemplateRaised: ProximaError {}
