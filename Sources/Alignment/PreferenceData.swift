import Foundation
import LanguageModels

// Preference data in the JSONL layouts TRL users already have, tokenised and checked whole before training starts.
// Every response becomes a (prompt, completion) pair of token lists: the prompt as the model sees it, the completion
// as the model is scored on it (ending in EOS).

/// One response to score: the prompt's tokens (at least one) and the completion's tokens after it.
public struct PreferenceSequence: Equatable, Sendable {
    public var prompt: [Int]
    public var completion: [Int]
    public init(prompt: [Int], completion: [Int]) {
        self.prompt = prompt
        self.completion = completion
    }
}

/// A preferred and a dispreferred response to the same prompt.
public struct PreferencePair: Equatable, Sendable {
    public var chosen: PreferenceSequence
    public var rejected: PreferenceSequence
    /// The optional `margin` column (reward models: how much better `chosen` is).
    public var margin: Double?
}

/// K responses to one prompt, ordered best first, with their scores (higher is better; from `scores`, or
/// `K − rank` from `ranks`).
public struct RankedResponses: Equatable, Sendable {
    public var responses: [PreferenceSequence]
    public var scores: [Double]
    /// Whether two responses share a score (a ranking with ties).
    public var hasTies: Bool { Set(scores).count < scores.count }
}

/// One response labelled desirable or not (KTO's unpaired data).
public struct LabelledResponse: Equatable, Sendable {
    public var sequence: PreferenceSequence
    public var desirable: Bool
}

/// The JSONL layouts preference trainers read.
public enum PreferenceDataFormat: String, Sendable {
    /// `{"prompt", "chosen", "rejected"}` (strings, or lists of messages: conversational).
    case paired = "prompt/chosen/rejected"
    /// `{"chosen", "rejected"}` whose shared beginning is the prompt.
    case implicitPrompt = "chosen/rejected (implicit prompt)"
    /// `{"prompt", "responses", "scores" | "ranks"}`: K ranked responses, for the listwise objectives.
    case ranked = "prompt/responses/scores"
    /// `{"prompt", "completion", "label"}`: unpaired responses labelled desirable (true) or not, for KTO.
    case unpaired = "prompt/completion/label"
}

/// How preference data becomes token sequences (TRL's `DPOConfig` names in the comments).
public struct PreferenceDataOptions: Sendable, Equatable {
    /// `max_length`: prompt + completion are cut to this many tokens (nil: no limit).
    public var maxLength: Int? = 1024
    /// `max_prompt_length`: prompts keep their last this-many tokens (the ones next to the response; nil: all).
    public var maxPromptLength: Int? = nil
    /// `max_completion_length`: completions keep their first this-many tokens (nil: all).
    public var maxCompletionLength: Int? = nil
    /// `truncation_mode`: which end of a sequence longer than `max_length` survives.
    public var truncationMode: TruncationMode = .keepStart
    public init() {}

    public enum TruncationMode: String, Sendable, CaseIterable {
        /// The first `max_length` tokens (rows whose prompt alone fills them are dropped: nothing would be scored).
        case keepStart = "keep_start"
        /// The last `max_length` tokens (the prompt loses its beginning).
        case keepEnd = "keep_end"
    }
}

/// Preference data read from a JSONL file and tokenised; every line is checked before anything trains on it.
public struct PreferenceDataset: Sendable {
    public let format: PreferenceDataFormat
    /// Whether rows are conversations rendered with the chat template.
    public let conversational: Bool
    public let pairs: [PreferencePair]
    public let lists: [RankedResponses]
    public let unpaired: [LabelledResponse]
    /// The file's line of each example (of whichever kind this data set holds), for errors found later.
    public let lines: [Int]
    public let path: String
    /// Sequences cut by the length limits.
    public let truncatedCount: Int
    /// Rows dropped because their prompt alone filled `max_length` (keep_start).
    public let droppedCount: Int

    /// The number of examples (pairs, lists or labelled responses).
    public var count: Int { lines.count }

    /// Reads and tokenises `url`. The format is that of the first row; every other row must match it.
    ///
    /// Text rows are tokenised as transformers does for one text (prompt + response, special tokens added) and the
    /// response starts where that tokenisation stops agreeing with the prompt's own (TRL's rule, so a token merging
    /// across the boundary belongs to the response); an EOS ends every response. Conversations (lists of
    /// `{"role", "content"}` messages) are rendered by `renderer`: the prompt with the generation prompt, and prompt +
    /// response as one conversation. Throws `DataError` naming the file, line and field for a missing field, a wrong
    /// type, a row of another format, an empty list, or scores that are not numbers.
    public init(contentsOf url: URL, tokenizer: Tokenizer, eosTokenID: Int?, options: PreferenceDataOptions = PreferenceDataOptions(),
                renderer: ConversationRenderer? = nil) throws {
        let file = try JSONLines(contentsOf: url)
        let first = file.rows[0]
        let format: PreferenceDataFormat
        if first["responses"] != nil { format = .ranked }
        else if first["label"] != nil || first["completion"] != nil { format = .unpaired }
        else if first["prompt"] != nil { format = .paired }
        else if first["chosen"] != nil || first["rejected"] != nil { format = .implicitPrompt }
        else {
            let keys = first.value.objectValue!.map(\.key).joined(separator: ", ")
            throw file.error(first, nil, "no preference fields: expected \"prompt\", \"chosen\" and \"rejected\"; \"chosen\" and \"rejected\"; \"prompt\", \"responses\" and \"scores\"; or \"prompt\", \"completion\" and \"label\" (found \(keys.isEmpty ? "none" : keys))")
        }
        let leading = format == .implicitPrompt ? first["chosen"] : (format == .ranked ? first["responses"]?.arrayValue?.first : first["prompt"])
        let conversational = leading?.arrayValue != nil
        if conversational && renderer == nil {
            throw file.error(first, format == .implicitPrompt ? "chosen" : "prompt", "conversations need the model's chat template, and the model has none (chat_template.jinja or tokenizer_config.json's chat_template)")
        }
        var encoder = Encoder(file: file, tokenizer: tokenizer, eos: eosTokenID.map { [$0] } ?? [], renderer: renderer,
                              conversational: conversational, options: options)
        var pairs: [PreferencePair] = [], lists: [RankedResponses] = [], unpaired: [LabelledResponse] = [], lines: [Int] = []
        for row in file.rows {
            switch format {
            case .paired, .implicitPrompt:
                var prompt = try format == .paired ? encoder.field(row, "prompt") : nil
                var chosen = try encoder.field(row, "chosen"), rejected = try encoder.field(row, "rejected")
                if format == .implicitPrompt {
                    (prompt, chosen, rejected) = try encoder.splitSharedPrompt(row, chosen, rejected)
                }
                let margin: Double?
                switch row["margin"] {
                case nil, .null?: margin = nil
                case let value?:
                    guard let number = value.doubleValue else { throw file.error(row, "margin", "expected a number, found \(value.kindName)") }
                    margin = number
                }
                let sequences = try encoder.sequences(row, prompt: prompt!, responses: [("chosen", chosen), ("rejected", rejected)])
                guard let sequences else { continue }
                pairs.append(PreferencePair(chosen: sequences[0], rejected: sequences[1], margin: margin))
            case .ranked:
                let prompt = try encoder.field(row, "prompt")
                guard let value = row["responses"] else { throw file.error(row, "responses", "missing") }
                guard let items = value.arrayValue, items.count >= 2 else {
                    throw file.error(row, "responses", "expected a list of at least 2 responses, found \(value.arrayValue.map { "\($0.count)" } ?? value.kindName)")
                }
                let responses = try items.indices.map { try encoder.value(row, "responses[\($0)]", items[$0]) }
                let scores = try Self.scores(row, file: file, count: items.count)
                let sequences = try encoder.sequences(row, prompt: prompt, responses: responses.enumerated().map { ("responses[\($0.offset)]", $0.element) })
                guard let sequences else { continue }
                let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
                lists.append(RankedResponses(responses: order.map { sequences[$0] }, scores: order.map { scores[$0] }))
            case .unpaired:
                let prompt = try encoder.field(row, "prompt"), completion = try encoder.field(row, "completion")
                guard let value = row["label"] else { throw file.error(row, "label", "missing") }
                guard let label = value.boolValue else { throw file.error(row, "label", "expected true (desirable) or false, found \(value.kindName)") }
                guard let sequences = try encoder.sequences(row, prompt: prompt, responses: [("completion", completion)]) else { continue }
                unpaired.append(LabelledResponse(sequence: sequences[0], desirable: label))
            }
            lines.append(row.line)
        }
        guard !lines.isEmpty else {
            throw DataError("\(url.path): every row's prompt fills max_length (\(options.maxLength ?? 0) tokens), so no response token is left to score; raise --max-length or set --max-prompt-length")
        }
        self.format = format
        self.conversational = conversational
        self.pairs = pairs
        self.lists = lists
        self.unpaired = unpaired
        self.lines = lines
        path = url.path
        truncatedCount = encoder.truncated
        droppedCount = encoder.dropped
    }

    /// In-memory pairs (tests, built-in tasks).
    public init(pairs: [PreferencePair]) {
        format = .paired; conversational = false
        self.pairs = pairs; lists = []; unpaired = []
        lines = pairs.indices.map { $0 + 1 }
        path = "(in memory)"; truncatedCount = 0; droppedCount = 0
    }

    /// In-memory ranked lists (tests, built-in tasks).
    public init(lists: [RankedResponses]) {
        format = .ranked; conversational = false
        pairs = []; self.lists = lists; unpaired = []
        lines = lists.indices.map { $0 + 1 }
        path = "(in memory)"; truncatedCount = 0; droppedCount = 0
    }

    /// `scores` (numbers, higher is better) or `ranks` (integers, 1 = best) of a ranked row.
    static func scores(_ row: JSONLines.Row, file: JSONLines, count: Int) throws -> [Double] {
        let field = row["scores"] != nil ? "scores" : "ranks"
        guard let value = row[field] else { throw file.error(row, "scores", "missing (give \"scores\", higher is better, or \"ranks\", 1 = best)") }
        guard let items = value.arrayValue, items.count == count else {
            throw file.error(row, field, "expected a list of \(count) numbers, one per response, found \(value.arrayValue.map { "\($0.count)" } ?? value.kindName)")
        }
        return try items.enumerated().map { k, item in
            guard let number = item.doubleValue, number.isFinite else { throw file.error(row, "\(field)[\(k)]", "expected a number, found \(item.kindName)") }
            return field == "scores" ? number : -number
        }
    }

    /// Turns rows' texts or conversations into prompt and completion tokens, with truncation.
    struct Encoder {
        let file: JSONLines
        let tokenizer: Tokenizer
        let eos: [Int]
        let renderer: ConversationRenderer?
        let conversational: Bool
        let options: PreferenceDataOptions
        var truncated = 0, dropped = 0

        /// A text field, or a conversation (list of messages).
        enum Content { case text(String), messages([JSONValue]) }

        func field(_ row: JSONLines.Row, _ name: String) throws -> Content {
            guard let value = row[name] else { throw file.error(row, name, "missing") }
            return try self.value(row, name, value)
        }

        func value(_ row: JSONLines.Row, _ name: String, _ value: JSONValue) throws -> Content {
            if conversational {
                guard let messages = value.arrayValue else {
                    throw file.error(row, name, "expected a list of {\"role\", \"content\"} messages (the file's first row is conversational), found \(value.kindName)")
                }
                for (k, message) in messages.enumerated() where message.objectValue == nil || message["role"]?.stringValue == nil {
                    throw file.error(row, "\(name)[\(k)]", "expected an object with a string \"role\"")
                }
                return .messages(messages)
            }
            guard let text = value.stringValue else {
                throw file.error(row, name, "expected a string (the file's first row holds text), found \(value.kindName)")
            }
            return .text(text)
        }

        /// The implicit prompt: the longest shared beginning of chosen and rejected (whole messages for
        /// conversations; for text, characters, backing off a space so the response keeps its leading space).
        func splitSharedPrompt(_ row: JSONLines.Row, _ chosen: Content, _ rejected: Content) throws -> (Content?, Content, Content) {
            switch (chosen, rejected) {
            case (.text(let c), .text(let r)):
                let a = Array(c), b = Array(r)
                var k = 0
                while k < a.count, k < b.count, a[k] == b[k] { k += 1 }
                if k > 0, k < a.count || k < b.count, a[k - 1] == " " { k -= 1 }
                guard k > 0 else { throw file.error(row, "chosen", "chosen and rejected share no beginning, so there is no implicit prompt; give a \"prompt\" field") }
                return (.text(String(a[..<k])), .text(String(a[k...])), .text(String(b[k...])))
            case (.messages(let c), .messages(let r)):
                var k = 0
                while k < c.count, k < r.count, c[k] == r[k] { k += 1 }
                guard k > 0 else { throw file.error(row, "chosen", "chosen and rejected share no first message, so there is no implicit prompt; give a \"prompt\" field") }
                return (.messages(Array(c[..<k])), .messages(Array(c[k...])), .messages(Array(r[k...])))
            default:
                throw file.error(row, "rejected", "chosen and rejected must both be text or both be conversations")
            }
        }

        /// Tokens of the prompt alone and of prompt + each response; the prompt is their longest shared beginning.
        /// nil when keep_start truncation leaves no response token (the row is dropped and counted).
        mutating func sequences(_ row: JSONLines.Row, prompt: Content, responses: [(String, Content)]) throws -> [PreferenceSequence]? {
            var promptIDs: [Int], fulls: [[Int]] = []
            switch prompt {
            case .text(let text):
                promptIDs = tokenizer.encode(text, addSpecialTokens: true)
                for (name, response) in responses {
                    guard case .text(let completion) = response else { throw file.error(row, name, "expected a string, like the prompt") }
                    fulls.append(tokenizer.encode(text + completion, addSpecialTokens: true) + eos)
                }
            case .messages(let messages):
                let promptText: String
                do { promptText = try renderer!.render(messages, addGenerationPrompt: true, findingAssistantTurns: false).text } catch {
                    throw file.error(row, "prompt", "the chat template failed: \(error)")
                }
                promptIDs = tokenizer.encode(promptText, addSpecialTokens: false)
                for (name, response) in responses {
                    guard case .messages(let turns) = response else { throw file.error(row, name, "expected a list of messages, like the prompt") }
                    let text: String
                    do { text = try renderer!.render(messages + turns, addGenerationPrompt: false, findingAssistantTurns: false).text } catch {
                        throw file.error(row, name, "the chat template failed: \(error)")
                    }
                    fulls.append(tokenizer.encode(text, addSpecialTokens: false))
                }
            }
            var shared = promptIDs.count
            for full in fulls {
                var k = 0
                while k < shared, k < full.count, full[k] == promptIDs[k] { k += 1 }
                shared = k
            }
            guard shared > 0 else { throw file.error(row, "prompt", "the prompt encodes to no token that the responses share") }
            var result: [PreferenceSequence] = []
            var cut = false
            for (index, full) in fulls.enumerated() {
                var prompt = Array(full[..<shared]), completion = Array(full[shared...])
                guard !completion.isEmpty else { throw file.error(row, responses[index].0, "the response adds no token to the prompt") }
                if let limit = options.maxPromptLength, prompt.count > limit { prompt = Array(prompt.suffix(Swift.max(1, limit))); cut = true }
                if let limit = options.maxCompletionLength, completion.count > limit { completion = Array(completion.prefix(Swift.max(1, limit))); cut = true }
                if let limit = options.maxLength, prompt.count + completion.count > limit {
                    cut = true
                    switch options.truncationMode {
                    case .keepStart:
                        guard prompt.count < limit else { dropped += 1; return nil }
                        completion = Array(completion.prefix(limit - prompt.count))
                    case .keepEnd:
                        let joined = prompt + completion
                        let kept = Array(joined.suffix(limit))
                        // The first kept token has nothing before it to predict it from, so it is context only.
                        let promptCount = Swift.max(1, prompt.count - (joined.count - limit))
                        prompt = Array(kept[..<promptCount]); completion = Array(kept[promptCount...])
                    }
                }
                result.append(PreferenceSequence(prompt: prompt, completion: completion))
            }
            if cut { truncated += 1 }
            return result
        }
    }
}
