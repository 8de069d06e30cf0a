import Foundation
import Testing
import TestSupport
import Torch
@testable import NeuralNetworks

final class Attention: Module {
    @Key("q_proj") var queryProjection = Linear(inputSize: 4, outputSize: 4, bias: false, generator: Generator(seed: 1))
    @Key("o_proj") var outputProjection = Linear(inputSize: 4, outputSize: 4, generator: Generator(seed: 2))
}

final class Block: Module {
    @Key("self_attn") var attention = Attention()
    @Key("input_layernorm") var norm = RMSNorm(4)
}

final class TinyModel: Module {
    @Key("embed_tokens") var embedding = Embedding(count: 10, dimension: 4, generator: Generator(seed: 3))
    var layers = [Block(), Block()]
    var norm = LayerNorm(4)
    @Buffer("running_mean") var runningMean = Tensor.zeros([4])
    var scale = Tensor.ones([1]).requiringGrad()
    let unrelated = 3
}

@Suite("Modules")
struct ModuleTests {
    @Test("parameters are discovered with PyTorch / Hugging Face names")
    func naming() {
        let model = TinyModel()
        let names = model.namedParameters().map(\.0)
        #expect(names == ["embed_tokens.weight",
                          "layers.0.self_attn.q_proj.weight", "layers.0.self_attn.o_proj.weight", "layers.0.self_attn.o_proj.bias",
                          "layers.0.input_layernorm.weight",
                          "layers.1.self_attn.q_proj.weight", "layers.1.self_attn.o_proj.weight", "layers.1.self_attn.o_proj.bias",
                          "layers.1.input_layernorm.weight",
                          "norm.weight", "norm.bias", "scale"])
        #expect(model.stateDict()["running_mean"] != nil)
        #expect(!names.contains("running_mean"))
        #expect(model.parameterCount() == 40 + 2 * (16 + 16 + 4 + 4) + 8 + 1)
        #expect(model.namedModules().map(\.0).contains("layers.1.self_attn.o_proj"))
    }

    @Test("Sequential and MLP name children by position like nn.Sequential")
    func sequentialNames() {
        let mlp = Sequential.mlp(sizes: [3, 8, 2], activation: .relu, generator: Generator(seed: 0))
        #expect(mlp.namedParameters().map(\.0) == ["0.weight", "0.bias", "2.weight", "2.bias"])
        #expect(mlp(Tensor.zeros([5, 3])).shape == [5, 2])
    }

    @Test("state dicts round-trip and mismatches name every offending key")
    func stateDicts() throws {
        let a = TinyModel(), b = TinyModel()
        for p in a.parameters() { Initializer.normal(std: 1).apply(to: p, generator: Generator(seed: 9)) }
        a.runningMean.fill_(2.0)
        try b.load(stateDict: a.stateDict())
        for ((name, x), (_, y)) in zip(a.namedParameters(), b.namedParameters()) { #expect(x.equal(y), "\(name)") }
        #expect(b.runningMean.floats == [2, 2, 2, 2])

        var broken = a.stateDict()
        broken["norm.weight"] = nil
        broken["extra.weight"] = Tensor.ones([1])
        broken["scale"] = Tensor.ones([2])
        let error = #expect(throws: StateDictError.self) { try b.load(stateDict: broken) }
        #expect(error?.missing == ["norm.weight"])
        #expect(error?.unexpected == ["extra.weight"])
        #expect(error?.shapeMismatched == ["scale (model [1], given [2])"])
        #expect(error?.description.contains("norm.weight") == true)
        // Non-strict loading tolerates missing/unexpected keys but never a wrong shape.
        broken["scale"] = Tensor.ones([1])
        try b.load(stateDict: broken, strict: false)
    }

    @Test("freezing stops gradients; train and eval switch every child")
    func freezeAndModes() {
        let model = TinyModel()
        model.freeze(["layers.0"])
        #expect(model.trainableParameters().count == model.parameters().count - 4)
        model.unfreeze()
        #expect(model.trainableParameters().count == model.parameters().count)
        let net = Sequential(Linear(inputSize: 2, outputSize: 2), Dropout(0.5))
        net.eval()
        #expect(net.namedModules().allSatisfy { !$0.1.isTraining } && !net.isTraining)
        let x = Tensor.ones([3, 2])
        #expect(net(x).equal(net(x)))
        net.train()
        #expect(net.namedModules().allSatisfy { $0.1.isTraining })
    }

    @Test("layers compute what PyTorch computes")
    func layerValues() {
        let linear = Linear(inputSize: 3, outputSize: 2, dtype: .float64, generator: Generator(seed: 0))
        let bound = 1 / 3.0.squareRoot()
        #expect(linear.weight.abs().max().item(Double.self) <= bound && linear.bias!.abs().max().item(Double.self) <= bound)
        let x = Tensor([[1, 2, 3]] as [[Double]])
        expectClose(linear(x), x.matmul(linear.weight.T).doubles.enumerated().map { $0.element + linear.bias!.doubles[$0.offset] }, "linear")
        let norm = LayerNorm(3, dtype: .float64)
        expectClose(norm(x), [-1.224744871391589, 0, 1.224744871391589], atol: 1e-5, "layer norm")
        let rms = RMSNorm(3, dtype: .float64)
        let r = (14.0 / 3).squareRoot()
        expectClose(rms(x), [1 / r, 2 / r, 3 / r], atol: 1e-6, "rms norm")
        let embedding = Embedding(count: 5, dimension: 2, dtype: .float64, generator: Generator(seed: 0))
        let ids = Tensor([[4, 0], [1, 1]] as [[Int]])
        #expect(embedding(ids).shape == [2, 2, 2])
        #expect(embedding(ids)[0, 0].doubles == embedding.weight[4].doubles)
    }

    @Test("initialisers: orthogonal rows, Xavier and Kaiming bounds, constants")
    func initializers() {
        let g = Generator(seed: 0)
        let w = Tensor.empty([4, 6], dtype: .float64)
        Initializer.orthogonal(gain: 2).apply(to: w, generator: g)
        expectClose(w.matmul(w.T), Tensor.eye(4, dtype: .float64).doubles.map { $0 * 4 }, atol: 1e-10, "W Wᵀ = gain² I")
        let tall = Tensor.empty([6, 3], dtype: .float64)
        Initializer.orthogonal(gain: 1).apply(to: tall, generator: g)
        expectClose(tall.T.matmul(tall), Tensor.eye(3, dtype: .float64).doubles, atol: 1e-10, "WᵀW = I")
        let big = Tensor.empty([200, 300], dtype: .float64)
        Initializer.xavierUniform().apply(to: big, generator: g)
        #expect(big.abs().max().item(Double.self) <= (6.0 / 500).squareRoot())
        Initializer.kaimingNormal(nonlinearity: .relu).apply(to: big, generator: g)
        #expect(Swift.abs(big.std().item(Double.self) - (2.0 / 300).squareRoot()) < 0.002)
        Initializer.constant(0.5).apply(to: big)
        #expect(big.mean().item(Double.self) == 0.5)
        let a = Tensor.empty([3, 3]), b = Tensor.empty([3, 3])
        Initializer.orthogonal(gain: 1).apply(to: a, generator: Generator(seed: 5))
        Initializer.orthogonal(gain: 1).apply(to: b, generator: Generator(seed: 5))
        #expect(a.equal(b))
    }

    @Test("layer gradients match finite differences", arguments: [
        GradCase(name: "Linear", shapes: [[3, 4]]) { Linear(inputSize: 4, outputSize: 2, dtype: .float64, generator: Generator(seed: 1))($0[0]) },
        GradCase(name: "LayerNorm", shapes: [[2, 5], [5], [5]]) { $0[0].layerNorm(normalizedShape: [5], weight: $0[1], bias: $0[2]) },
        GradCase(name: "RMSNorm", shapes: [[2, 5]]) { RMSNorm(5, dtype: .float64)($0[0]) },
        GradCase(name: "Embedding", shapes: [[6, 3]]) { $0[0].embedding(Tensor([[5, 0], [5, 2]] as [[Int]])) },
        GradCase(name: "MLP", shapes: [[3, 2]]) { Sequential.mlp(sizes: [2, 5, 5, 1], dtype: .float64, generator: Generator(seed: 2))($0[0]) },
    ])
    func layerGradients(c: GradCase) {
        gradientCheck(c)
    }

    @Test("an MLP trained with Adam fits y = sin(x) to mean squared error below 0.01")
    func mlpRegression() {
        let g = Generator(seed: 0)
        let x = Tensor.linspace(-3, 3, steps: 256).unsqueezed(1)
        let y = x.sin()
        let net = Sequential.mlp(sizes: [1, 32, 32, 1], activation: .tanh, generator: g)
        let adam = Adam(parameters: net.parameters(), learningRate: 0.01)
        var loss = Double.infinity
        for _ in 0..<500 {
            adam.zeroGrad()
            let l = net(x).mseLoss(y)
            l.backward()
            adam.step()
            loss = l.item(Double.self)
        }
        #expect(loss < 0.01, "final MSE \(loss)")
    }
}
