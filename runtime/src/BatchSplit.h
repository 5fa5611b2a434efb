//===- BatchSplit.h - inference on slices of the batch, side by side -*- C++ -*-===//
#ifndef DLRT_SRC_BATCHSPLIT_H
#define DLRT_SRC_BATCHSPLIT_H

#include "Arena.h"
#include "KernelContext.h"
#include "dlrt/dlrt.h"

#include <map>
#include <string>
#include <vector>

struct dlrt_session_s;

namespace dlrt {

struct EntryArgs;

/// What one slice of a split inference runs under: a kernel context of its own (one
/// thread, its own primitives, scratch and staging buffers) and an arena of its own.
struct BatchSlice {
  explicit BatchSlice(const dlrt_session_s &s);
  KernelContext kernels;
  Arena arena;
};

/// How many slices an inference with these symbol values runs in: one (the whole call)
/// unless the model allows a split (the signature's "batch_split"), the session has
/// threads to give it, the batch has a row for each, and the call's kernel work, learned
/// on its first run with these values, is worth a second thread (kAllParallelFlops).
/// The choice depends only on the shapes and the session's settings, never on a timing.
int inferenceSlices(const dlrt_session_s &s, const std::map<std::string, int64_t> &syms);

/// Runs inference in `parts` slices of the batch at once, each on the rows of `args` (the
/// entry's arguments, checked by the caller) that hold the batch, and the others whole;
/// the first slice's error, if any, as a status.
dlrt_status inferInSlices(dlrt_session_s &s, int parts, const EntryArgs &args,
                          const std::map<std::string, int64_t> &syms);

} // namespace dlrt
#endif
