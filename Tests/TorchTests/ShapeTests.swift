import Testing
@testable import Torch
import TestSupport

@Suite("Shape and indexing")
struct ShapeTests {
    let x = Tensor(Array(0..<12).map(Float.init), shape: [3, 4])

    @Test("reshape, view, permute, transpose, squeeze, unsqueeze, flatten")
    func reshapes() {
        #expect(x.reshaped(4, 3).shape == [4, 3])
        #expect(x.reshaped(-1).shape == [12])
        #expect(x.view(2, 6).floats == x.floats)
        #expect(x.permuted(1, 0).contiguous().floats == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
        #expect(x.transposed(0, 1).shape == [4, 3])
        #expect(x.unsqueezed(0).shape == [1, 3, 4])
        #expect(x.unsqueezed(-1).shape == [3, 4, 1])
        #expect(x.unsqueezed(0).unsqueezed(2).squeezed().shape == [3, 4])
        #expect(x.unsqueezed(0).squeezed(0).shape == [3, 4])
        #expect(Tensor.zeros([2, 3, 4]).flattened(startDim: 1).shape == [2, 12])
    }

    @Test("expand broadcasts without copying, repeat tiles")
    func expandRepeat() {
        let row = Tensor([1, 2] as [Float], shape: [1, 2])
        #expect(row.expanded([3, 2]).floats == [1, 2, 1, 2, 1, 2])
        #expect(row.expanded([3, 2]).strides == [0, 1])
        #expect(row.repeated([2, 2]).floats == [1, 2, 1, 2, 1, 2, 1, 2])
        #expect(row.repeated([2, 2]).shape == [2, 4])
    }

    @Test("cat, stack, split, chunk and narrow")
    func joinAndSplit() {
        let a = Tensor([1, 2] as [Float]), b = Tensor([3, 4] as [Float])
        #expect(Tensor.cat([a, b]).floats == [1, 2, 3, 4])
        #expect(Tensor.stack([a, b]).shape == [2, 2])
        #expect(Tensor.stack([a, b], dim: 1).floats == [1, 3, 2, 4])
        let parts = x.split(size: 3, dim: 1)
        #expect(parts.map(\.shape) == [[3, 3], [3, 1]])
        #expect(parts[1].floats == [3, 7, 11])
        #expect(x.split(sizes: [1, 2], dim: 0).map(\.shape) == [[1, 4], [2, 4]])
        #expect(Tensor.arange(5).chunked(3).map(\.ints) == [[0, 1], [2, 3], [4]])
        #expect(x.narrow(dim: 1, start: 1, length: 2).floats == [1, 2, 5, 6, 9, 10])
    }

    @Test("subscripts take integers, negative indices, ranges, steps, ellipsis and new axes")
    func subscripts() {
        #expect(x[0].floats == [0, 1, 2, 3])
        #expect(x[-1].floats == [8, 9, 10, 11])
        #expect(x[1, 2].item(Float.self) == 6)
        #expect(x[0..<2, 1].floats == [1, 5])
        #expect(x[1...2, -1].floats == [7, 11])
        #expect(x[.all, 2...].floats == [2, 3, 6, 7, 10, 11])
        #expect(x[..<1].shape == [1, 4])
        #expect(x[.all, .slice(start: 0, step: 2)].floats == [0, 2, 4, 6, 8, 10])
        #expect(x[.slice(start: -2)].shape == [2, 4])
        #expect(x[.ellipsis, 0].floats == [0, 4, 8])
        #expect(x[.newAxis].shape == [1, 3, 4])
        #expect(x[-2...(-1), 0].floats == [4, 8])
    }

    @Test("boolean masks and index tensors select like NumPy")
    func advancedIndexing() {
        let v = Tensor([5, 6, 7, 8] as [Float])
        #expect(v[v .> 6].floats == [7, 8])
        #expect(v[Tensor([3, 0] as [Int])].floats == [8, 5])
    }

    @Test("subscript assignment writes in place with broadcasting")
    func subscriptAssignment() {
        let t = Tensor.zeros([2, 3])
        t[0] = Tensor([1, 2, 3] as [Float])
        t[1, 1...] = Tensor(Float(9))
        #expect(t.floats == [1, 2, 3, 0, 9, 9])
    }

    @Test("indexSelect, gather, scatter and scatterAdd")
    func gatherScatter() {
        #expect(x.indexSelect(dim: 1, index: Tensor([3, 0] as [Int])).floats == [3, 0, 7, 4, 11, 8])
        let index = Tensor([[0, 0], [1, 0], [3, 2]] as [[Int]])
        #expect(x.gather(dim: 1, index: index).floats == [0, 0, 5, 4, 11, 10])
        let base = Tensor.zeros([2, 3])
        let src = Tensor([[1, 2, 3], [4, 5, 6]] as [[Float]])
        let idx = Tensor([[0, 1, 2], [2, 0, 0]] as [[Int]])
        #expect(base.scatter(dim: 1, index: idx, source: src).floats[3...] == [6, 0, 4])
        #expect(base.scatterAdd(dim: 1, index: idx, source: src).floats == [1, 2, 3, 11, 0, 4])
    }

    @Test("maskedFill, maskedSelect, where, tril and triu")
    func masks() {
        let m = Tensor([[1, 2], [3, 4]] as [[Float]])
        let mask = m .>= 3
        #expect(m.maskedFill(mask, -1.0).floats == [1, 2, -1, -1])
        #expect(m.maskedSelect(mask).floats == [3, 4])
        #expect(Tensor.where(mask, m, -m).floats == [-1, -2, 3, 4])
        #expect(Tensor.ones([3, 3]).tril().floats == [1, 0, 0, 1, 1, 0, 1, 1, 1])
        #expect(Tensor.ones([3, 3]).triu(1).floats == [0, 1, 1, 0, 0, 1, 0, 0, 0])
    }

    @Test("pad adds constant, reflected and replicated borders to the last dimensions")
    func padding() {
        let v = Tensor([1, 2, 3] as [Float], shape: [1, 3])
        #expect(v.pad([1, 2], value: 9).floats == [9, 1, 2, 3, 9, 9])
        #expect(v.pad([0, 0, 1, 0]).shape == [2, 3])
        let batch = v.unsqueezed(0)
        #expect(batch.pad([2, 1], mode: .reflect).floats == [3, 2, 1, 2, 3, 2])
        #expect(batch.pad([1, 1], mode: .replicate).floats == [1, 1, 2, 3, 3])
    }
}
