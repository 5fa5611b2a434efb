//===- Strides.h - row-major dims and strides for oneDNN -------*- C++ -*-===//
#ifndef DLRT_SRC_ONEDNN_STRIDES_H
#define DLRT_SRC_ONEDNN_STRIDES_H

#include <dnnl.hpp>

namespace dlrt {

/// The strides of a contiguous row-major tensor of dims `d`, as compiled code lays out
/// every buffer it passes to a kernel.
inline dnnl::memory::dims contiguousStrides(const dnnl::memory::dims &d) {
  dnnl::memory::dims s(d.size(), 1);
  for (int i = int(d.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * d[i + 1];
  return s;
}

/// How many elements a tensor of dims `d` has (as a double: kernels weigh work with it).
inline double elementCount(const dnnl::memory::dims &d) {
  double n = 1;
  for (auto v : d) n *= double(v);
  return n;
}

} // namespace dlrt
#endif
