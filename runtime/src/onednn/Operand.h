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

/// `d` with another data type, in the same layout (dims and strides; `d` plain).
inline dnnl::memory::desc withType(const dnnl::memory::desc &d, dnnl::memory::data_type t) {
  if (d.data_type() == t) return d;
  dnnl::memory::dims strides(d.data.format_desc.blocking.strides, d.data.format_desc.blocking.strides + d.data.ndims);
  return dnnl::memory::desc(d.dims(), t, strides);
}

} // namespace dlrt
#endif
