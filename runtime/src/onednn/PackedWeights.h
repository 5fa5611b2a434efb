//===- PackedWeights.h - weights kept in a primitive's layout ---*- C++ -*-===//
#ifndef DLRT_SRC_ONEDNN_PACKEDWEIGHTS_H
#define DLRT_SRC_ONEDNN_PACKEDWEIGHTS_H

#include "KernelContext.h"

namespace dlrt {

/// A parameter reordered from PyTorch's layout into the one a primitive prefers (blocked
/// or packed), redone only when the parameter may have changed: another buffer, or a new
/// parameter version after set_param / load_weights.
class PackedWeights {
public:
  PackedWeights() = default;
  PackedWeights(KernelContext &ctx, const dnnl::memory::desc &user, const dnnl::memory::desc &packed)
      : user(user), identity(user == packed), buf(identity ? dnnl::memory() : dnnl::memory(packed, ctx.engine)) {}

  /// The weights in the primitive's layout.
  dnnl::memory get(KernelContext &ctx, const void *data) {
    dnnl::memory src(user, ctx.engine, const_cast<void *>(data));
    if (identity) return src;
    if (stamp.stale(ctx, data)) {
      dnnl::reorder(src, buf).execute(ctx.stream, src, buf);
      stamp.update(ctx, data);
    }
    return buf;
  }

private:
  dnnl::memory::desc user;
  bool identity = true;
  dnnl::memory buf;
  ParamStamp stamp;
};

} // namespace dlrt
#endif
