import CTorch
import Testing
@_spi(CInterop) @testable import Torch

/// The caching CPU allocator is process-wide, and other suites allocate while these tests run: each test uses a size
/// class no other test allocates (44–48 MiB) and asserts only what concurrent work cannot change.
@Suite("Caching CPU allocator", .serialized)
struct CachingAllocatorTests {
    init() { LibTorch.useCachingAllocator() }

    /// 11.3M floats: 45.2 MB, in the 44–48 MiB size class (float64 halves of it too).
    static let count = 11_300_000

    func address(_ t: Tensor) -> UInt {
        UInt(bitPattern: t.withHandle { ct_data_ptr($0) })
    }

    @Test("a freed large block is handed to the next request of its size class, and counted as a hit")
    func reuse() {
        #expect(LibTorch.usesCachingAllocator)
        var first: Tensor? = Tensor.full([Self.count], value: 7, dtype: .float32)
        let block = address(first!)
        let before = LibTorch.cachingAllocatorStatistics
        first = nil
        let second = Tensor.zeros([Self.count - 1000], dtype: .float32)
        let after = LibTorch.cachingAllocatorStatistics
        #expect(address(second) == block)
        #expect(after.hits > before.hits)
        // The reused memory held 7s; what the new tensor's operation wrote is all that shows.
        #expect(second.sum().item(Double.self) == 0)
        #expect(second.abs().sum().item(Double.self) == 0)
        _ = first
    }

    @Test("two live tensors of one size class get different blocks and keep their own values")
    func distinctBlocks() {
        let a = Tensor.full([Self.count], value: 3, dtype: .float32)
        let b = Tensor.full([Self.count], value: 5, dtype: .float32)
        #expect(address(a) != address(b))
        #expect(a.sum().item(Double.self) == 3 * Double(Self.count))
        #expect(b.sum().item(Double.self) == 5 * Double(Self.count))
    }

    @Test("results computed in reused blocks are exact")
    func values() {
        for round in 0..<3 {
            let a = Tensor.full([Self.count], value: Double(round + 1), dtype: .float64).narrow(dim: 0, start: 0, length: Self.count / 2)
            let b = (a * 2 + 1).sum().item(Double.self)
            #expect(b == Double((2 * (round + 1) + 1) * (Self.count / 2)))
        }
    }

    @Test("the cache never holds more than its limit: the blocks freed longest ago are unmapped")
    func limit() {
        let before = LibTorch.cachingAllocatorStatistics
        do {
            // 8 × 45.2 MB = 362 MB of blocks freed together: more than the 256 MiB limit.
            let blocks = (0..<8).map { _ in Tensor.ones([Self.count], dtype: .float32) }
            #expect(blocks.allSatisfy { $0.sum().item(Double.self) == Double(Self.count) })
        }
        let after = LibTorch.cachingAllocatorStatistics
        #expect(after.bytesCached <= 256 << 20)
        #expect(after.releases > before.releases)
        LibTorch.releaseCachedMemory()
        #expect(LibTorch.cachingAllocatorStatistics.releases > after.releases)
    }
}
