import Foundation
import Testing
import TestSupport
import Torch
import NeuralNetworks
@testable import LanguageModels

@Suite("LoRA adapters in PEFT's format")
struct LoRATests {
    @Test("peft's adapters load onto their base model: logits within atol; disabled = base; merge and unmerge; save → reload",
          arguments: Fixtures.peftAdapters)
    func peftAdapter(directory: URL) throws {
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("expected.json"))) as! [String: Any]
        let base = Fixtures.huggingFace.appendingPathComponent(expected["base_model"] as! String)
        let model = try LanguageModel(directory: base)
        let plain = try LanguageModel(directory: base)
        let adapted = try model.loadAdapter(directory)
        #expect(!adapted.isEmpty && model.adapters.count == adapted.count)
        #expect(model.decoder.trainableParameters().count == 2 * adapted.count, "only the factors train")
        let atol = expected["atol_logits"] as! Double
        let cases = expected["cases"] as! [[String: Any]]
        #expect(!cases.isEmpty)
        func logits(_ m: LanguageModel, _ ids: [Int]) -> Tensor {
            withInferenceMode { m.decoder.logits(row(ids), positions: Tensor.arange(ids.count).unsqueezed(0)) }
        }
        for (k, item) in cases.enumerated() {
            let ids = ints(item["input_ids"])
            let want = (item["logits"] as! [Any]).flatMap { doubles($0) }
            let got = logits(model, ids)
            expectClose(got.doubles, want, atol: atol, rtol: 0, "\(directory.lastPathComponent) case \(k)")
            // Disabled adapters compute the base model from the same weights.
            for (_, adapter) in model.adapters { adapter.isAdapterEnabled = false }
            #expect(logits(model, ids).equal(logits(plain, ids)), "disabled adapters = base model")
            for (_, adapter) in model.adapters { adapter.isAdapterEnabled = true }
        }
        // Merged into the weights: the same logits up to rounding; unmerged: the base weights again, up to rounding
        // (W + ΔW − ΔW is not W in floating point, in PEFT either), on a model of its own.
        let merging = try LanguageModel(directory: base)
        try merging.loadAdapter(directory)
        for (k, item) in cases.enumerated() {
            let ids = ints(item["input_ids"])
            let unmerged = logits(merging, ids)
            for (_, adapter) in merging.adapters { adapter.merge() }
            #expect(merging.adapters.allSatisfy { $0.1.isMerged })
            expectClose(logits(merging, ids), unmerged.doubles, atol: 1e-5, rtol: 0, "merged, case \(k)")
            for (_, adapter) in merging.adapters { adapter.unmerge() }
            expectClose(logits(merging, ids), unmerged.doubles, atol: 1e-5, rtol: 0, "unmerged, case \(k)")
        }
        // Generation goes through the adapted modules (the decoding kernel refuses adapters) and matches the logits.
        var parameters = SamplingParameters.greedy(maxNewTokens: 4)
        parameters.ignoreStopTokens = true
        let prompt = ints(cases[0]["input_ids"])
        let generated = try model.generate(prompts: [prompt], parameters: parameters)
        #expect(generated.statistics.kernelSteps == 0)
        #expect(generated.sequences[0].tokens == greedyWithoutCache(model, prompt: prompt, steps: 4))
        // Save in PEFT's layout and load again onto a fresh base: identical logits.
        let saved = try temporaryDirectory().appendingPathComponent("adapter")
        try model.saveAdapter(to: saved, configuration: LoRAConfiguration(directory: directory))
        let header = try SafeTensors.header(of: saved.appendingPathComponent("adapter_model.safetensors")).tensors
        #expect(header.keys.allSatisfy { $0.hasPrefix("base_model.model.") && ($0.hasSuffix(".lora_A.weight") || $0.hasSuffix(".lora_B.weight")) })
        let reloaded = try LanguageModel(directory: base)
        try reloaded.loadAdapter(saved)
        #expect(logits(reloaded, prompt).equal(logits(model, prompt)))
    }

    @Test("an adapter trained with lora_dropout computes without dropout on an evaluating model, as PEFT's does in eval mode",
          arguments: Fixtures.peftAdapters)
    func adapterDropoutOffInEvaluation(directory: URL) throws {
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("expected.json"))) as! [String: Any]
        let base = Fixtures.huggingFace.appendingPathComponent(expected["base_model"] as! String)
        // The same adapter, its config claiming lora_dropout 0.5 (what an SFT run with dropout writes).
        let withDropout = try temporaryDirectory()
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("adapter_config.json"))) as! [String: Any]
        config["lora_dropout"] = 0.5
        try JSONSerialization.data(withJSONObject: config).write(to: withDropout.appendingPathComponent("adapter_config.json"))
        try FileManager.default.copyItem(at: directory.appendingPathComponent("adapter_model.safetensors"),
                                         to: withDropout.appendingPathComponent("adapter_model.safetensors"))
        let plain = try LanguageModel(directory: base)
        try plain.loadAdapter(directory)
        let dropping = try LanguageModel(directory: base)
        try dropping.loadAdapter(withDropout)
        #expect(dropping.adapters.allSatisfy { $0.1.dropout == 0.5 && !($0.1 as! Module).isTraining })
        let ids = ints((expected["cases"] as! [[String: Any]])[0]["input_ids"])
        func logits(_ m: LanguageModel) -> Tensor {
            withInferenceMode { m.decoder.logits(row(ids), positions: Tensor.arange(ids.count).unsqueezed(0)) }
        }
        #expect(logits(dropping).equal(logits(plain)), "\(directory.lastPathComponent): no dropout while evaluating")
        // In training mode the adapters drop inputs again, so the logits move.
        dropping.decoder.train()
        for (_, adapter) in dropping.adapters { adapter.dropoutGenerator = Generator(seed: 5) }
        #expect(!logits(dropping).equal(logits(plain)), "\(directory.lastPathComponent): dropout while training")
    }

    @Test("a bad adapter directory is an error naming the file")
    func badAdapter() throws {
        let model = try LanguageModel(directory: Fixtures.huggingFace.appendingPathComponent("tiny-llama"))
        let directory = try temporaryDirectory()
        try Data(#"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["nothing_here"]}"#.utf8)
            .write(to: directory.appendingPathComponent("adapter_config.json"))
        #expect(throws: ModelLoadingError.self) { try model.loadAdapter(directory) }
        try Data(#"{"peft_type": "IA3", "r": 4}"#.utf8).write(to: directory.appendingPathComponent("adapter_config.json"))
        let error = #expect(throws: ModelLoadingError.self) { try model.loadAdapter(directory) }
        #expect(error?.description.contains("adapter_config.json: peft_type 'IA3' is not supported") == true)
    }
}
