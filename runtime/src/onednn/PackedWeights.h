//===- PackedWeights.h - weights kept in a primitive's layout ---*- C++ -*-===//
#ifndef DLRT_SRC_ONEDNN_PACKEDWEIGHTS_H
#define DLRT_SRC_ONEDNN_PACKEDWEIGHTS_H

#include "KernelContext.h"

namespace dlrt {

/// A parameter reordered from PyTorch's layout into the one a primitive prefers (blocked
/// or packed), redone only when the parameter may have changed: another buffer, or a new
/// parameter version after set_param / load_weights or a train step.
///
/// Shared (`Sharing::kByParameter`): the reordered copy is the context's for that buffer
/// and layout (KernelContext::sharedPacked), so that sites reading one parameter in one
/// layout reorder it once per version: a train step's convolution and its data gradient
/// (oneDNN's Winograd takes the filters in the same blocks for both: ResNet-18's 512 x 512
/// filters, 1.6 ms a reorder on a Sapphire Rapids core, three layers a step). Only for
/// parameters: a buffer's contents must not change within a version.
class PackedWeights {
public:
  enum class Sharing { kBySite, kByParameter };
  PackedWeights() = default;
  PackedWeights(KernelContext &ctx, const dnnl::memory::desc &user, const dnnl::memory::desc &packed,
                Sharing sharing = Sharing::kBySite)
      : user(user), packed(packed), identity(user == packed), shared(sharing == Sharing::kByParameter),
        buf(identity || shared ? dnnl::memory() : dnnl::memory(packed, ctx.engine)) {}

  /// The weights in the primitive's layout.
  dnnl::memory get(KernelContext &ctx, const void *data) {
    dnnl::memory src(user, ctx.engine, const_cast<void *>(data));
    if (identity) return src;
    if (shared) return sharedCopy(ctx, src, data);
    if (stamp.stale(ctx, data)) {
      dnnl::reorder(src, buf).execute(ctx.stream, src, buf);
      stamp.update(ctx, data);
    }
    return buf;
  }

private:
  /// The context's copy of `data` in `packed`: current, or made current in the copy of a
  /// parameter that is stale (every copy of an older version is), or in a new one.
  dnnl::memory sharedCopy(KernelContext &ctx, dnnl::memory src, const void *data) {
    KernelContext::SharedPacked *slot = nullptr;
    for (auto &e : ctx.sharedPacked) {
      if (e.user != user || e.buf.get_desc() != packed) continue;
      if (!e.stamp.stale(ctx, data)) return e.buf;
      if (e.stamp.version != ctx.paramVersion && !slot) slot = &e;
    }
    if (!slot) {
      ctx.sharedPacked.push_back({user, dnnl::memory(packed, ctx.engine), {}});
      slot = &ctx.sharedPacked.back();
    }
    dnnl::reorder(src, slot->buf).execute(ctx.stream, src, slot->buf);
    slot->stamp.update(ctx, data);
    return slot->buf;
  }

  dnnl::memory::desc user, packed;
  bool identity = true, shared = false;
  dnnl::memory buf;
  ParamStamp stamp;
};

} // namespace dlrt
#endif
