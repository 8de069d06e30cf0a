import CTorch
import Foundation
import Testing
import TestSupport
@testable import Torch

/// `FusedGELU`: the training-time GELU (tanh formula) that keeps its derivative, against libtorch's gelu and its
/// backward pass. The plain path is called directly (the switch is process-wide and other suites run meanwhile).
@Suite("Fused GELU (tanh formula): libtorch's values and gradients, one tanh per element")
struct FusedGELUTests {
    static var portable: Bool { ProcessInfo.processInfo.environment["PROXIMA_EXPECT_KERNELS"] == "portable" }
    static let hasAVX512 = ((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "avx512f").contains("avx512f")

    /// libtorch's gelu(x, "tanh"), whatever the switch says.
    static func plain(_ x: Tensor) -> Tensor { x.unary(CT_GELU_TANH, "gelu(tanh)") }

    @Test("float32 with a gradient recorded: values and input gradients equal libtorch's (bit for bit on full vectors)")
    func equalsLibTorch() {
        let generator = Generator(seed: 5)
        // 3·8·64 elements fill whole vectors; 3·7·37 leaves a tail of 777 mod 8 = 1; large values saturate tanh.
        for (shape, scale) in [([3, 8, 64], 2.0), ([3, 7, 37], 3.0), ([4, 512], 12.0)] {
            let x = (Tensor.randn(shape, generator: generator) * scale).requiringGrad()
            let g = Tensor.randn(shape, generator: generator)
            let before = FusedGELU.calls
            let fused = x.gelu(approximate: true)
            #expect(FusedGELU.calls > before || Self.portable, "\(shape): the kernel ran")
            (fused * g).sum().backward()
            let fusedGradient = x.grad!.doubles
            let reference = x.detach().requiringGrad()
            let plain = Self.plain(reference)
            (plain * g).sum().backward()
            // libtorch computes whole vectors with its AVX2 kernel here (its AVX-512 one where the CPU has it, and
            // the remainder with scalar code): the kernel repeats the AVX2 kernel's roundings exactly.
            let exact = shape.reduce(1, *) % 16 == 0 && !Self.hasAVX512
            let tolerance = exact ? 0.0 : 3e-7
            expectClose(fused.doubles, plain.doubles, atol: tolerance, rtol: tolerance, "\(shape): values")
            expectClose(fusedGradient, reference.grad!.doubles, atol: tolerance, rtol: tolerance, "\(shape): gradients")
            #expect(fusedGradient.contains { $0 != 0 })
        }
    }

    @Test("the kernel applies only while training float32: no gradient, float64 or recording off take libtorch's gelu")
    func appliesOnlyWhereItShould() {
        let generator = Generator(seed: 6)
        let x = Tensor.randn([2, 16], generator: generator)
        var before = FusedGELU.calls
        let inference = x.gelu(approximate: true)
        #expect(FusedGELU.calls == before, "no gradient recorded: libtorch's gelu")
        #expect(inference.doubles == Self.plain(x).doubles)
        let wide = Tensor.randn([2, 16], dtype: .float64, generator: generator).requiringGrad()
        before = FusedGELU.calls
        _ = wide.gelu(approximate: true)
        #expect(FusedGELU.calls == before, "float64: libtorch's gelu")
        let trained = x.requiringGrad()
        before = FusedGELU.calls
        _ = withNoGrad { trained.gelu(approximate: true) }
        #expect(FusedGELU.calls == before, "recording off: libtorch's gelu")
        // The exact GELU (erf) never takes the kernel.
        before = FusedGELU.calls
        _ = trained.gelu()
        #expect(FusedGELU.calls == before)
    }
}
