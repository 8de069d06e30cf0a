import Testing
@testable import Torch
import TestSupport

@Suite("Random numbers and threads", .serialized)
struct RandomTests {
    @Test("the same seed gives the same draws; another seed different ones")
    func seededGenerators() {
        let a = Tensor.randn([8], generator: Generator(seed: 7)).floats
        let b = Tensor.randn([8], generator: Generator(seed: 7)).floats
        let c = Tensor.randn([8], generator: Generator(seed: 8)).floats
        #expect(a == b)
        #expect(a != c)
        let g1 = Generator(seed: 3), g2 = Generator(seed: 3)
        #expect(Tensor.rand([5], generator: g1).floats == Tensor.rand([5], generator: g2).floats)
        #expect(Tensor.randint(0, 10, shape: [6], generator: g1).ints == Tensor.randint(0, 10, shape: [6], generator: g2).ints)
        #expect(Tensor.randperm(6, generator: g1).ints == Tensor.randperm(6, generator: g2).ints)
        let p = Tensor.full([20], value: 0.5)
        #expect(p.bernoulli(generator: g1).floats == p.bernoulli(generator: g2).floats)
    }

    @Test("a saved generator state replays the same stream")
    func generatorState() {
        let g = Generator(seed: 11)
        _ = Tensor.randn([3], generator: g)
        let state = g.state
        let first = Tensor.randn([4], generator: g).floats
        g.state = state
        #expect(Tensor.randn([4], generator: g).floats == first)
        g.seed = 11
        #expect(g.seed == 11)
    }

    @Test("the global seed makes generator-less draws reproducible")
    func globalSeed() {
        LibTorch.manualSeed(123)
        let a = Tensor.rand([4]).floats
        LibTorch.manualSeed(123)
        #expect(Tensor.rand([4]).floats == a)
    }

    @Test("draws follow their distributions")
    func distributions() {
        let g = Generator(seed: 0)
        let u = Tensor.rand([20000], dtype: .float64, generator: g)
        #expect(u.min().item(Double.self) >= 0 && u.max().item(Double.self) < 1)
        #expect(Swift.abs(u.mean().item(Double.self) - 0.5) < 0.01)
        let n = Tensor.randn([20000], dtype: .float64, generator: g)
        #expect(Swift.abs(n.mean().item(Double.self)) < 0.03)
        #expect(Swift.abs(n.std().item(Double.self) - 1) < 0.03)
        let k = Tensor.randint(2, 5, shape: [1000], generator: g)
        #expect(k.min().item(Int.self) == 2 && k.max().item(Int.self) == 4)
        let counts = Tensor([0.1, 0.0, 0.9] as [Double]).multinomial(numSamples: 5000, replacement: true, generator: g)
        let share = (counts .== 2).to(dtype: .float64).mean().item(Double.self)
        #expect(Swift.abs(share - 0.9) < 0.02)
        #expect((counts .== 1).sum().item(Int.self) == 0)
        let d = Tensor.ones([10000], dtype: .float64).dropout(0.25, generator: g)
        #expect(Swift.abs((d .== 0).to(dtype: .float64).mean().item(Double.self) - 0.25) < 0.02)
        #expect(Set(d.doubles).isSubset(of: [0, 1 / 0.75]))
        #expect(Tensor.ones([4]).dropout(0.5, training: false).floats == [1, 1, 1, 1])
    }

    @Test("thread count applies to libtorch; the pinned libtorch 2.15.0 and its MKL are the ones loaded")
    func threads() {
        let original = LibTorch.numThreads
        LibTorch.numThreads = 1
        #expect(LibTorch.numThreads == 1)
        LibTorch.numThreads = original
        #expect(LibTorch.version == "2.15.0")
        #expect(LibTorch.libraryPath.hasSuffix("libtorch-2.15.0/lib/libtorch_cpu.so"), "loaded \(LibTorch.libraryPath)")
        #expect(LibTorch.blasInfo.contains("Math Kernel Library"), "libtorch's BLAS is not MKL: \(LibTorch.blasInfo)")
    }
}
