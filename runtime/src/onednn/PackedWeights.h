//===- PackedWeights.h - weights kept in a primitive's layout ---*- C++ -*-===//
#ifndef DLRT_SRC_ONEDNN_PACKEDWEIGHTS_H
#define DLRT_SRC_ONEDNN_PACKEDWEIGHTS_H

#include "KernelContext.h"
#include "native/FilterBlocks.h"

namespace dlrt {

/// Filters from layout `from` at `src` into `to` at `dst` by native/FilterBlocks where one
/// is OIHW and the other oneDNN's 16 x 16 blocks (ABcd16b16a) and it runs them, on the
/// current kernel's threads; false, with nothing written, elsewhere.
inline bool moveFilterBlocks(KernelContext &ctx, const dnnl::memory::desc &from, const void *src,
                             const dnnl::memory::desc &to, void *dst) {
  using tag = dnnl::memory::format_tag;
  const dnnl::memory::dims d = from.dims();
  if (d.size() != 4 || from.data_type() != dnnl::memory::data_type::f32 || to.dims() != d ||
      !native::filterBlocksSupported(d[0], d[1], d[2] * d[3]))
    return false;
  const dnnl::memory::desc plain(d, dnnl::memory::data_type::f32, tag::abcd),
      blocks(d, dnnl::memory::data_type::f32, tag::ABcd16b16a);
  if (from == plain && to == blocks)
    native::toFilterBlocks(ctx.threadCount, d[0], d[1], d[2] * d[3], static_cast<const float *>(src),
                           static_cast<float *>(dst));
  else if (from == blocks && to == plain)
    native::fromFilterBlocks(ctx.threadCount, d[0], d[1], d[2] * d[3], static_cast<const float *>(src),
                             static_cast<float *>(dst));
  else
    return false;
  return true;
}

/// src into dst, which differ in layout: natively where moveFilterBlocks runs it, else
/// by oneDNN's reorder.
inline void reorderFilters(KernelContext &ctx, dnnl::memory src, dnnl::memory dst) {
  if (moveFilterBlocks(ctx, src.get_desc(), src.get_data_handle(), dst.get_desc(), dst.get_data_handle())) return;
  dnnl::reorder(src, dst).execute(ctx.stream, src, dst);
}

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
      reorderFilters(ctx, src, buf);
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
    reorderFilters(ctx, src, slot->buf);
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
