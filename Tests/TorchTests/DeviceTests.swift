import Foundation
import Testing
@testable import Torch
import TestSupport

@Suite("Devices")
struct DeviceTests {
    @Test("devices print and parse with PyTorch's spelling")
    func spelling() {
        #expect(Device.cpu.description == "cpu")
        #expect(Device.cuda(1).description == "cuda:1")
        #expect(Device("cpu") == .cpu)
        #expect(Device("cuda") == .cuda(0))
        #expect(Device("cuda:3") == .cuda(3))
        for bad in ["gpu", "cuda:", "cuda:-1", "cuda:x", "CPU", ""] { #expect(Device(bad) == nil, "\(bad)") }
    }

    @Test("every creation function builds on the device it is given, the CPU by default")
    func creationOnDevice() {
        let g = Generator(seed: 3, device: .cpu)
        #expect(g.device == .cpu)
        let made: [(String, Tensor)] = [
            ("array", Tensor([1.0, 2.0], device: .cpu)),
            ("rows", Tensor([[1, 2], [3, 4]] as [[Int]], device: .cpu)),
            ("scalar", Tensor(2.5, device: .cpu)),
            ("zeros", Tensor.zeros([2], device: .cpu)),
            ("empty", Tensor.empty([2], device: .cpu)),
            ("arange", Tensor.arange(0.0, 1.0, step: 0.25, device: .cpu)),
            ("linspace", Tensor.linspace(0, 1, steps: 3, device: .cpu)),
            ("eye", Tensor.eye(2, device: .cpu)),
            ("rand", Tensor.rand([2], generator: g)),
            ("randn", Tensor.randn([2], device: .cpu, generator: g)),
            ("randint", Tensor.randint(0, 5, shape: [2], generator: g)),
            ("randperm", Tensor.randperm(4, generator: g)),
        ]
        for (name, tensor) in made { #expect(tensor.device == .cpu, "\(name)") }
        expectClose(Tensor.arange(0.0, 1.0, step: 0.25, dtype: .float64, device: .cpu), [0, 0.25, 0.5, 0.75], "arange")
        expectClose(Tensor.eye(2, 3, dtype: .float64, device: .cpu), [1, 0, 0, 0, 1, 0], "eye")
        #expect(Tensor.randperm(5, generator: Generator(seed: 1)).ints.sorted() == [0, 1, 2, 3, 4])
    }

    @Test("a generator on a device draws the same stream as before the device argument existed")
    func generatorStreamUnchanged() {
        // The device-aware entry points call the same ATen functions: a seed keeps its values.
        let a = Tensor.randn([6], dtype: .float64, generator: Generator(seed: 11))
        let b = Tensor.empty([6], dtype: .float64)
        b.normal_(generator: Generator(seed: 11, device: .cpu))
        #expect(a.equal(b))
    }

    @Test("CUDA without libtorch_cuda: the check throws libtorch's explanation", .enabled(if: !Device.cudaIsAvailable))
    func unavailableCUDAThrows() throws {
        #expect(Device.cudaDeviceCount == 0)
        try Device.cpu.checkAvailable()
        let error = #expect(throws: TorchError.self) { try Device.cuda(0).checkAvailable() }
        #expect(error?.message.contains("cuda:0") == true)
        #expect(error?.message.contains("CUDA") == true, "\(error?.message ?? "")")
    }

    @Test("CUDA without libtorch_cuda: allocating there stops with libtorch's message instead of crashing",
          .enabled(if: !Device.cudaIsAvailable))
    func unavailableCUDAStops() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2], device: .cuda(0))
        }
        let output = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(output.contains("libtorch error in full([2]) on cuda:0"), "\(output)")
        #expect(output.contains("Cannot initialize CUDA without ATen_cuda library"), "\(output)")
    }
}
