import ArgumentParser
import Foundation
import LanguageModels
import Torch

/// `proxima generate`: continue prompts with a Hugging Face model directory. One `--prompt` streams its completion
/// to the terminal; `--prompts FILE.jsonl` writes one JSON object per prompt. Sampling defaults come from the
/// model's `generation_config.json`; greedy unless it samples or `--temperature` is above 0.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text with a Hugging Face model directory (GPT-2, Llama, Qwen2, Qwen3).")

    @Option(help: "A Hugging Face model directory (config.json, model.safetensors, tokenizer.json).") var model: String
    @Option(help: "The prompt text.") var prompt: String?
    @Option(help: "A JSONL file of prompts: each line a string or an object with a \"prompt\" string.") var prompts: String?
    @Option(help: "A PEFT LoRA adapter directory to apply to the model (adapter_config.json, adapter_model.safetensors).") var adapter: String?
    @Flag(help: "Render the prompt with the model's chat template.") var chat = false
    @Option(name: .customLong("max-new-tokens"), help: "New tokens per prompt at most (default: generation_config.json's, else 64).")
    var maxNewTokens: Int?
    @Option(help: "Sampling temperature; 0 is greedy (default: generation_config.json's when it samples, else 0).")
    var temperature: Double?
    @Option(name: .customLong("top-k"), help: "Sample among the k most likely tokens.") var topK: Int?
    @Option(name: .customLong("top-p"), help: "Nucleus sampling: the most likely tokens covering probability p.") var topP: Double?
    @Option(name: .customLong("min-p"), help: "Drop tokens below min-p × the most likely token's probability.") var minP: Double?
    @Option(name: .customLong("repetition-penalty"), help: "Penalise tokens already in the sequence (1 = off).") var repetitionPenalty: Double?
    @Option(help: "A text that ends the completion (repeatable).") var stop: [String] = []
    @Option(help: "Seed of the sampler.") var seed: UInt64 = 0
    @Option(name: .customLong("batch-size"), help: "Prompts generated together.") var batchSize = 8
    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        guard (prompt == nil) != (prompts == nil) else { throw ValidationError("give one of --prompt TEXT or --prompts FILE.jsonl") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        if let maxNewTokens, maxNewTokens < 1 { throw ValidationError("--max-new-tokens must be at least 1, got \(maxNewTokens)") }
    }

    func run() throws {
        threads.apply()
        let lm = try LanguageModel(directory: URL(fileURLWithPath: model))
        if let adapter { try lm.loadAdapter(URL(fileURLWithPath: adapter)) }
        guard let tokenizer = lm.tokenizer else {
            throw ValidationError("\(model) has no tokenizer.json: generate needs one to read prompts and write text")
        }
        let parameters = try samplingParameters(defaults: lm.generationDefaults)
        let texts = try prompt.map { [$0] } ?? Self.readPrompts(prompts!)
        let decode: ([Int]) -> String = { tokenizer.decode($0, skipSpecialTokens: true) }
        // With --chat each prompt is one user message rendered by the model's template, with the assistant's turn
        // opened (add_generation_prompt), and tokenised with special tokens matched and none added.
        if chat, try lm.chatTemplate() == nil {
            throw ValidationError("--chat: \(model) has no chat template (chat_template.jinja or tokenizer_config.json's chat_template)")
        }
        let encode: (String) throws -> [Int] = { text in
            guard chat else { return tokenizer.encode(text) }
            let message = JSONValue.object([JSONMember("role", .string("user")), JSONMember("content", .string(text))])
            return try lm.applyChatTemplate([message], addGenerationPrompt: true).ids
        }
        if texts.count == 1 && prompt != nil {
            // Stream: print what the decoded text gained with each token (a character may take several tokens).
            var printed = ""
            var tokens: [Int] = []
            let (sequences, _) = try lm.generate(prompts: [encode(texts[0])], parameters: parameters, decode: decode) { _, token in
                tokens.append(token)
                let text = decode(tokens)
                if text.hasPrefix(printed) {
                    FileHandle.standardOutput.write(Data(text.dropFirst(printed.count).utf8))
                    printed = text
                }
            }
            let final = sequences[0].text ?? ""
            if final.hasPrefix(printed) { FileHandle.standardOutput.write(Data(final.dropFirst(printed.count).utf8)) }
            FileHandle.standardOutput.write(Data("\n".utf8))
            FileHandle.standardError.write(Data("[\(sequences[0].tokens.count) tokens, finish reason: \(sequences[0].finishReason.rawValue)]\n".utf8))
            return
        }
        for start in stride(from: 0, to: texts.count, by: batchSize) {
            let chunk = Array(texts[start..<Swift.min(texts.count, start + batchSize)])
            let (sequences, _) = try lm.generate(prompts: chunk.map(encode), parameters: parameters, decode: decode)
            for (text, sequence) in zip(chunk, sequences) {
                let object: [String: Any] = ["prompt": text, "completion": sequence.text ?? "", "tokens": sequence.tokens.count,
                                             "token_ids": sequence.tokens, "finish_reason": sequence.finishReason.rawValue]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                print(String(decoding: data, as: UTF8.self))
            }
        }
    }

    /// The flags over `generation_config.json`'s defaults.
    func samplingParameters(defaults: GenerationDefaults) throws -> SamplingParameters {
        let samples = defaults.doSample ?? false
        var parameters = SamplingParameters(
            maxNewTokens: maxNewTokens ?? defaults.maxNewTokens ?? 64,
            temperature: temperature ?? (samples ? defaults.temperature ?? 1 : 0),
            topK: topK ?? (samples ? defaults.topK : nil), topP: topP ?? (samples ? defaults.topP : nil),
            minP: minP ?? (samples ? defaults.minP : nil), repetitionPenalty: repetitionPenalty ?? defaults.repetitionPenalty,
            stopStrings: stop, seed: seed)
        // transformers reads top_k = 0 as "no top-k filter".
        if parameters.topK == 0 && topK == nil { parameters.topK = nil }
        do { try parameters.validate() } catch let error as GenerationError {
            throw ValidationError("--\(error.description.replacingOccurrences(of: "_", with: "-"))")
        }
        return parameters
    }

    /// Prompts of a JSONL file: a JSON string per line, or an object with a "prompt" string; blank lines skipped.
    static func readPrompts(_ path: String) throws -> [String] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ValidationError("\(path): \(FileManager.default.fileExists(atPath: path) ? "cannot be read" : "no such file")")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw ValidationError("\(path): not UTF-8 text") }
        var result: [String] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            let value = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8), options: [.fragmentsAllowed])
            if let string = value as? String { result.append(string); continue }
            guard let object = value as? [String: Any] else {
                throw ValidationError("\(path):\(index + 1): expected a JSON string or an object with a \"prompt\" string")
            }
            guard let prompt = object["prompt"] as? String else {
                throw ValidationError("\(path):\(index + 1): the object has no \"prompt\" string")
            }
            result.append(prompt)
        }
        guard !result.isEmpty else { throw ValidationError("\(path): no prompts") }
        return result
    }
}

/// `proxima tokenize`: the ids and tokens a model's tokenizer gives a text.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the token ids and tokens of a text under a model's tokenizer.")

    @Option(help: "A Hugging Face model directory (or any directory with tokenizer.json).") var model: String
    @Argument(help: "The text.") var text: String
    @Flag(name: .customLong("no-special-tokens"), help: "Do not add the special tokens the post-processor would add.")
    var noSpecialTokens = false

    func run() throws {
        let tokenizer = try Tokenizer(directory: URL(fileURLWithPath: model))
        let encoding = tokenizer.encodeWithTokens(text, addSpecialTokens: !noSpecialTokens)
        print("ids: \(encoding.ids)")
        let tokens = try JSONSerialization.data(withJSONObject: encoding.tokens, options: [.withoutEscapingSlashes])
        print("tokens: \(String(decoding: tokens, as: UTF8.self))")
        print("decoded: \(tokenizer.decode(encoding.ids))")
    }
}
