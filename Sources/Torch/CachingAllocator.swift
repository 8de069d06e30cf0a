import CTorch

/// What the caching CPU allocator has done since it was installed (see `LibTorch.useCachingAllocator`).
public struct CachingAllocatorStatistics: Sendable, Equatable {
    /// Large blocks handed out again from the cache, and those that had to be mapped fresh.
    public var hits: UInt64, misses: UInt64
    /// Bytes of large blocks that live tensors hold now, and the most they held at any time.
    public var bytesInUse: UInt64, peakBytesInUse: UInt64
    /// Bytes of free large blocks kept for reuse.
    public var bytesCached: UInt64
    /// Blocks given back to the system (over the cache limit, or by `releaseCachedMemory`).
    public var releases: UInt64
}

extension LibTorch {
    /// Makes CPU tensors of `minimumBlockBytes` or more take their memory from a caching allocator: each such block is
    /// its own mapping, sized to one of eight classes per power of two, and a freed block is kept for the next request
    /// of its class (at most `maximumCachedBytes` of them; more are unmapped). A training step allocates the same
    /// activations every step, so from the second step on they are reused without page faults, and memory cannot
    /// fragment the way glibc's heap does when small long-lived allocations land between large freed ones.
    /// Values are never affected. Process-wide and idempotent: a later call only changes the two limits; tensors
    /// that exist before the first call keep their memory.
    public static func useCachingAllocator(minimumBlockBytes: Int = 256 << 10, maximumCachedBytes: Int = 256 << 20) {
        precondition(minimumBlockBytes >= 4096 && maximumCachedBytes >= 0, "the smallest cached block is at least a page and the limit not negative")
        check(ct_caching_allocator_install(UInt64(minimumBlockBytes), UInt64(maximumCachedBytes)), "useCachingAllocator")
    }

    /// Whether `useCachingAllocator` has been called in this process.
    public static var usesCachingAllocator: Bool { ct_caching_allocator_installed() != 0 }

    /// The caching allocator's counters (all zero when it is not installed).
    public static var cachingAllocatorStatistics: CachingAllocatorStatistics {
        let s = ct_caching_allocator_stats()
        return CachingAllocatorStatistics(hits: s.hits, misses: s.misses, bytesInUse: s.bytes_in_use,
                                          peakBytesInUse: s.peak_bytes_in_use, bytesCached: s.bytes_cached, releases: s.releases)
    }

    /// Gives every free cached block back to the system.
    public static func releaseCachedMemory() { ct_caching_allocator_release() }
}
