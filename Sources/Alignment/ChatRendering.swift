import Foundation
import LanguageModels

/// Renders conversations with a model's own chat template, for SFT's `messages` format.
public struct ChatTemplateRenderer: ConversationRenderer {
    /// nil when the model directory has no chat template.
    public init?(model: LanguageModel) throws { return nil }

    public func render(_ messages: [JSONValue], addGenerationPrompt: Bool) throws -> (text: String, assistantRanges: [Range<Int>]) {
        ("", [])
    }
}
