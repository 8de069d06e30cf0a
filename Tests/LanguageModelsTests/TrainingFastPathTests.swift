import Foundation
import Testing
import TestSupport
import Torch
import NeuralNetworks
@testable import LanguageModels

/// The fast paths of a LoRA (or frozen-embedding) training step, each against the plain computation it replaces:
/// the fused LoRA projection, the output layer's precomputed gradient, and the checkpoint recomputation that skips a
/// layer's last projection. The switches are process-wide, so these tests call the paths explicitly instead of
/// flipping them (other suites run at the same time).
@Suite("Training fast paths: fused LoRA projection, precomputed output gradient, recomputation without the last projection")
struct TrainingFastPathTests {
    /// ⟨g, f⟩'s gradients with respect to `inputs`, by autograd (unused inputs: zeros).
    static func gradientsOfPairing(_ output: Tensor, _ g: Tensor, _ inputs: [Tensor]) -> [[Double]] {
        gradients(of: [(output * g).sum()], withRespectTo: inputs, allowUnused: true).enumerated().map { i, t in
            t?.doubles ?? [Double](repeating: 0, count: inputs[i].shape.reduce(1, *))
        }
    }

    @Test("Tensor.loraLinear: gradients by finite differences for input, weight, bias and both factors (float64)")
    func fusedLoRAFiniteDifferences() {
        gradientCheck(GradCase(name: "lora linear 3-D", shapes: [[2, 3, 4], [5, 4], [5], [2, 4], [5, 2]]) {
            $0[0].loraLinear(weight: $0[1], bias: $0[2], a: $0[3], b: $0[4], scale: 1.5)
        })
        gradientCheck(GradCase(name: "lora linear 2-D, no bias", shapes: [[3, 4], [5, 4], [2, 4], [5, 2]]) {
            $0[0].loraLinear(weight: $0[1], a: $0[2], b: $0[3], scale: 0.5)
        })
    }

    @Test("LoRALinear and LoRAConv1D fused = base plus the update as separate products: values and gradients; dropout takes the plain path")
    func fusedLoRAEqualsPlain() {
        let generator = Generator(seed: 7)
        let base = Linear(inputSize: 6, outputSize: 5, bias: true, dtype: .float64, generator: generator)
        let adapter = LoRALinear(wrapping: base, rank: 3, alpha: 6, generator: generator)
        withNoGrad { adapter.loraB.weight.normal_(std: 0.3, generator: generator) }
        let x = Tensor.randn([2, 4, 6], dtype: .float64, generator: generator).requiringGrad()
        let g = Tensor.randn([2, 4, 5], dtype: .float64, generator: generator)
        let inputs = [x, adapter.loraA.weight, adapter.loraB.weight]
        #expect(LoRAFusedUpdate.isEnabled)
        let before = LoRAFusedUpdate.calls
        let fused = adapter(x)
        #expect(LoRAFusedUpdate.calls > before, "the fused projection ran")
        let plain = x.linear(weight: base.weight, bias: base.bias) + adapter.update(x)
        expectClose(fused, plain.doubles, atol: 1e-12, rtol: 0, "values")
        for (got, want) in zip(Self.gradientsOfPairing(fused, g, inputs), Self.gradientsOfPairing(plain, g, inputs)) {
            #expect(want.contains { $0 != 0 })
            expectClose(got, want, atol: 1e-12, rtol: 1e-10, "gradients")
        }
        // Dropout while training draws a mask: the separate products run (the fused call does not draw).
        adapter.dropout = 0.5
        adapter.dropoutGenerator = Generator(seed: 1)
        let counted = LoRAFusedUpdate.calls
        _ = adapter(x)
        #expect(LoRAFusedUpdate.calls == counted, "dropout is applied on the plain path")

        // GPT-2's Conv1D: the base weight stored [in, out].
        let conv = Conv1D(weight: Tensor.randn([6, 5], dtype: .float64, generator: generator), bias: Tensor.randn([5], dtype: .float64, generator: generator))
        let convAdapter = LoRAConv1D(wrapping: conv, rank: 3, alpha: 6, generator: generator)
        withNoGrad { convAdapter.loraB.weight.normal_(std: 0.3, generator: generator) }
        let convInputs = [x, convAdapter.loraA.weight, convAdapter.loraB.weight]
        let convBefore = LoRAFusedUpdate.calls
        let convFused = convAdapter(x)
        #expect(LoRAFusedUpdate.calls > convBefore, "the fused projection ran for Conv1D")
        let convPlain = x.matmul(conv.weight) + conv.bias + convAdapter.update(x)
        expectClose(convFused, convPlain.doubles, atol: 1e-12, rtol: 0, "Conv1D values")
        for (got, want) in zip(Self.gradientsOfPairing(convFused, g, convInputs), Self.gradientsOfPairing(convPlain, g, convInputs)) {
            #expect(want.contains { $0 != 0 })
            expectClose(got, want, atol: 1e-12, rtol: 1e-10, "Conv1D gradients")
        }
    }

    @Test("Linear, Conv1D and their LoRA wrappers' gradientSurrogate: the gradients of ⟨g, layer(x)⟩ without the product (float64)")
    func projectionSurrogates() {
        let generator = Generator(seed: 9)
        let x = Tensor.randn([2, 5, 4], dtype: .float64, generator: generator).requiringGrad()
        let g = Tensor.randn([2, 5, 3], dtype: .float64, generator: generator)
        /// The surrogate's gradients with respect to `tensors` against those of ⟨g, forward⟩.
        func expectSurrogate(_ surrogate: Tensor, _ forward: Tensor, _ tensors: [Tensor], _ label: String) {
            let got = Self.gradientsOfPairing(surrogate, Tensor.ones([], dtype: .float64), tensors)
            for (gradient, expected) in zip(got, Self.gradientsOfPairing(forward, g, tensors)) {
                #expect(expected.contains { $0 != 0 }, "\(label): a gradient that is not zero")
                expectClose(gradient, expected, atol: 1e-12, rtol: 1e-10, label)
            }
        }
        let linear = Linear(inputSize: 4, outputSize: 3, bias: true, dtype: .float64, generator: generator)
        expectSurrogate(linear.gradientSurrogate(x, outputGradient: g), linear(x), [x, linear.weight, linear.bias!],
                        "Linear, every tensor trainable")
        let adapter = LoRALinear(wrapping: linear, rank: 2, alpha: 4, generator: generator)
        withNoGrad { adapter.loraB.weight.normal_(std: 0.5, generator: generator) }
        expectSurrogate(adapter.gradientSurrogate(x, outputGradient: g), adapter(x), [x, adapter.loraA.weight, adapter.loraB.weight],
                        "LoRALinear over a frozen base")
        #expect(!linear.weight.requiresGrad && linear.weight.grad == nil, "a frozen base weight gets no gradient")

        // GPT-2's Conv1D (weight stored [in, out]) and its LoRA wrapper.
        let conv = Conv1D(weight: Tensor.randn([4, 3], dtype: .float64, generator: generator).requiringGrad(),
                          bias: Tensor.randn([3], dtype: .float64, generator: generator).requiringGrad())
        expectSurrogate(conv.gradientSurrogate(x, outputGradient: g), x.matmul(conv.weight) + conv.bias, [x, conv.weight, conv.bias],
                        "Conv1D, every tensor trainable")
        let convAdapter = LoRAConv1D(wrapping: conv, rank: 2, alpha: 4, generator: generator)
        withNoGrad { convAdapter.loraB.weight.normal_(std: 0.5, generator: generator) }
        expectSurrogate(convAdapter.gradientSurrogate(x, outputGradient: g), convAdapter(x),
                        [x, convAdapter.loraA.weight, convAdapter.loraB.weight], "LoRAConv1D over a frozen base")
    }

    @Test("the output layer's precomputed gradient for a frozen embedding = the recomputing backward pass (float64)")
    func frozenOutputGradient() {
        let generator = Generator(seed: 4)
        let weight = Tensor.randn([11, 6], dtype: .float64, generator: generator)
        let targets = Tensor([3, 0, 10, 7, 7, 1, 2] as [Int64])
        let g = Tensor.randn([7], dtype: .float64, generator: generator)
        var results: [(values: [Double], gradient: [Double])] = []
        for precompute in [false, true] {
            let hidden = Tensor.randn([7, 6], dtype: .float64, generator: Generator(seed: 2)).requiringGrad()
            let before = FrozenOutputGradient.precomputedRows
            let (values, _) = chunkedLogProbabilities(hidden: hidden, outputEmbedding: weight, targets: targets, temperature: 0.7,
                                                      chunkRows: 3, entropies: false, precomputeFrozenGradient: precompute)
            if precompute { #expect(FrozenOutputGradient.precomputedRows - before >= 7, "the precomputing path ran") }
            (values * g).sum().backward()
            results.append((values.doubles, hidden.grad!.doubles))
        }
        expectClose(results[1].values, results[0].values, atol: 0, rtol: 0, "values")
        #expect(results[0].gradient.contains { $0 != 0 })
        expectClose(results[1].gradient, results[0].gradient, atol: 1e-13, rtol: 1e-11, "hidden-state gradient")
        // A trainable embedding is never precomputed: its own gradient needs the chunks in the backward pass.
        let trainable = weight.detach().requiringGrad()
        let hidden = Tensor.randn([7, 6], dtype: .float64, generator: Generator(seed: 2)).requiringGrad()
        let (values, _) = chunkedLogProbabilities(hidden: hidden, outputEmbedding: trainable, targets: targets, temperature: 0.7,
                                                  chunkRows: 3, entropies: false, precomputeFrozenGradient: true)
        (values * g).sum().backward()
        #expect(trainable.grad != nil)
        expectClose(hidden.grad!, results[0].gradient, atol: 1e-13, rtol: 1e-11, "trainable embedding: hidden-state gradient")
    }

    /// LoRA adapters (α = 2r) on the modules named `names`, both factors drawn (B is zero when new, which would
    /// leave the update out of every comparison).
    static func addAdapters(to model: LanguageModel, names: [String], rank: Int, seed: UInt64, bStd: Double) throws {
        try model.addAdapters(LoRAConfiguration(rank: rank, alpha: Double(2 * rank), targets: .names(names)))
        let factors = Generator(seed: seed)
        for (_, adapter) in model.adapters.sorted(by: { $0.0 < $1.0 }) {
            withNoGrad {
                adapter.loraA.weight.normal_(std: 0.2, generator: factors)
                adapter.loraB.weight.normal_(std: bStd, generator: factors)
            }
        }
    }

    /// Every trainable tensor's gradient (by name) and the input's, after back-propagating `g` through the first
    /// layer of the model in `directory`, checkpointed and recomputed with or without its surrogate.
    static func checkpointedLayer(_ directory: URL, lora: Bool, shortcut: Bool) throws -> [String: [Double]] {
        let model = try LanguageModel(directory: directory, dtype: .float64)
        let isGPT2 = model.configuration.architecture == .gpt2
        if lora {
            try Self.addAdapters(to: model, names: isGPT2 ? ["c_attn", "c_proj", "c_fc"] : ["q_proj", "o_proj", "up_proj", "down_proj"],
                                 rank: 2, seed: 13, bStd: 0.1)
        } else {
            model.decoder.unfreeze()
        }
        let x = Tensor.randn([2, 5, model.configuration.hiddenSize], dtype: .float64, generator: Generator(seed: 1)).requiringGrad()
        let positions = Tensor.arange(5).unsqueezed(0).expanded([2, 5])
        let layer: Module, body: (Tensor) -> Tensor, surrogate: (Tensor, Tensor) -> Tensor
        if let decoder = model.decoder as? GPT2LMHeadModel {
            let block = decoder.transformer.blocks[0]
            let context = LayerContext(mask: nil, causal: true, positions: positions, cache: nil)
            (layer, body) = (block, { block($0, context: context) })
            surrogate = { block.gradientSurrogate($0, outputGradient: $1, context: context) }
        } else {
            let block = (model.decoder as! LlamaForCausalLM).model.layers[0]
            let tables = block.attention.rotary.cosSin(positionIds: positions, dtype: .float64)
            (layer, body) = (block, { block.forward($0, rotaryTables: tables, mask: nil, cache: nil) })
            surrogate = { block.gradientSurrogate($0, outputGradient: $1, rotaryTables: tables, mask: nil) }
        }
        let out = checkpointed(x, name: "Layer", surrogate: shortcut ? surrogate : nil, body)
        (out * Tensor.randn(out.shape, dtype: .float64, generator: Generator(seed: 8))).sum().backward()
        var result = ["input": x.grad!.doubles]
        for (name, parameter) in layer.namedParameters() where parameter.requiresGrad { result[name] = parameter.grad?.doubles ?? [] }
        return result
    }

    @Test("a checkpointed layer recomputed without its last projection (down_proj, GPT-2's mlp.c_proj): every gradient as the full recomputation's",
          arguments: Fixtures.huggingFaceModels)
    func recomputationWithoutLastProjection(directory: URL) throws {
        for lora in [false, true] {
            let full = try Self.checkpointedLayer(directory, lora: lora, shortcut: false)
            let short = try Self.checkpointedLayer(directory, lora: lora, shortcut: true)
            let label = "\(directory.lastPathComponent), \(lora ? "LoRA" : "every weight")"
            #expect(full.keys.sorted() == short.keys.sorted() && full.count > (lora ? 6 : 5), "\(label): \(full.keys.sorted())")
            for (name, expected) in full {
                #expect(expected.contains { $0 != 0 }, "\(label): \(name) has a gradient")
                expectClose(short[name] ?? [], expected, atol: 1e-12, rtol: 1e-10, "\(label): gradient of \(name)")
            }
        }
    }

    @Test("LoRA without dropout, every fast path on (float64): checkpointed = plain; the shortcut ran",
          arguments: Fixtures.huggingFaceModels)
    func loRAWithoutDropout(directory: URL) throws {
        var results: [(values: [Double], gradients: [String: [Double]])] = []
        var shortcuts = 0
        for checkpointing in [false, true] {
            let model = try LanguageModel(directory: directory, dtype: .float64)
            let names = model.configuration.architecture == .gpt2 ? ["c_attn", "c_proj", "c_fc"] : ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
            try Self.addAdapters(to: model, names: names, rank: 4, seed: 11, bStd: 0.05)
            model.decoder.train()
            model.decoder.gradientCheckpointing = checkpointing
            let before = CheckpointRecomputation.shortcutLayers
            results.append(GradientCheckpointingTests.pass(model))
            if checkpointing { shortcuts = CheckpointRecomputation.shortcutLayers - before }
        }
        GradientCheckpointingTests.compare(results[0], results[1], directory.lastPathComponent)
        // Every layer but the last is checkpointed (other suites may add theirs meanwhile).
        #expect(shortcuts >= 1, "\(directory.lastPathComponent): the recomputation shortcut ran")
    }
}
