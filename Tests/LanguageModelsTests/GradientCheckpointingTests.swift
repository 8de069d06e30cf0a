import Foundation
import Testing
import TestSupport
import Torch
@testable import LanguageModels

@Suite("Gradient checkpointing: recomputed layers give the plain pass's values and gradients")
struct GradientCheckpointingTests {
    /// Completion log-probs of a padded two-row batch, weighted and summed, back-propagated with `backward()`: the
    /// values, and the gradient of every trainable parameter by name.
    static func pass(_ model: LanguageModel) -> (values: [Double], gradients: [String: [Double]]) {
        let batch = CompletionBatch(prompts: [[5, 17, 99], [42]], completions: [[7, 8, 9, 10], [11, 12]], padID: 2)
        let weights = Tensor([[0.3, -1.2, 0.5, 2.0], [1.5, 0.7, 0, 0]])
        let tokens = model.decoder.completionLogProbabilities(batch, chunkRows: 2).tokens
        (tokens * weights).sum().backward()
        var gradients: [String: [Double]] = [:]
        for (name, parameter) in model.decoder.namedParameters() where parameter.requiresGrad {
            gradients[name] = parameter.grad?.doubles ?? []
        }
        return (tokens.doubles, gradients)
    }

    static func compare(_ plain: (values: [Double], gradients: [String: [Double]]),
                        _ checkpointed: (values: [Double], gradients: [String: [Double]]), _ label: String) {
        expectClose(checkpointed.values, plain.values, atol: 1e-12, rtol: 0, "\(label): values")
        #expect(!plain.gradients.isEmpty && plain.gradients.keys.sorted() == checkpointed.gradients.keys.sorted(), "\(label): parameters")
        for (name, expected) in plain.gradients {
            #expect(!expected.isEmpty && expected.contains { $0 != 0 }, "\(label): \(name) has a gradient")
            expectClose(checkpointed.gradients[name] ?? [], expected, atol: 1e-11, rtol: 1e-9, "\(label): gradient of \(name)")
        }
    }

    @Test("every weight training (float64): checkpointed = plain", arguments: Fixtures.huggingFaceModels)
    func fullFineTuning(directory: URL) throws {
        let plain = try LanguageModel(directory: directory, dtype: .float64)
        let checkpointed = try LanguageModel(directory: directory, dtype: .float64)
        for model in [plain, checkpointed] { model.decoder.unfreeze() }
        checkpointed.decoder.gradientCheckpointing = true
        Self.compare(Self.pass(plain), Self.pass(checkpointed), directory.lastPathComponent)
    }

    @Test("LoRA with dropout (float64): the recomputation replays the dropout masks; frozen embeddings still reach the layers",
          arguments: Fixtures.huggingFaceModels)
    func loRAWithDropout(directory: URL) throws {
        var results: [(values: [Double], gradients: [String: [Double]])] = []
        for checkpointing in [false, true] {
            let model = try LanguageModel(directory: directory, dtype: .float64)
            let architecture = model.configuration.architecture
            var lora = LoRAConfiguration(rank: 4, alpha: 8, targets: .names(architecture == .gpt2 ? ["c_attn", "c_proj", "c_fc"] : ["q_proj", "v_proj", "down_proj"]))
            lora.dropout = 0.3
            try model.addAdapters(lora)
            let factors = Generator(seed: 11), masks = Generator(seed: 5)
            for (_, adapter) in model.adapters.sorted(by: { $0.0 < $1.0 }) {
                // Both factors from a generator of the test's own (PEFT starts B at zero, and A comes from the global generator).
                withNoGrad {
                    adapter.loraA.weight.normal_(std: 0.2, generator: factors)
                    adapter.loraB.weight.normal_(std: 0.05, generator: factors)
                }
                adapter.loraA.weight.requiresGrad = true
                adapter.loraB.weight.requiresGrad = true
                adapter.dropoutGenerator = masks
            }
            model.decoder.gradientCheckpointing = checkpointing
            results.append(Self.pass(model))
        }
        Self.compare(results[0], results[1], directory.lastPathComponent)
    }

    @Test("the layer's output comes from the checkpoint node only while gradients are recorded")
    func observable() throws {
        let model = try LanguageModel(directory: Fixtures.huggingFace.appendingPathComponent("tiny-llama"), dtype: .float64)
        model.decoder.unfreeze()
        let decoder = model.decoder as! LlamaForCausalLM
        let layer = decoder.model.layers[0]
        let h = Tensor.randn([1, 3, model.configuration.hiddenSize], dtype: .float64, generator: Generator(seed: 1))
        let tables = layer.attention.rotary.cosSin(positionIds: Tensor.arange(3).unsqueezed(0), dtype: .float64)
        let body: (Tensor) -> Tensor = { layer.forward($0, rotaryTables: tables, mask: nil, cache: nil) }
        decoder.gradientCheckpointing = true
        #expect(decoder.runLayer(layer, h, cache: nil, body).gradFunctionName == "CheckpointedDecoderLayerBackward")
        #expect(withNoGrad { decoder.runLayer(layer, h, cache: nil, body).gradFunctionName } == nil)
        // The last layer is never recomputed (back-propagation reaches it first).
        #expect(decoder.runLayer(layer, h, cache: nil, isLast: true, body).gradFunctionName != "CheckpointedDecoderLayerBackward")
        // Without active dropout nothing is replayed, and the global generator is left alone (other code may be using it).
        let randomness = dropoutGenerators(in: layer)
        #expect(randomness.generators.isEmpty && !randomness.usesGlobal)
        decoder.gradientCheckpointing = false
        #expect(decoder.runLayer(layer, h, cache: nil, body).gradFunctionName != "CheckpointedDecoderLayerBackward")
    }
}
