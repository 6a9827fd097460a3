// Large fresh buffers (millions of entries) made resident in one call before their first use.
//
// A fresh page costs a page fault at its first touch. On virtualized hosts that is expensive
// (about 14 us per 4 kB page measured on the development VM, so 1.2 s for 256 MB), and the
// training-set engine allocates a few hundred MB per call in a new backend. prefault() asks the
// kernel for transparent huge pages on the 2 MB-aligned part of a buffer (MADV_HUGEPAGE, honoured
// when THP is "always" or "madvise") and then populates the whole buffer writable in one call
// (MADV_POPULATE_WRITE, Linux 5.14): 256 MB then take 22 ms instead of 1.2 s on that VM. Contents
// are unchanged. Where the kernel refuses either call, the buffer faults in as before.
#pragma once

#include <algorithm>
#include <cstddef>
#include <utility>

namespace fstore {

// Buffers smaller than this are left to the ordinary page faults.
constexpr size_t kPrefaultMinBytes = size_t{1} << 20;

// Makes [p, p + bytes) resident (see above); does nothing for small buffers.
void prefault(void* p, size_t bytes);

// v.reserve(n), with the new storage prefaulted: a later resize or push_back up to n then touches
// resident memory only.
template <class Vector>
void reserve_prefaulted(Vector& v, size_t n) {
  if (n <= v.capacity()) return;
  v.reserve(n);
  prefault(v.data(), v.capacity() * sizeof(typename Vector::value_type));
}

// v.assign(n, value), into prefaulted storage.
template <class Vector>
void assign_prefaulted(Vector& v, size_t n, const typename Vector::value_type& value) {
  reserve_prefaulted(v, n);
  v.assign(n, value);
}

// v.push_back(x) for a vector that grows to millions of entries: each doubling of its storage is
// prefaulted.
template <class Vector, class T>
void push_back_prefaulted(Vector& v, T&& x) {
  if (v.size() == v.capacity()) reserve_prefaulted(v, std::max<size_t>(4096, v.capacity() * 2));
  v.push_back(std::forward<T>(x));
}

}  // namespace fstore
