// ctorch_storage.h — tensors over memory libtorch did not allocate: a file mapped into memory, and tensors that view
// its bytes without copying them. The conventions are ctorch.h's (NULL or -1 on failure, message in ct_last_error).
#ifndef CTORCH_STORAGE_H
#define CTORCH_STORAGE_H

#include "ctorch.h"

#ifdef __cplusplus
extern "C" {
#endif

/// A whole file mapped copy-on-write (MAP_PRIVATE, readable and writable): tensors made from it read the file's pages,
/// and writes into them (an optimizer updating adopted weights) stay private to the process; the file never changes.
/// The mapping is reference counted: the handle and every tensor made from it hold a reference, and the pages are
/// unmapped when the last one goes.
typedef struct ct_mapping_s *ct_mapping;

/// Maps the regular file at `path`; NULL on failure, with a message naming the file and the system's reason.
ct_mapping ct_mapping_open(const char *path);
/// Drops the handle's reference (tensors made from the mapping keep theirs).
void ct_mapping_release(ct_mapping m);
/// The first mapped byte (NULL for an empty file) and the number of bytes.
const void *ct_mapping_data(ct_mapping m);
uint64_t ct_mapping_size(ct_mapping m);
/// How many references the mapping has: 1 for the handle plus one per live tensor storage made from it.
int64_t ct_mapping_use_count(ct_mapping m);
/// A contiguous CPU tensor of `dtype` and `dims` whose elements are the mapping's bytes from `offset` on — no copy;
/// the tensor holds a reference to the mapping. Fails when the bytes do not lie inside the mapping or `offset` is not
/// a multiple of the element size.
ct_tensor ct_mapping_tensor(ct_mapping m, uint64_t offset, const int64_t *dims, int64_t ndim, int32_t dtype);
/// Tells the kernel that the pages lying wholly inside [offset, offset + length) will not be read again, so it can
/// drop them now (a later read would fetch them from the file again). Only for ranges that no tensor made from the
/// mapping still uses: pages written through such a tensor would lose the writes.
int ct_mapping_discard(ct_mapping m, uint64_t offset, uint64_t length);

/// The address of the tensor's first element (NULL when it has none), to check whether tensors share memory.
const void *ct_data_ptr(ct_tensor t);

#ifdef __cplusplus
}
#endif
#endif
