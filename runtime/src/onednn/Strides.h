//===- Strides.h - row-major strides for oneDNN descriptors -----*- C++ -*-===//
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

} // namespace dlrt
#endif
