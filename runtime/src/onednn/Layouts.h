//===- Layouts.h - the compiler's activation layouts in oneDNN's terms -*- C++ -*-===//
#ifndef DLRT_SRC_ONEDNN_LAYOUTS_H
#define DLRT_SRC_ONEDNN_LAYOUTS_H

#include "dlrt/model_abi.h"

#include <dnnl.hpp>

namespace dlrt {

/// oneDNN's format of channel blocks of `block` channels, 8 or 16: nChw8c or nChw16c.
inline dnnl::memory::format_tag channelBlocksTag(int64_t block) {
  return block == 8 ? dnnl::memory::format_tag::nChw8c : dnnl::memory::format_tag::nChw16c;
}

/// A dlrt_layout (model_abi.h) as oneDNN's format of an activation of NCHW sizes.
inline dnnl::memory::format_tag activationTag(int64_t layout) {
  if (int64_t block = dlrt_layout_block(layout)) return channelBlocksTag(block);
  return layout == DLRT_LAYOUT_NHWC ? dnnl::memory::format_tag::nhwc : dnnl::memory::format_tag::nchw;
}

/// Where element (b, ch, row, col) of an activation of `c` channels and `rows` x `cols`
/// pixels lies in `layout`, in elements.
inline int64_t activationOffset(int64_t layout, int64_t c, int64_t rows, int64_t cols, int64_t b, int64_t ch,
                                int64_t row, int64_t col) {
  if (layout == DLRT_LAYOUT_NHWC) return ((b * rows + row) * cols + col) * c + ch;
  if (int64_t block = dlrt_layout_block(layout))
    return (((b * (c / block) + ch / block) * rows + row) * cols + col) * block + ch % block;
  return ((b * c + ch) * rows + row) * cols + col;
}

} // namespace dlrt
#endif
