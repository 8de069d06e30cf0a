// storage.cpp — the implementation of ctorch_storage.h: files mapped with mmap and tensors over their bytes.
#include "ctorch_storage.h"
#include "internal.h"

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {
using namespace ctorch::abi;

// One mapped file; its destructor unmaps. Held through shared pointers by the handle and by every storage deleter.
struct Mapping {
  void *base = nullptr;
  size_t size = 0;
  Mapping(void *b, size_t s) : base(b), size(s) {}
  Mapping(const Mapping &) = delete;
  Mapping &operator=(const Mapping &) = delete;
  ~Mapping() {
    if (base) munmap(base, size);
  }
};

std::string system_error(const char *path, const char *what, int error) {
  return std::string(path) + ": " + what + ": " + std::strerror(error);
}

std::shared_ptr<Mapping> map_file(const char *path) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  TORCH_CHECK(fd >= 0, system_error(path, "cannot open", errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int error = errno;
    ::close(fd);
    TORCH_CHECK(false, system_error(path, "cannot stat", error));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    TORCH_CHECK(false, path, ": not a regular file");
  }
  size_t size = static_cast<size_t>(st.st_size);
  void *base = nullptr;
  if (size > 0) {
    // Writable but private: pages stay shared with the page cache until someone writes into one.
    base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    int error = errno;
    ::close(fd);
    TORCH_CHECK(base != MAP_FAILED, system_error(path, "cannot map", error));
  } else {
    ::close(fd);
  }
  return std::make_shared<Mapping>(base, size);
}

at::Tensor view_of(const std::shared_ptr<Mapping> &mapping, uint64_t offset, const int64_t *dims, int64_t ndim,
                   int32_t dtype) {
  at::ScalarType type = to_scalar_type(dtype);
  uint64_t bytes = c10::elementSize(type);
  for (int64_t i = 0; i < ndim; ++i) {
    TORCH_CHECK(dims[i] >= 0, "negative size ", dims[i], " in dimension ", i);
    TORCH_CHECK(!__builtin_mul_overflow(bytes, static_cast<uint64_t>(dims[i]), &bytes), "tensor size overflows");
  }
  TORCH_CHECK(offset <= mapping->size && bytes <= mapping->size - offset, "bytes ", offset, "..<", offset, " + ",
              bytes, " lie outside the ", mapping->size, "-byte mapping");
  TORCH_CHECK(offset % c10::elementSize(type) == 0, "offset ", offset, " is not a multiple of the ",
              c10::elementSize(type), "-byte element size");
  void *data = static_cast<char *>(mapping->base) + offset;
  std::shared_ptr<Mapping> keep = mapping;
  return at::from_blob(data, dims_of(dims, ndim), [keep](void *) {}, at::TensorOptions().dtype(type));
}

int discard(const Mapping &mapping, uint64_t offset, uint64_t length) {
  TORCH_CHECK(offset <= mapping.size && length <= mapping.size - offset, "range outside the mapping");
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t start = (offset + page - 1) / page * page;
  const uint64_t end = (offset + length) / page * page;
  if (end > start && madvise(static_cast<char *>(mapping.base) + start, end - start, MADV_DONTNEED) != 0) {
    TORCH_CHECK(false, "madvise failed: ", std::strerror(errno));
  }
  return 0;
}
}  // namespace

struct ct_mapping_s {
  std::shared_ptr<Mapping> mapping;
};

extern "C" {

ct_mapping ct_mapping_open(const char *path) { CT_GUARD(nullptr, return new ct_mapping_s{map_file(path)};) }

void ct_mapping_release(ct_mapping m) { delete m; }

const void *ct_mapping_data(ct_mapping m) { return m->mapping->base; }

uint64_t ct_mapping_size(ct_mapping m) { return m->mapping->size; }

int64_t ct_mapping_use_count(ct_mapping m) { return static_cast<int64_t>(m->mapping.use_count()); }

ct_tensor ct_mapping_tensor(ct_mapping m, uint64_t offset, const int64_t *dims, int64_t ndim, int32_t dtype) {
  CT_TENSOR(view_of(m->mapping, offset, dims, ndim, dtype))
}

int ct_mapping_discard(ct_mapping m, uint64_t offset, uint64_t length) {
  CT_STATUS(discard(*m->mapping, offset, length))
}

const void *ct_data_ptr(ct_tensor t) { return t->t.numel() == 0 ? nullptr : t->t.const_data_ptr(); }

}  // extern "C"
