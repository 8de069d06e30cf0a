import Foundation
import LanguageModels
import Torch

/// One training sequence for supervised fine-tuning: its token ids and which tokens the loss scores.
public struct SFTExample: Equatable, Sendable {
    public var ids: [Int]
    /// `lossMask[i]`: token i is a target (predicted from the tokens before it). Token 0 is never scored.
    public var lossMask: [Bool]

    public init(ids: [Int], lossMask: [Bool]) {
        precondition(ids.count == lossMask.count, "one mask entry per token")
        self.ids = ids
        self.lossMask = lossMask
    }

    /// The number of scored tokens.
    public var targetCount: Int { lossMask.dropFirst().filter { $0 }.count }
}

/// The JSONL layouts TRL's SFTTrainer reads.
public enum SFTDataFormat: String, Sendable {
    /// `{"text": …}`: language modelling on the whole text.
    case text
    /// `{"prompt": …, "completion": …}`: the loss on completion tokens only by default (TRL's `completion_only_loss`).
    case promptCompletion = "prompt/completion"
    /// `{"messages": [{"role": …, "content": …}, …]}`: rendered with the model's chat template.
    case messages
}

/// Renders conversations for the `messages` format: the text of a conversation, and the byte ranges of the
/// assistant's turns (for assistant-only loss).
public protocol ConversationRenderer {
    /// The rendered conversation and, when `findingAssistantTurns`, the UTF-8 byte ranges of the assistant's turns
    /// (what assistant-only loss scores).
    func render(_ messages: [JSONValue], addGenerationPrompt: Bool, findingAssistantTurns: Bool) throws -> (text: String, assistantRanges: [Range<Int>])
}

/// How SFT data becomes token sequences (TRL's `SFTConfig` names in the comments).
public struct SFTDataOptions: Sendable {
    /// `max_length`: sequences are cut to their first `maxLength` tokens (the bin size when packing).
    public var maxLength: Int = 1024
    /// `completion_only_loss`: for prompt/completion data, score only the completion (nil: TRL's default, true).
    public var completionOnlyLoss: Bool? = nil
    /// `assistant_only_loss`: for conversations, score only the assistant's turns.
    public var assistantOnlyLoss = false
    public init() {}
}

/// SFT data read from a JSONL file and tokenised, every line checked before training starts.
public struct SFTDataset: Sendable {
    public let format: SFTDataFormat
    public let examples: [SFTExample]
    /// Rows cut to `maxLength`.
    public let truncatedCount: Int

    /// Reads and tokenises `url`.
    ///
    /// Text gets the tokenizer's special tokens (a BOS where the tokenizer adds one) and an EOS at the end;
    /// a prompt/completion row is tokenised as one text (prompt + completion) with the prompt's own token count
    /// marking where the completion starts, then an EOS; a conversation is rendered by `renderer` and tokenised
    /// with special tokens matched and none added. Throws `DataError` naming the file, line and field for a row
    /// that is missing a field, has the wrong type, or does not match the file's format (that of its first row).
    public init(contentsOf url: URL, tokenizer: Tokenizer, eosTokenID: Int?, options: SFTDataOptions = SFTDataOptions(),
                renderer: ConversationRenderer? = nil) throws {
        let file = try JSONLines(contentsOf: url)
        let first = file.rows[0]
        let format: SFTDataFormat
        if first["messages"] != nil { format = .messages }
        else if first["prompt"] != nil || first["completion"] != nil { format = .promptCompletion }
        else if first["text"] != nil { format = .text }
        else {
            let keys = first.value.objectValue!.map(\.key).joined(separator: ", ")
            throw file.error(first, nil, "no SFT fields: expected \"text\", \"prompt\" and \"completion\", or \"messages\" (found \(keys.isEmpty ? "none" : keys))")
        }
        if format == .messages && renderer == nil {
            throw file.error(first, "messages", "conversations need the model's chat template, and the model has none (chat_template.jinja or tokenizer_config.json's chat_template)")
        }
        let completionOnly = options.completionOnlyLoss ?? true
        let eos = eosTokenID.map { [$0] } ?? []
        var examples: [SFTExample] = []
        var truncated = 0
        examples.reserveCapacity(file.rows.count)
        for row in file.rows {
            var example: SFTExample
            switch format {
            case .text:
                let text = try file.string(row, "text")
                let ids = tokenizer.encode(text, addSpecialTokens: true) + eos
                example = SFTExample(ids: ids, lossMask: [Bool](repeating: true, count: ids.count))
            case .promptCompletion:
                let prompt = try file.string(row, "prompt"), completion = try file.string(row, "completion")
                let promptCount = tokenizer.encode(prompt, addSpecialTokens: true).count
                let ids = tokenizer.encode(prompt + completion, addSpecialTokens: true) + eos
                let mask = ids.indices.map { !completionOnly || $0 >= promptCount }
                example = SFTExample(ids: ids, lossMask: mask)
            case .messages:
                guard let value = row["messages"] else { throw file.error(row, "messages", "missing") }
                guard let messages = value.arrayValue, !messages.isEmpty else {
                    throw file.error(row, "messages", "expected a non-empty list of {\"role\", \"content\"} objects, found \(value.kindName)")
                }
                for (k, message) in messages.enumerated() {
                    guard message.objectValue != nil, message["role"]?.stringValue != nil else {
                        throw file.error(row, "messages[\(k)]", "expected an object with a string \"role\"")
                    }
                }
                let rendered: (text: String, assistantRanges: [Range<Int>])
                do { rendered = try renderer!.render(messages, addGenerationPrompt: false, findingAssistantTurns: options.assistantOnlyLoss) } catch {
                    throw file.error(row, "messages", "the chat template failed: \(error)")
                }
                example = try Self.conversationExample(rendered, tokenizer: tokenizer, assistantOnly: options.assistantOnlyLoss,
                                                       where: { file.error(row, "messages", $0) })
            }
            if example.ids.count > options.maxLength {
                truncated += 1
                example = SFTExample(ids: Array(example.ids.prefix(options.maxLength)), lossMask: Array(example.lossMask.prefix(options.maxLength)))
            }
            examples.append(example)
        }
        self.format = format
        self.examples = examples
        truncatedCount = truncated
    }

    /// Tokenises a rendered conversation piece by piece at the assistant ranges' edges, so that each scored range
    /// is exactly a run of whole tokens (what the model generates after its prompt).
    static func conversationExample(_ rendered: (text: String, assistantRanges: [Range<Int>]), tokenizer: Tokenizer,
                                    assistantOnly: Bool, where error: (String) -> DataError) throws -> SFTExample {
        let bytes = Array(rendered.text.utf8)
        guard assistantOnly else {
            let ids = tokenizer.encode(rendered.text, addSpecialTokens: false)
            return SFTExample(ids: ids, lossMask: [Bool](repeating: true, count: ids.count))
        }
        guard !rendered.assistantRanges.isEmpty else { throw error("assistant-only loss, but the conversation has no assistant turn") }
        var ids: [Int] = [], mask: [Bool] = []
        var cursor = 0
        func piece(_ range: Range<Int>, scored: Bool) {
            guard !range.isEmpty else { return }
            let text = String(decoding: bytes[range], as: UTF8.self)
            let pieceIDs = tokenizer.encode(text, addSpecialTokens: false)
            ids += pieceIDs
            mask += [Bool](repeating: scored, count: pieceIDs.count)
        }
        for range in rendered.assistantRanges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            guard range.lowerBound >= cursor, range.upperBound <= bytes.count else { throw error("overlapping assistant ranges from the chat template") }
            piece(cursor..<range.lowerBound, scored: false)
            piece(range, scored: true)
            cursor = range.upperBound
        }
        piece(cursor..<bytes.count, scored: false)
        return SFTExample(ids: ids, lossMask: mask)
    }

    /// An in-memory data set (tests, built-in tasks).
    public init(examples: [SFTExample], format: SFTDataFormat = .text) {
        self.format = format
        self.examples = examples
        truncatedCount = 0
    }
}

/// Training rows: each is one example, or several packed together.
public struct SFTRow: Equatable, Sendable {
    /// Indices into the data set's examples, in the order they sit in the row.
    public var examples: [Int]
}

/// Packs examples into rows of at most `capacity` tokens by first-fit decreasing: the longest examples first,
/// each into the first row with room. Deterministic; every example lands in exactly one row. Examples are never
/// split (longer ones were truncated to `capacity` when read).
public func packExamples(_ lengths: [Int], capacity: Int) -> [SFTRow] {
    let order = lengths.indices.sorted { lengths[$0] != lengths[$1] ? lengths[$0] > lengths[$1] : $0 < $1 }
    var rows: [SFTRow] = [], room: [Int] = []
    for index in order {
        let length = Swift.min(lengths[index], capacity)
        if let slot = room.firstIndex(where: { $0 >= length }) {
            rows[slot].examples.append(index)
            room[slot] -= length
        } else {
            rows.append(SFTRow(examples: [index]))
            room.append(capacity - length)
        }
    }
    return rows
}

/// The tensors of one forward pass over some rows: ids and positions [rows, columns], an attention mask when rows
/// hold several sequences (block-diagonal causal, no attention across sequence boundaries), and the scored positions.
public struct SFTBatch {
    public let ids: Tensor
    public let positions: Tensor
    /// nil: plain causal attention is exact (one sequence per row, right-padded).
    public let mask: Tensor?
    /// Flat positions (row × columns + column) whose hidden state predicts `targets`.
    public let sources: [Int64]
    public let targets: [Int64]
    /// Real (non-pad) tokens in the batch.
    public let tokenCount: Int

    public init(rows: [SFTRow], examples: [SFTExample], padID: Int) {
        let width = Swift.max(1, rows.map { $0.examples.reduce(0) { $0 + examples[$1].ids.count } }.max() ?? 1)
        var ids = [Int64](repeating: Int64(padID), count: rows.count * width)
        var positions = [Int64](repeating: 0, count: rows.count * width)
        var sources: [Int64] = [], targets: [Int64] = []
        let packed = rows.contains { $0.examples.count > 1 }
        // Each token's sequence within its row; each padding column a sequence of its own (so it attends to
        // itself only and no softmax row is empty).
        var segments = (0..<(rows.count * width)).map { -Int64($0 % width) - 1 }
        var tokens = 0
        for (r, row) in rows.enumerated() {
            var column = 0
            for (segment, index) in row.examples.enumerated() {
                let example = examples[index]
                for (i, id) in example.ids.enumerated() {
                    let flat = r * width + column
                    ids[flat] = Int64(id)
                    positions[flat] = Int64(i)
                    if i > 0 && example.lossMask[i] {
                        sources.append(Int64(flat - 1))
                        targets.append(Int64(id))
                    }
                    segments[flat] = Int64(segment)
                    column += 1
                }
                tokens += example.ids.count
            }
        }
        self.ids = Tensor(ids, shape: [rows.count, width])
        self.positions = Tensor(positions, shape: [rows.count, width])
        if packed {
            // Query q sees key k when both belong to the same sequence and k ≤ q.
            let segment = Tensor(segments, shape: [rows.count, width])
            let same = segment.unsqueezed(2) .== segment.unsqueezed(1)
            let causal = Tensor.ones([width, width], dtype: .bool).tril()
            mask = same.logicalAnd(causal).unsqueezed(1)
        } else {
            mask = nil
        }
        self.sources = sources
        self.targets = targets
        tokenCount = tokens
    }
}
