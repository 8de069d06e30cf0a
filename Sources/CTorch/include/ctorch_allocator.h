// ctorch_allocator.h — a caching CPU allocator for libtorch: large blocks are reused by size class instead of going
// back to malloc. The conventions are ctorch.h's.
#ifndef CTORCH_ALLOCATOR_H
#define CTORCH_ALLOCATOR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// What the caching allocator has done since it was installed.
typedef struct {
  /// Large blocks handed out from the cache, and those that had to be mapped.
  uint64_t hits, misses;
  /// Bytes of large blocks held by live tensors now, and the most at any time.
  uint64_t bytes_in_use, peak_bytes_in_use;
  /// Bytes of free large blocks the cache keeps for reuse.
  uint64_t bytes_cached;
  /// Blocks unmapped because keeping them would pass the limit, or by `ct_caching_allocator_release`.
  uint64_t releases;
} ct_allocator_stats;

/// Makes libtorch's CPU tensors take blocks of `min_bytes` or more from the caching allocator (smaller ones keep
/// using malloc), keeping at most `max_cached_bytes` of free blocks. Idempotent; later calls change the two limits.
/// Tensors allocated before the first call keep their memory and free it as before.
int ct_caching_allocator_install(uint64_t min_bytes, uint64_t max_cached_bytes);
/// 1 when installed.
int ct_caching_allocator_installed(void);
/// The counters (all zero before installation).
ct_allocator_stats ct_caching_allocator_stats(void);
/// Unmaps every free cached block (the memory goes back to the system).
void ct_caching_allocator_release(void);

#ifdef __cplusplus
}
#endif

#endif
