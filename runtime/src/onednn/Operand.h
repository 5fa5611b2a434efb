//===- Operand.h - a kernel argument in a primitive's layout and type -*- C++ -*-===//
#ifndef DLRT_SRC_ONEDNN_OPERAND_H
#define DLRT_SRC_ONEDNN_OPERAND_H

#include "KernelContext.h"

#include <optional>
#include <string>

namespace dlrt {

/// A reorder between two descriptors (layouts, data types or both), with the session's
/// scratchpad.
inline dnnl::reorder reorderOf(KernelContext &ctx, const dnnl::memory::desc &from, const dnnl::memory::desc &to) {
  return dnnl::reorder(dnnl::reorder::primitive_desc(ctx.engine, from, ctx.engine, to, kernelAttr()));
}

/// One tensor argument of a primitive: as compiled code passes it (`user`: f32, plain) and
/// as the primitive takes it (`prim`: its blocked layout, or bf16 under --precision bf16),
/// with the reorder between them where they differ.
struct Operand {
  dnnl::memory::desc user, prim;
  std::optional<dnnl::reorder> convert;

  Operand() = default;
  Operand(KernelContext &ctx, const dnnl::memory::desc &user, const dnnl::memory::desc &prim, bool isOutput)
      : user(user), prim(prim) {
    if (user != prim) convert = isOutput ? reorderOf(ctx, prim, user) : reorderOf(ctx, user, prim);
  }

  /// The primitive's view of an input, reordered into `staging` where needed.
  dnnl::memory input(KernelContext &ctx, GrowingBuffer &staging, const void *data) const {
    dnnl::memory m(user, ctx.engine, const_cast<void *>(data));
    if (!convert) return m;
    dnnl::memory staged = ctx.staged(staging, prim);
    ctx.runReorder(*convert, {{DNNL_ARG_FROM, m}, {DNNL_ARG_TO, staged}}, user.get_size());
    return staged;
  }
  /// The primitive's view of an output, in `staging` where it must be reordered after.
  dnnl::memory output(KernelContext &ctx, GrowingBuffer &staging, void *data) const {
    return convert ? ctx.staged(staging, prim) : dnnl::memory(user, ctx.engine, data);
  }
  void finish(KernelContext &ctx, const dnnl::memory &produced, void *data) const {
    if (convert)
      ctx.runReorder(*convert, {{DNNL_ARG_FROM, produced}, {DNNL_ARG_TO, dnnl::memory(user, ctx.engine, data)}},
                     prim.get_size());
  }
};

/// Whether oneDNN chose its reference implementation for a primitive descriptor: correct
/// but many times slower than any other, so kernels try other layouts or types first.
inline bool isReferenceImpl(const dnnl::primitive_desc_base &pd) {
  return std::string(pd.impl_info_str()).rfind("ref", 0) == 0;
}

/// Whether oneDNN's kernel for forward convolution `pd` sums an output over more than its
/// own window, with weights of zero beyond it: its AMX kernel for few input channels
/// ("jit:avx512_core_amx...", taken for 4 or fewer on Sapphire Rapids and later; its
/// brgconv ones are others) packs the filter's columns times the channels into a tile's
/// rows and reads neighbouring pixels into the padding, so a NaN or an infinity beside an
/// output's window made that output NaN where PyTorch's is finite (a 3x3 convolution of
/// 2 channels with one NaN: 16 NaN outputs a channel where PyTorch has 9). The gradients'
/// AMX kernels carry the same name, and run bf16 train steps twice as fast as the others
/// (a NaN in a train step's input makes its loss and every gradient NaN).
inline bool sumsBeyondWindow(const dnnl::primitive_desc_base &pd) {
  return std::string(pd.impl_info_str()).rfind("jit:avx512_core_amx", 0) == 0;
}

/// `pd` moved on to oneDNN's first implementation other than its reference one
/// (isReferenceImpl) and, without `shortcuts`, other than those that sum beyond the window
/// (sumsBeyondWindow); false where no such implementation is left.
inline bool skipToUsableImpl(dnnl::primitive_desc &pd, bool shortcuts) {
  do {
    if (!isReferenceImpl(pd) && (shortcuts || !sumsBeyondWindow(pd))) return true;
  } while (pd.next_impl());
  return false;
}

/// The largest finite bf16 (0x7f7f): a float beyond it rounds to an infinity in bf16.
constexpr float kBf16Largest = 3.3895313892515355e38f;

/// `d` with another data type, in the same layout (dims and strides; `d` plain).
inline dnnl::memory::desc withType(const dnnl::memory::desc &d, dnnl::memory::data_type t) {
  if (d.data_type() == t) return d;
  dnnl::memory::dims strides(d.data.format_desc.blocking.strides, d.data.format_desc.blocking.strides + d.data.ndims);
  return dnnl::memory::desc(d.dims(), t, strides);
}

} // namespace dlrt
#endif
