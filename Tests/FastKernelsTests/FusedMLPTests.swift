import FastKernels
import Foundation
import NeuralNetworks
import Testing
import TestSupport
import Torch

/// `Tensor.mlp` runs a `Sequential` of Linear/tanh/ReLU layers as one fused node; it must agree with the
/// layer-by-layer computation (`Sequential` itself) in values and in every gradient, and it must actually run.
@Suite(.serialized) struct FusedMLPTests {
    static func network(_ activation: ActivationKind, output: ActivationKind, bias: Bool, dtype: DType) -> Sequential {
        Sequential.mlp(sizes: [3, 7, 5, 2], activation: activation, outputActivation: output, bias: bias, dtype: dtype,
            generator: Generator(seed: 3))
    }

    /// Runs `net` fused (checking that the fused node took the call) or layer by layer.
    static func run(_ net: Sequential, _ x: Tensor, fused: Bool) -> Tensor {
        guard fused else { return net(x) }
        let before = FastPath.mlp.counts
        let out = x.mlp(net.denseLayers!)
        let after = FastPath.mlp.counts
        #expect(after.taken == before.taken + 1 && after.declined == before.declined, "the fused MLP did not run")
        return out
    }

    @Test("the kernels run with a BLAS and the instruction set this build was made for")
    func variant() {
        #expect(FastPath.blasAvailable, "no BLAS found: every fused path would decline")
        let expected = ProcessInfo.processInfo.environment["PROXIMA_EXPECT_KERNELS"] ?? "avx2"
        #expect(FastPath.kernelVariant == expected)
    }

    @Test("fused and layer-by-layer networks agree in outputs and gradients", arguments: [
        (ActivationKind.tanh, ActivationKind.identity, true), (.relu, .identity, true), (.tanh, .tanh, false),
        (.relu, .relu, true), (.identity, .tanh, true),
    ])
    func agreesWithLayers(activation: ActivationKind, output: ActivationKind, bias: Bool) {
        for (dtype, tolerance) in [(DType.float64, 1e-12), (.float32, 2e-6)] {
            let net = Self.network(activation, output: output, bias: bias, dtype: dtype)
            #expect(net.denseLayers != nil, "Linear/\(activation) stacks are fusable")
            // A 3-D input exercises the flattening of leading dimensions.
            let x = Tensor.randn([2, 4, 3], dtype: dtype, generator: Generator(seed: 9)).requiringGrad()
            let weights = Tensor.randn([2, 4, 2], dtype: dtype, generator: Generator(seed: 10))
            func run(fused: Bool) -> (out: [Double], grads: [[Double]]) {
                let out = Self.run(net, x, fused: fused)
                let grads = gradients(of: [(out * weights).sum()], withRespectTo: [x] + net.parameters())
                return (out.doubles, grads.map { $0?.doubles ?? [] })
            }
            let fused = run(fused: true), layered = run(fused: false)
            let context = "\(activation)/\(output) bias \(bias) \(dtype)"
            expectClose(fused.out, layered.out, atol: tolerance, rtol: tolerance, "\(context) outputs")
            #expect(fused.grads.count == layered.grads.count)
            for (k, (a, b)) in zip(fused.grads, layered.grads).enumerated() {
                #expect(!a.isEmpty, "\(context): gradient \(k) missing")
                expectClose(a, b, atol: tolerance, rtol: tolerance, "\(context) gradient \(k)")
            }
        }
    }

    @Test("float32 layers whose widths are multiples of 16 (Proxima's own product kernel on x86) agree with float64",
          arguments: [1, 5, 256, 517])
    func ownProductKernel(batch: Int) throws {
        let sizes = [6, 64, 48, 32, 3]
        let reference = Sequential.mlp(sizes: sizes, activation: .tanh, dtype: .float64, generator: Generator(seed: 12))
        let net = Sequential.mlp(sizes: sizes, activation: .tanh, dtype: .float32, generator: Generator(seed: 99))
        try net.load(stateDict: reference.stateDict())
        let x = Tensor.randn([batch, 6], dtype: .float64, generator: Generator(seed: 13))
        let weights = Tensor.randn([batch, 3], dtype: .float64, generator: Generator(seed: 14))
        func run(_ network: Sequential, _ dtype: DType) -> [[Double]] {
            let input = x.to(dtype: dtype).requiringGrad()
            let out = Self.run(network, input, fused: dtype == .float32)
            let grads = gradients(of: [(out * weights.to(dtype: dtype)).sum()], withRespectTo: [input] + network.parameters())
            return [out.doubles] + grads.map { $0!.doubles }
        }
        let expected = run(reference, .float64)
        let before = FastPath.smallProduct.counts
        let actual = run(net, .float32)
        let after = FastPath.smallProduct.counts
        if FastPath.kernelVariant == "avx2" {
            #expect(after.taken > before.taken, "the AVX2 product kernel never ran")
        } else {
            #expect(after.taken == before.taken && after.declined > before.declined, "a portable build used the AVX2 kernel")
        }
        for (k, (a, e)) in zip(actual, expected).enumerated() {
            expectClose(a, e, atol: 1e-4, rtol: 1e-4, "batch \(batch), result \(k)")
        }
    }

    @Test("long batches (reduced in blocks) and wide layers agree with the layer-by-layer computation", arguments: [300, 517])
    func longBatches(batch: Int) {
        let net = Sequential.mlp(sizes: [5, 96, 70, 3], activation: .tanh, dtype: .float64, generator: Generator(seed: 4))
        let x = Tensor.randn([batch, 5], dtype: .float64, generator: Generator(seed: 5)).requiringGrad()
        let weights = Tensor.randn([batch, 3], dtype: .float64, generator: Generator(seed: 6))
        func run(fused: Bool) -> [[Double]] {
            let out = Self.run(net, x, fused: fused)
            return [out.doubles] + gradients(of: [(out * weights).sum()], withRespectTo: [x] + net.parameters()).map { $0!.doubles }
        }
        for (k, (a, b)) in zip(run(fused: true), run(fused: false)).enumerated() {
            expectClose(a, b, atol: 1e-11, rtol: 1e-11, "batch \(batch), result \(k)")
        }
    }

    @Test("fused MLP gradients match finite differences for the input, weights and biases")
    func finiteDifferences() {
        gradientCheck(GradCase(name: "mlp", shapes: [[4, 3], [5, 3], [5], [2, 5], [2]]) {
            $0[0].mlp([(weight: $0[1], bias: $0[2], activation: .tanh), (weight: $0[3], bias: $0[4], activation: .identity)])
        })
        gradientCheck(GradCase(name: "mlp relu", shapes: [[4, 3], [5, 3], [2, 5]]) {
            $0[0].mlp([(weight: $0[1], bias: nil, activation: .relu), (weight: $0[2], bias: nil, activation: .tanh)])
        })
    }

    @Test("only tensors that require gradients get them; no graph without gradients; retained graphs run twice")
    func gradientBookkeeping() {
        let net = Self.network(.tanh, output: .identity, bias: true, dtype: .float64)
        let x = Tensor.randn([6, 3], dtype: .float64, generator: Generator(seed: 1))
        let out = Self.run(net, x, fused: true)
        #expect(out.requiresGrad)
        out.sum().backward(retainGraph: true)
        let first = net.parameters().map { $0.grad!.doubles }
        out.sum().backward()
        for (p, g) in zip(net.parameters(), first) { expectClose(p.grad!, g.map { 2 * $0 }, atol: 1e-12, "accumulated") }
        #expect(x.grad == nil)
        let frozen = withNoGrad { Self.run(net, x, fused: true) }
        #expect(!frozen.requiresGrad)
        expectClose(frozen, out.doubles, atol: 0, "no-grad forward")
    }

    @Test("an empty batch gives an empty output and zero gradients")
    func emptyBatch() {
        let net = Self.network(.tanh, output: .identity, bias: true, dtype: .float32)
        let out = Self.run(net, Tensor.zeros([0, 3]), fused: true)
        #expect(out.shape == [0, 2])
        out.sum().backward()
        for p in net.parameters() { #expect(p.grad?.abs().sum().item(Double.self) == 0) }
    }

    @Test("a Sequential holding a Linear subclass (an adapter) is not fused: its own forward pass must run")
    func subclassIsNotFused() {
        final class Doubled: Linear {
            override func callAsFunction(_ x: Tensor) -> Tensor { super.callAsFunction(x) * 2 }
        }
        let plain = Linear(inputSize: 3, outputSize: 2)
        let net = Sequential(Doubled(weight: plain.weight, bias: plain.bias))
        #expect(net.denseLayers == nil)
        #expect(Sequential(plain).denseLayers != nil)
    }

    @Test("layers that cannot be fused run one by one")
    func unfusable() {
        let net = Sequential(Linear(inputSize: 3, outputSize: 4), Activation(.gelu), Linear(inputSize: 4, outputSize: 1))
        #expect(net.denseLayers == nil)
        let half = Sequential.mlp(sizes: [3, 4, 1], dtype: .bfloat16, generator: Generator(seed: 0))
        let x = Tensor.randn([2, 3], generator: Generator(seed: 0)).to(dtype: .bfloat16)
        let before = FastPath.mlp.counts
        let composed = x.mlp(half.denseLayers!)
        #expect(FastPath.mlp.counts.declined == before.declined + 1, "bfloat16 is declined by the fused node")
        #expect(composed.dtype == .bfloat16)
        #expect(composed.equal(half(x)), "bfloat16 takes the composed path")
    }
}
