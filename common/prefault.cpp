#include "prefault.hpp"

#include <sys/mman.h>

#include <cstdint>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older headers lack it, older kernels answer EINVAL
#endif

namespace fstore {

void prefault(void* p, size_t bytes) {
  if (!p || bytes < kPrefaultMinBytes) return;
  constexpr uintptr_t kPage = 4096, kHuge = uintptr_t{2} << 20;
  uintptr_t begin = reinterpret_cast<uintptr_t>(p), end = begin + bytes;
  // madvise wants page-aligned ranges: the huge-page hint covers the 2 MB-aligned interior, the
  // population every whole page inside the buffer.
  uintptr_t huge_begin = (begin + kHuge - 1) & ~(kHuge - 1), huge_end = end & ~(kHuge - 1);
  if (huge_end > huge_begin)
    madvise(reinterpret_cast<void*>(huge_begin), huge_end - huge_begin, MADV_HUGEPAGE);
  uintptr_t page_begin = (begin + kPage - 1) & ~(kPage - 1), page_end = end & ~(kPage - 1);
  if (page_end > page_begin)
    madvise(reinterpret_cast<void*>(page_begin), page_end - page_begin, MADV_POPULATE_WRITE);
}

}  // namespace fstore
