import Foundation
import Testing
import TestSupport
import Torch
@testable import Alignment
@testable import LanguageModels

@Suite("Preference data: TRL's JSONL layouts, implicit prompts, rankings, truncation, errors")
struct PreferenceDataTests {
    let model: LanguageModel
    var tokenizer: Tokenizer { model.tokenizer! }
    init() throws { model = try LanguageModel(directory: gpt2Directory) }

    @Test("prompt/chosen/rejected: the prompt's own tokens, each response after it, EOS appended; margin read")
    func paired() throws {
        let url = try writeJSONL(["{\"prompt\": \"Hello\", \"chosen\": \" world\", \"rejected\": \" there\", \"margin\": 0.5}"])
        let data = try PreferenceDataset(contentsOf: url, tokenizer: tokenizer, eosTokenID: 7)
        #expect(data.format == .paired)
        let prompt = tokenizer.encode("Hello")
        let pair = data.pairs[0]
        #expect(pair.chosen.prompt == prompt)
        #expect(pair.chosen.prompt + pair.chosen.completion == tokenizer.encode("Hello world") + [7])
        #expect(pair.rejected.prompt + pair.rejected.completion == tokenizer.encode("Hello there") + [7])
        #expect(pair.margin == 0.5)
        #expect(data.lines == [1])
    }

    @Test("implicit prompt: the shared beginning of chosen and rejected, the response keeping its leading space")
    func implicitPrompt() throws {
        let url = try writeJSONL(["{\"chosen\": \"The sky is blue\", \"rejected\": \"The sky is green\"}"])
        let data = try PreferenceDataset(contentsOf: url, tokenizer: tokenizer, eosTokenID: 7)
        #expect(data.format == .implicitPrompt)
        let pair = data.pairs[0]
        #expect(pair.chosen.prompt + pair.chosen.completion == tokenizer.encode("The sky is blue") + [7])
        #expect(pair.chosen.prompt == tokenizer.encode("The sky is"))
    }

    @Test("ranked lists: responses sorted best first by scores, or by ranks (1 = best)")
    func ranked() throws {
        let url = try writeJSONL([
            "{\"prompt\": \"Q:\", \"responses\": [\" b\", \" a\", \" c\"], \"scores\": [0.5, 2, -1]}",
            "{\"prompt\": \"Q:\", \"responses\": [\" b\", \" a\", \" c\"], \"ranks\": [2, 1, 3]}",
        ])
        let data = try PreferenceDataset(contentsOf: url, tokenizer: tokenizer, eosTokenID: 7)
        #expect(data.format == .ranked)
        for list in data.lists {
            #expect(list.responses.map { $0.completion } == [" a", " b", " c"].map { tokenizer.encode($0, addSpecialTokens: false) + [7] })
            #expect(list.scores == list.scores.sorted(by: >))
        }
        #expect(data.lists[0].scores == [2, 0.5, -1])
    }

    @Test("unpaired rows for KTO: label true/false")
    func unpaired() throws {
        let url = try writeJSONL(["{\"prompt\": \"Hi\", \"completion\": \" yes\", \"label\": true}", "{\"prompt\": \"Hi\", \"completion\": \" no\", \"label\": false}"])
        let data = try PreferenceDataset(contentsOf: url, tokenizer: tokenizer, eosTokenID: 7)
        #expect(data.format == .unpaired)
        #expect(data.unpaired.map(\.desirable) == [true, false])
    }

    @Test("truncation: max_prompt_length keeps the prompt's end, keep_start cuts the response, keep_end the prompt's start, a prompt filling max_length drops the row")
    func truncation() throws {
        let prompt = "one two three four five six seven eight"
        let url = try writeJSONL(["{\"prompt\": \"\(prompt)\", \"chosen\": \" nine ten eleven\", \"rejected\": \" twelve\"}",
                                  "{\"prompt\": \"a\", \"chosen\": \" b\", \"rejected\": \" c\"}"])
        let promptIDs = tokenizer.encode(prompt)
        let chosenIDs = tokenizer.encode(prompt + " nine ten eleven") + [7]
        var options = PreferenceDataOptions()
        options.maxPromptLength = 3
        var data = try PreferenceDataset(contentsOf: url, tokenizer: tokenizer, eosTokenID: 7, options: options)
        #expect(data.pairs[0].chosen.prompt == Array(promptIDs.suffix(3)))
        #expect(data.truncatedCount == 1)

        options = PreferenceDataOptions()
        options.maxLength = promptIDs.count + 2
        data = try PreferenceDataset(contentsOf: url, tokenizer: tokenizer, eosTokenID: 7, options: options)
        #expect(data.pairs[0].chosen.prompt == promptIDs)
        #expect(data.pairs[0].chosen.completion == Array(chosenIDs[promptIDs.count..<(promptIDs.count + 2)]))

        options.truncationMode = .keepEnd
        data = try PreferenceDataset(contentsOf: url, tokenizer: tokenizer, eosTokenID: 7, options: options)
        let kept = data.pairs[0].chosen
        #expect(kept.prompt + kept.completion == Array(chosenIDs.suffix(promptIDs.count + 2)))
        #expect(kept.completion == Array(chosenIDs[promptIDs.count...]))

        options = PreferenceDataOptions()
        options.maxLength = promptIDs.count
        data = try PreferenceDataset(contentsOf: url, tokenizer: tokenizer, eosTokenID: 7, options: options)
        #expect(data.count == 1)
        #expect(data.droppedCount == 1)
        #expect(data.lines == [2])
    }

    @Test("bad rows fail before training, naming file, line and field")
    func errors() throws {
        func message(_ lines: [String]) throws -> String {
            let url = try writeJSONL(lines)
            do { _ = try PreferenceDataset(contentsOf: url, tokenizer: tokenizer, eosTokenID: 7); return "no error" } catch let error as DataError {
                return error.message.replacingOccurrences(of: url.path, with: "FILE")
            }
        }
        let good = "{\"prompt\": \"a\", \"chosen\": \" b\", \"rejected\": \" c\"}"
        #expect(try message([good, "{\"prompt\": \"a\", \"chosen\": \" b\"}"]) == "FILE:2: field 'rejected': missing")
        #expect(try message([good, "{\"prompt\": \"a\", \"chosen\": 3, \"rejected\": \" c\"}"]).hasPrefix("FILE:2: field 'chosen': expected a string"))
        #expect(try message([good, "{\"prompt\": \"a\", \"chosen\": \" b\", \"rejected\": \" c\", \"margin\": \"big\"}"]).hasPrefix("FILE:2: field 'margin': expected a number"))
        #expect(try message(["{\"prompt\": \"a\", \"responses\": [\" b\", \" c\"], \"scores\": [1]}"]).hasPrefix("FILE:1: field 'scores': expected a list of 2 numbers"))
        #expect(try message(["{\"prompt\": \"a\", \"responses\": [\" b\"], \"scores\": [1]}"]).hasPrefix("FILE:1: field 'responses': expected a list of at least 2"))
        #expect(try message(["{\"prompt\": \"a\", \"completion\": \" b\", \"label\": 1}"]).hasPrefix("FILE:1: field 'label': expected true"))
        #expect(try message(["{\"chosen\": \"x\", \"rejected\": \"y\"}"]).hasPrefix("FILE:1: field 'chosen': chosen and rejected share no beginning"))
        #expect(try message(["{\"text\": \"x\"}"]).hasPrefix("FILE:1: no preference fields"))
        #expect(try message(["{\"prompt\": [{\"role\": \"user\", \"content\": \"hi\"}], \"chosen\": [], \"rejected\": []}"]).contains("chat template"))
    }

    @Test("conversational pairs are rendered with the chat template: prompt with the generation prompt, response after it")
    func conversational() throws {
        let llama = try LanguageModel(directory: Fixtures.huggingFace.appendingPathComponent("tiny-llama"))
        let renderer = try #require(try ChatTemplateRenderer(model: llama))
        let url = try writeJSONL(["{\"prompt\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"chosen\": [{\"role\": \"assistant\", \"content\": \"Hello!\"}], \"rejected\": [{\"role\": \"assistant\", \"content\": \"Go away\"}]}"])
        let data = try PreferenceDataset(contentsOf: url, tokenizer: llama.tokenizer!, eosTokenID: llama.eosTokenIDs.first, renderer: renderer)
        #expect(data.conversational)
        let user: [JSONValue] = [try JSONValue.parse("{\"role\": \"user\", \"content\": \"Hi\"}")]
        let promptText = try renderer.render(user, addGenerationPrompt: true, findingAssistantTurns: false).text
        let full = try renderer.render(user + [try JSONValue.parse("{\"role\": \"assistant\", \"content\": \"Hello!\"}")], addGenerationPrompt: false, findingAssistantTurns: false).text
        let pair = data.pairs[0]
        #expect(pair.chosen.prompt + pair.chosen.completion == llama.tokenizer!.encode(full, addSpecialTokens: false))
        #expect(llama.tokenizer!.encode(promptText, addSpecialTokens: false).starts(with: pair.chosen.prompt))
        #expect(!pair.chosen.completion.isEmpty)
    }
}
