import Testing
@testable import Torch
import TestSupport

@Suite("Creation and conversion")
struct CreationTests {
    @Test("arrays of every element type round-trip with their dtype")
    func arraysRoundTrip() {
        #expect(Tensor([1.5, -2] as [Float]).floats == [1.5, -2])
        #expect(Tensor([1.5, -2] as [Float]).dtype == .float32)
        #expect(Tensor([1.25, 3] as [Double]).dtype == .float64)
        #expect(Tensor([1, -7] as [Int]).ints == [1, -7])
        #expect(Tensor([1, -7] as [Int]).dtype == .int64)
        #expect(Tensor([3, 4] as [Int32]).dtype == .int32)
        #expect(Tensor([3, 250] as [UInt8]).scalars(as: UInt8.self) == [3, 250])
        #expect(Tensor([true, false, true]).bools == [true, false, true])
        #expect(Tensor([true, false]).dtype == .bool)
    }

    @Test("flat values take any shape; nested arrays give their shape")
    func shapes() {
        let t = Tensor(Array(0..<24).map(Double.init), shape: [2, 3, 4])
        #expect(t.shape == [2, 3, 4])
        #expect(t.rank == 3 && t.count == 24)
        #expect(Tensor([[1, 2, 3], [4, 5, 6]] as [[Float]]).shape == [2, 3])
        #expect(Tensor([[[1], [2]], [[3], [4]]] as [[[Int]]]).shape == [2, 2, 1])
        #expect(Tensor(Float(2.5)).shape == [])
        #expect(Tensor(Float(2.5)).item(Float.self) == 2.5)
        #expect(Tensor(3, dtype: .float64).dtype == .float64)
    }

    @Test("zeros, ones, full, arange, linspace and eye match PyTorch")
    func factories() {
        #expect(Tensor.zeros([2, 2]).floats == [0, 0, 0, 0])
        #expect(Tensor.ones([3], dtype: .int64).ints == [1, 1, 1])
        #expect(Tensor.full([2], value: 7.5, dtype: .float64).doubles == [7.5, 7.5])
        #expect(Tensor.arange(5).ints == [0, 1, 2, 3, 4])
        #expect(Tensor.arange(1.0, 2.0, step: 0.25).doubles == [1, 1.25, 1.5, 1.75])
        #expect(Tensor.arange(0.0, 1.0, step: 0.5, dtype: .float32).dtype == .float32)
        #expect(Tensor.linspace(0, 1, steps: 5, dtype: .float64).doubles == [0, 0.25, 0.5, 0.75, 1])
        #expect(Tensor.eye(2, 3).floats == [1, 0, 0, 0, 1, 0])
        #expect(Tensor.zeros(like: Tensor.ones([2, 5], dtype: .float64)).shape == [2, 5])
    }

    @Test("dtype conversion rounds like PyTorch and reaches every dtype")
    func dtypeConversion() {
        let x = Tensor([1.7, -1.7, 0.5] as [Double])
        #expect(x.to(dtype: .int64).ints == [1, -1, 0])
        #expect(x.to(dtype: .bool).bools == [true, true, true])
        for dtype in DType.allCases {
            let y = Tensor([1, 2, 3] as [Float]).to(dtype: dtype)
            #expect(y.dtype == dtype)
            #expect(y.to(dtype: .float64).doubles == (dtype == .bool ? [1, 1, 1] : [1, 2, 3]))
        }
        // bfloat16 keeps 8 bits of mantissa: 1/3 becomes 0.333984375.
        #expect(Tensor([1.0 / 3.0] as [Float]).to(dtype: .bfloat16).floats == [0.333984375])
    }

    @Test("contiguous copies a transposed view into row-major order")
    func contiguity() {
        let t = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3]).T
        #expect(!t.isContiguous)
        #expect(t.strides == [1, 3])
        let c = t.contiguous()
        #expect(c.isContiguous)
        #expect(c.floats == [1, 4, 2, 5, 3, 6])
    }

    @Test("device is CPU and moving to CPU keeps values; CUDA is reported only when present")
    func devices() {
        let t = Tensor([1, 2] as [Float])
        #expect(t.device == .cpu)
        #expect(t.to(device: .cpu).floats == [1, 2])
        if Device.cudaIsAvailable {
            #expect(t.to(device: .cuda(0)).to(device: .cpu).floats == [1, 2])
        }
    }

    @Test("clone is independent storage, detach shares it")
    func cloneAndDetach() {
        let a = Tensor([1, 2] as [Float])
        let c = a.clone()
        let d = a.detach()
        a.add_(Tensor([10, 10] as [Float]))
        #expect(c.floats == [1, 2])
        #expect(d.floats == [11, 12])
    }
}
