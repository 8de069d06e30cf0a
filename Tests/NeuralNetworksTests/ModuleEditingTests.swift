import Foundation
import Testing
import TestSupport
@testable import Torch
@testable import NeuralNetworks

/// A low-rank adapter as later issues build it: the base layer's tensors plus B·A, B starting at zero.
final class TestLoRALinear: Linear {
    @Key("lora_a") var a: Tensor
    @Key("lora_b") var b: Tensor

    init(base: Linear, rank: Int, generator: Generator) {
        _a.wrappedValue = (Tensor.randn([rank, base.inputSize], dtype: base.weight.dtype, generator: generator) * 0.1).requiringGrad()
        super.init(weight: base.weight, bias: base.bias)
        b = Tensor.zeros([base.outputSize, rank], dtype: base.weight.dtype).requiringGrad()
    }

    override func callAsFunction(_ x: Tensor) -> Tensor { super.callAsFunction(x) + x.matmul(a.T).matmul(b.T) }
}

final class EditAttention: Module {
    @Key("q_proj") var query = Linear(inputSize: 4, outputSize: 4, dtype: .float64, generator: Generator(seed: 1))
    @Key("o_proj") var output: Linear? = Linear(inputSize: 4, outputSize: 4, dtype: .float64, generator: Generator(seed: 2))
    let fixed = Linear(inputSize: 4, outputSize: 4, dtype: .float64, generator: Generator(seed: 3))

    func callAsFunction(_ x: Tensor) -> Tensor { fixed(output!(query(x))) }
}

final class EditBlock: Module {
    @Key("self_attn") var attention = EditAttention()
}

final class EditModel: Module {
    @Key var layers = [EditBlock(), EditBlock()]
    var plain = [EditBlock()]
    @Key("lm_head") var head = Linear(inputSize: 4, outputSize: 3, bias: false, dtype: .float64, generator: Generator(seed: 4))
    @Buffer("step") var step = Tensor.zeros([1], dtype: .int64)

    func callAsFunction(_ x: Tensor) -> Tensor { head(layers.reduce(x) { $1.attention($0) }) }
}

/// Counts how often its children are reflected.
final class CountingModel: Module {
    var reflections = 0
    @Key var inner = Linear(inputSize: 2, outputSize: 2)
    let other = Linear(inputSize: 2, outputSize: 2)

    override func namedChildren() -> [(String, Any)] {
        reflections += 1
        return super.namedChildren()
    }
}

@Suite("Module editing")
struct ModuleEditingTests {
    @Test("replaceModule swaps a @Key child, also inside an array, and the forward pass runs the new module")
    func replaceWithLoRA() throws {
        let model = EditModel()
        let x = Tensor.randn([5, 4], dtype: .float64, generator: Generator(seed: 9))
        let before = model(x)
        let base = try #require(model.module(at: "layers.1.self_attn.q_proj") as? Linear)
        let lora = TestLoRALinear(base: base, rank: 2, generator: Generator(seed: 5))
        let replaced = try model.replaceModule(at: "layers.1.self_attn.q_proj", with: lora)
        #expect(replaced === base)
        #expect(model.layers[1].attention.query === lora)
        let names = model.namedParameters().map(\.0)
        #expect(names.contains("layers.1.self_attn.q_proj.lora_a") && names.contains("layers.1.self_attn.q_proj.lora_b"))
        #expect(names.contains("layers.1.self_attn.q_proj.weight"))
        #expect(!names.contains("layers.0.self_attn.q_proj.lora_a"))
        // B = 0: the adapter starts as the identity change; with B set, the output moves by exactly B·A·x through
        // the rest of the network.
        expectClose(model(x), before.doubles, atol: 1e-12, "B = 0")
        withNoGrad { lora.b.fill_(0.5) }
        let h0 = model.layers[0].attention(x)
        let q = h0.linear(weight: base.weight, bias: base.bias) + h0.matmul(lora.a.T).matmul(lora.b.T)
        let attention = model.layers[1].attention
        let expected = model.head(attention.fixed(attention.output!(q)))
        expectClose(model(x), expected.doubles, atol: 1e-12, "B ≠ 0")

        // A whole array element, and an optional child.
        let fresh = EditBlock()
        try model.replaceModule(at: "layers.0", with: fresh)
        #expect(model.layers[0] === fresh)
        let output = Linear(inputSize: 4, outputSize: 4, dtype: .float64)
        try model.replaceModule(at: "layers.0.self_attn.o_proj", with: output)
        #expect(model.layers[0].attention.output === output)
        #expect(model.namedModules().contains { $0.0 == "layers.0.self_attn.o_proj" && $0.1 === output })
    }

    @Test("a path that cannot be replaced is an error naming the path and the reason", arguments: [
        ("layers.0.self_attn.fixed", "plain stored property"),
        ("plain.0", "plain stored property"),
        ("layers.2", "has 2 elements, no element '2'"),
        ("layers", "add the index"),
        ("layers.0.self_attn.k_proj", "has no child 'k_proj'"),
        ("layers.0.self_attn.q_proj.weight", "is a tensor, not a module"),
        ("layers..0", "empty component"),
        ("lm_head", "a Sequential is not one"),
        ("layers.1", "cannot be an element"),
    ])
    func replacementErrors(path: String, phrase: String) {
        let model = EditModel()
        let error = #expect(throws: ModuleError.self) { try model.replaceModule(at: path, with: Sequential([])) }
        #expect(error?.path == path)
        #expect(error?.description.contains(phrase) == true, "expected '\(phrase)' in: \(error?.description ?? "no error")")
        #expect(model.module(at: "layers.0.self_attn.q_proj") is Linear, "nothing changed")
    }

    @Test("setParameter assigns by name, keeping the tensor object that optimizers hold")
    func setParameterKeepsIdentity() throws {
        let model = EditModel()
        let weight = model.head.weight
        let sgd = SGD(parameters: model.parameters(), learningRate: 0.1)
        let value = Tensor.ones([3, 4], dtype: .float64)
        try model.setParameter("lm_head.weight", to: value)
        #expect(model.head.weight === weight)
        #expect(weight.requiresGrad)
        #expect(weight.dataAddress == value.dataAddress, "same dtype and device: the storage is adopted")
        // A float32 value is converted once to the parameter's float64.
        try model.setParameter("layers.0.self_attn.q_proj.bias", to: Tensor.full([4], value: 0.25))
        #expect(model.layers[0].attention.query.bias!.dtype == .float64)
        #expect(model.layers[0].attention.query.bias!.doubles == [0.25, 0.25, 0.25, 0.25])
        // The optimizer created before the assignment updates the new values.
        model(Tensor.ones([1, 4], dtype: .float64)).sum().backward()
        let gradient = try #require(weight.grad).doubles
        sgd.step()
        expectClose(weight, gradient.map { 1 - 0.1 * $0 }, atol: 1e-12, "SGD step on the assigned weight")
        try model.setParameter("step", to: Tensor([7], shape: [1]))
        #expect(model.step.ints == [7])
    }

    @Test("setParameter names the key that does not exist or does not fit")
    func setParameterErrors() {
        let model = EditModel()
        let unknown = #expect(throws: ModuleError.self) { try model.setParameter("lm_head.wieght", to: Tensor.ones([3, 4])) }
        #expect(unknown?.path == "lm_head.wieght")
        #expect(unknown?.description.contains("closest: 'lm_head.weight'") == true, "\(unknown?.description ?? "")")
        let shape = #expect(throws: ModuleError.self) { try model.setParameter("lm_head.weight", to: Tensor.ones([4, 3])) }
        #expect(shape?.description == "'lm_head.weight': a tensor of shape [4, 3] was given; the model's has shape [3, 4]")
    }

    @Test("update(parameters:) checks every name and shape before changing anything")
    func bulkUpdate() throws {
        let model = EditModel()
        let head = model.head.weight.clone()
        let error = #expect(throws: StateDictError.self) {
            try model.update(parameters: ["lm_head.weight": Tensor.zeros([3, 4]), "nope": Tensor.zeros([1]),
                                          "layers.0.self_attn.q_proj.weight": Tensor.zeros([2, 2])])
        }
        #expect(error?.unexpected == ["nope"])
        #expect(error?.shapeMismatched == ["layers.0.self_attn.q_proj.weight (model [4, 4], given [2, 2])"])
        #expect(model.head.weight.equal(head), "nothing was assigned")
        try model.update(parameters: ["lm_head.weight": Tensor.zeros([3, 4]), "layers.1.self_attn.o_proj.bias": Tensor.ones([4])])
        #expect(model.head.weight.doubles.allSatisfy { $0 == 0 })
        #expect(model.layers[1].attention.output!.bias!.doubles == [1, 1, 1, 1])
    }

    @Test("reflection runs once per instance until the structure changes")
    func reflectionIsCached() throws {
        let model = CountingModel()
                let first = model.namedParameters().map(\.0)
        _ = model.namedParameters()
        _ = model.stateDict()
        _ = model.parameters()
        #expect(model.reflections == 1)
        #expect(first == ["inner.weight", "inner.bias", "other.weight", "other.bias"])
        try model.replaceModule(at: "inner", with: Linear(inputSize: 2, outputSize: 2, bias: false))
        #expect(model.namedParameters().map(\.0) == ["inner.weight", "other.weight", "other.bias"])
        #expect(model.reflections == 2)
        model.inner = Linear(inputSize: 2, outputSize: 2)
        #expect(model.namedParameters().map(\.0) == first, "assigning a @Key property is seen")
        #expect(model.reflections == 3)
        try model.setParameter("other.bias", to: Tensor.zeros([2]))
        _ = model.namedParameters()
        #expect(model.reflections == 3, "setParameter keeps the tensors, so nothing is reflected again")
    }

    @Test("to(dtype:) converts in place: the same objects, ties kept, integer buffers and gradients handled")
    func convertInPlace() throws {
        let model = EditModel()
        let shared = model.layers[1].attention.output!.weight
        try model.replaceModule(at: "layers.0.self_attn.o_proj", with: Linear(weight: shared))
        let head = model.head.weight
        head.grad = Tensor.ones([3, 4], dtype: .float64)
        let values = shared.doubles
        try model.to(dtype: .float32)
        #expect(model.head.weight === head && model.layers[0].attention.output!.weight === shared)
        #expect(shared.dtype == .float32 && shared.requiresGrad && head.requiresGrad)
        expectClose(shared, values, atol: 1e-6, "values survive the conversion")
        let state = model.stateDict()
        #expect(state["layers.0.self_attn.o_proj.weight"]!.dataAddress == state["layers.1.self_attn.o_proj.weight"]!.dataAddress,
                "the tied weight is still one storage")
        #expect(head.grad?.dtype == .float32)
        #expect(model.step.dtype == .int64, "integer buffers keep their dtype")
        #expect(model.parameters().allSatisfy { $0.dtype == .float32 })
        try model.to(device: .cpu)
        #expect(model.parameters().allSatisfy { $0.device == .cpu })
    }

    @Test("to(device: .cuda) without CUDA support throws libtorch's explanation and changes nothing",
          .enabled(if: !Device.cudaIsAvailable))
    func unavailableDevice() {
        let model = EditModel()
        let error = #expect(throws: TorchError.self) { try model.to(dtype: .float32, device: .cuda(0)) }
        #expect(error?.message.contains("CUDA") == true)
        #expect(model.parameters().allSatisfy { $0.device == .cpu && $0.dtype == .float64 })
    }

    @Test("withoutInitialization allocates parameters without drawing or filling them")
    func skippedInitialization() {
        let g = Generator(seed: 1)
        let before = g.state
        let layers: (Linear, Embedding, LayerNorm) = withoutInitialization {
            #expect(Initialization.current == .empty)
            return (Linear(inputSize: 8, outputSize: 4, generator: g), Embedding(count: 10, dimension: 4, generator: g),
                    LayerNorm(4))
        }
        #expect(Initialization.current == .standard)
        #expect(g.state.equal(before), "no random numbers were drawn")
        #expect(layers.0.weight.shape == [4, 8] && layers.0.weight.requiresGrad)
        #expect(layers.1.weight.shape == [10, 4] && layers.2.weight?.shape == [4])
        _ = Linear(inputSize: 8, outputSize: 4, generator: g)
        #expect(!g.state.equal(before), "outside the scope the layer draws its weights")
        // The standard scheme is unchanged: an embedding is randn with the same generator.
        #expect(Embedding(count: 3, dimension: 2, generator: Generator(seed: 7)).weight.equal(Tensor.randn([3, 2], generator: Generator(seed: 7))))
        #expect(LayerNorm(3, device: .cpu).weight!.floats == [1, 1, 1] && RMSNorm(3, device: .cpu).weight.floats == [1, 1, 1])
    }
}
