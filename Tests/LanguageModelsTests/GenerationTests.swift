import Foundation
import Testing
import TestSupport
import Torch
@testable import LanguageModels

/// Greedy decoding without a cache: the whole sequence through the model at every step.
func greedyWithoutCache(_ model: LanguageModel, prompt: [Int], steps: Int) -> [Int] {
    var ids = prompt
    withInferenceMode {
        for _ in 0..<steps {
            let logits = model.decoder.logits(row(ids), positions: Tensor.arange(ids.count).unsqueezed(0))
            ids.append(Int(logits.index([.index(0), .index(ids.count - 1)]).argmax().item(Int64.self)))
        }
    }
    return Array(ids[prompt.count...])
}

@Suite("Generation")
struct GenerationTests {
    @Test("greedy tokens equal transformers', with the KV cache and without", arguments: Fixtures.huggingFaceModels)
    func greedy(directory: URL) throws {
        let fixture = try ModelFixture(directory)
        let model = try fixture.load()
        for (k, item) in fixture.cases.enumerated() {
            let prompt = ints(item["input_ids"]), expected = ints(item["greedy_new_tokens"])
            var parameters = SamplingParameters.greedy(maxNewTokens: expected.count)
            parameters.ignoreStopTokens = true
            let cached = try model.generate(prompts: [prompt], parameters: parameters).sequences[0]
            #expect(cached.tokens == expected, "\(fixture.name) case \(k) with the cache")
            #expect(cached.finishReason == .length)
            #expect(greedyWithoutCache(model, prompt: prompt, steps: expected.count) == expected, "\(fixture.name) case \(k) without the cache")
        }
    }

    @Test("the left-padded batch: last-position logits and batched greedy tokens", arguments: Fixtures.huggingFaceModels)
    func leftPaddedBatch(directory: URL) throws {
        let fixture = try ModelFixture(directory)
        let model = try fixture.load(forBatch: true)
        let ids = intRows(fixture.batch["input_ids"]), mask = intRows(fixture.batch["attention_mask"])
        let prompts = zip(ids, mask).map { row, m in Array(row[m.firstIndex(of: 1)!...]) }
        let batch = TokenBatch(prompts, padding: .left, padID: (fixture.batch["pad_id"] as! NSNumber).intValue)
        #expect(batch.ids.scalars(as: Int64.self).map(Int.init) == ids.flatMap { $0 })
        #expect(batch.positions.scalars(as: Int64.self).map(Int.init) == intRows(fixture.batch["position_ids"]).flatMap { $0 })
        let last = withInferenceMode {
            model.decoder.logits(batch.ids, positions: batch.positions, mask: batch.causalMask)
                .narrow(dim: 1, start: batch.columns - 1, length: 1).squeezed(1)
        }
        let atol = (fixture.batch["atol_logits"] as? NSNumber)?.doubleValue ?? fixture.atol
        expectClose(last.doubles, intRowsDoubles(fixture.batch["last_logits"]), atol: atol, rtol: 0, "\(fixture.name) last_logits")
        let expected = intRows(fixture.batch["greedy_new_tokens"])
        var parameters = SamplingParameters.greedy(maxNewTokens: expected[0].count)
        parameters.ignoreStopTokens = true
        let generated = try model.generate(prompts: prompts, parameters: parameters).sequences.map(\.tokens)
        #expect(generated == expected, "\(fixture.name) batched greedy")
    }

    @Test("sampling is seeded; one prompt sampled G times equals G copies of it; sampler log-probs equal the trainer's")
    func sampling() throws {
        let model = try LanguageModel(directory: Fixtures.huggingFace.appendingPathComponent("tiny-llama"))
        let prompt = [348, 631, 546, 378, 329]
        var parameters = SamplingParameters(maxNewTokens: 10, temperature: 0.8, topK: 50, topP: 0.95, seed: 7)
        parameters.ignoreStopTokens = true
        parameters.samplesPerPrompt = 4
        let grouped = try model.generate(prompts: [prompt], parameters: parameters).sequences
        #expect(try model.generate(prompts: [prompt], parameters: parameters).sequences == grouped, "same seed, same tokens")
        #expect(Set(grouped.map(\.tokens)).count > 1, "samples of one prompt differ")
        parameters.samplesPerPrompt = 1
        let copies = try model.generate(prompts: Array(repeating: prompt, count: 4), parameters: parameters).sequences
        #expect(copies.map(\.tokens) == grouped.map(\.tokens), "the prompt computed once gives what four copies give")
        parameters.seed = 8
        #expect(try model.generate(prompts: Array(repeating: prompt, count: 4), parameters: parameters).sequences.map(\.tokens) != copies.map(\.tokens))
        // The trainer's recomputation (one pass over prompt + completion) of what the sampler recorded.
        let batch = CompletionBatch(prompts: Array(repeating: prompt, count: 4), completions: grouped.map(\.tokens), padID: 2)
        let recomputed = withInferenceMode { model.decoder.completionLogProbabilities(batch, temperature: 0.8).tokens }
        let gap = zip(recomputed.doubles, grouped.flatMap(\.logProbabilities)).map { Swift.abs($0 - $1) }.max()!
        #expect(gap < 1e-5, "sampler/trainer log-prob gap \(gap)")
    }

    @Test("stop tokens end a sequence and are kept; bad parameters are refused by name")
    func stopsAndErrors() throws {
        let model = try LanguageModel(directory: Fixtures.huggingFace.appendingPathComponent("tiny-gpt2"))
        let prompt = [52, 72, 69, 221, 81, 85, 275, 75, 303, 298, 87, 78]
        // Greedy continues with 217, 276, 276, 174, …: make 276 a stop token.
        var parameters = SamplingParameters.greedy(maxNewTokens: 12)
        parameters.stopTokenIDs = [276]
        let sequence = try model.generate(prompts: [prompt], parameters: parameters).sequences[0]
        #expect(sequence.tokens == [217, 276] && sequence.finishReason == .stopToken)
        // A stop string ends the sequence once the decoded completion contains it.
        let tokenizer = model.tokenizer!
        let decode: ([Int]) -> String = { tokenizer.decode($0) }
        let free = try model.generate(prompts: [prompt], parameters: .greedy(maxNewTokens: 12), decode: decode).sequences[0]
        let text = free.text!
        let cut = String(text.unicodeScalars.dropFirst(text.unicodeScalars.count / 2).prefix(2))
        var stopping = SamplingParameters.greedy(maxNewTokens: 12)
        stopping.stopStrings = [cut]
        let stopped = try model.generate(prompts: [prompt], parameters: stopping, decode: decode).sequences[0]
        #expect(stopped.finishReason == .stopString && stopped.text!.contains(cut) && stopped.tokens.count < free.tokens.count,
                "stop \(cut.debugDescription) in \(text.debugDescription): \(stopped)")
        #expect(Array(free.tokens.prefix(stopped.tokens.count)) == stopped.tokens)
        for (bad, phrase) in [(SamplingParameters(maxNewTokens: 0), "max_new_tokens"), (SamplingParameters(temperature: -1), "temperature"),
                              (SamplingParameters(topP: 0), "top_p"), (SamplingParameters(topK: 0), "top_k"),
                              (SamplingParameters(repetitionPenalty: .nan), "repetition_penalty")] {
            let error = #expect(throws: GenerationError.self) { try model.generate(prompts: [prompt], parameters: bad) }
            #expect(error?.description.contains(phrase) == true, "\(String(describing: error))")
        }
        #expect(throws: GenerationError.self) { try model.generate(prompts: [[400]], parameters: .greedy(maxNewTokens: 1)) }
        #expect(throws: GenerationError.self) { try model.generate(prompts: [prompt], parameters: .greedy(maxNewTokens: 200)) }
    }
}

func intRowsDoubles(_ value: Any?) -> [Double] { (value as! [Any]).flatMap { doubles($0) } }

@Suite("Fast paths of generation")
struct GenerationFastPathTests {
    @Test("the decoding kernel computes what the modules compute: same tokens, log-probs within 1e-5, every step counted",
          arguments: Fixtures.huggingFaceModels)
    func decodeKernel(directory: URL) throws {
        let model = try LanguageModel(directory: directory)
        let prompts = [[5, 9, 13, 2, 40, 41, 42], [7, 8], [100, 101, 102, 103]]
        var parameters = SamplingParameters(maxNewTokens: 12, temperature: 0.9, topK: 40, seed: 3)
        parameters.ignoreStopTokens = true
        let fast = try model.generate(prompts: prompts, parameters: parameters)
        model.usesDecodeKernel = false
        let plain = try model.generate(prompts: prompts, parameters: parameters)
        let kernel = model.configuration.architecture != .gpt2
        #expect(fast.statistics.decodingSteps == 11 && fast.statistics.kernelSteps == (kernel ? 11 : 0), "\(fast.statistics) \(DecodeKernel.lastRefusal ?? "")")
        #expect(plain.statistics.kernelSteps == 0)
        #expect(fast.sequences.map(\.tokens) == plain.sequences.map(\.tokens))
        let gap = zip(fast.sequences.flatMap(\.logProbabilities), plain.sequences.flatMap(\.logProbabilities)).map { Swift.abs($0 - $1) }.max()!
        #expect(gap < 1e-5, "log-prob gap \(gap)")
        // The sampling kernel's filters and processed log-probs against the tensor operations', and greedy choice.
        for var other in [SamplingParameters(maxNewTokens: 10, temperature: 1.3, topP: 0.8, minP: 0.02, seed: 9), .greedy(maxNewTokens: 10)] {
            other.ignoreStopTokens = true
            other.recordProcessedLogProbabilities = true
            model.usesDecodeKernel = true
            let a = try model.generate(prompts: prompts, parameters: other).sequences
            model.usesDecodeKernel = false
            let b = try model.generate(prompts: prompts, parameters: other).sequences
            #expect(a.map(\.tokens) == b.map(\.tokens), "\(other)")
            let processedGap = zip(a.flatMap { $0.processedLogProbabilities! }, b.flatMap { $0.processedLogProbabilities! })
                .map { Swift.abs($0 - $1) }.max()!
            #expect(processedGap < 1e-5, "processed log-prob gap \(processedGap)")
        }
    }

    @Test("the skinny-product kernel equals libtorch's linear (1 to 16 rows, odd widths, bias or none, 3-D input)")
    func skinnyLinear() {
        let portable = ProcessInfo.processInfo.environment["PROXIMA_EXPECT_KERNELS"] == "portable"
        #expect(SkinnyLinear.isAvailable == !portable, "the kernel exists exactly in non-portable x86 builds")
        let generator = Torch.Generator(seed: 11)
        for (rows, input, output, bias) in [(1, 64, 176, false), (3, 67, 33, true), (8, 576, 1536, false), (16, 24, 5, true), (5, 1, 1, true)] {
            let x = Tensor.randn([rows, 1, input], generator: generator)
            let w = Tensor.randn([output, input], generator: generator)
            let b = bias ? Tensor.randn([output], generator: generator) : nil
            let before = SkinnyLinear.calls
            let fast = x.linear(weight: w, bias: b)
            // A portable build (CI's second pass) has no kernel: libtorch's linear serves every product.
            #expect(SkinnyLinear.calls > before || !SkinnyLinear.isAvailable, "the kernel ran")
            SkinnyLinear.isEnabled = false
            let plain = x.linear(weight: w, bias: b)
            SkinnyLinear.isEnabled = true
            #expect(fast.shape == [rows, 1, output])
            expectClose(fast, plain.doubles, atol: 1e-4, rtol: 1e-5, "\(rows)×\(input)→\(output)")
        }
        // A product that records gradients takes libtorch's linear (the kernel has no backward).
        let w = Tensor.randn([4, 8], generator: generator).requiringGrad()
        let y = Tensor.randn([2, 8], generator: generator).linear(weight: w)
        #expect(y.requiresGrad)
    }
}
