import Testing
@testable import Torch
import TestSupport

@Suite("Printing like PyTorch")
struct DescriptionTests {
    @Test("vectors, matrices and 3-D tensors")
    func layouts() {
        #expect(Tensor([1, 2.5] as [Float]).description == "tensor([1.0000, 2.5000])")
        #expect(Tensor([1, -2] as [Float]).description == "tensor([ 1., -2.])")
        #expect(Tensor([[1, 2], [3, 4]] as [[Int]]).description == "tensor([[1, 2],\n        [3, 4]])")
        #expect(Tensor(Array(1...8), shape: [2, 2, 2]).description
                == "tensor([[[1, 2],\n         [3, 4]],\n\n        [[5, 6],\n         [7, 8]]])")
        #expect(Tensor(Float(3.5)).description == "tensor(3.5000)")
    }

    @Test("dtype, requires_grad and grad_fn suffixes")
    func suffixes() {
        #expect(Tensor([1, 2] as [Double]).description == "tensor([1., 2.], dtype=torch.float64)")
        #expect(Tensor([true, false]).description == "tensor([ True, False])")
        #expect(Tensor([1, 2] as [Float]).requiringGrad().description == "tensor([1., 2.], requires_grad=True)")
        let x = Tensor([1, 2] as [Float]).requiringGrad()
        #expect((x * x).description == "tensor([1., 4.], grad_fn=<MulBackward0>)")
        #expect(Tensor.zeros([0, 3]).description == "tensor([], size=(0, 3))")
    }

    @Test("scientific notation when magnitudes differ widely")
    func scientific() {
        #expect(Tensor([1e-5, 1] as [Float]).description == "tensor([1.0000e-05, 1.0000e+00])")
    }
}
