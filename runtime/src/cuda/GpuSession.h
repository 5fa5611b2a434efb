//===- GpuSession.h - a session on a GPU ------------------------*- C++ -*-===//
//
// A cuda session keeps its parameters and optimizer state in device memory, with the
// host tensors of the session as their mirror for the API (get/set_param, weights and
// checkpoint files). Which side is newer is tracked, and the other side brought up to
// date only when it is read: a train step leaves the device newer; set_param, loading
// weights or a checkpoint leave the host newer.
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_SRC_CUDA_GPUSESSION_H
#define DLRT_SRC_CUDA_GPUSESSION_H

#include "Model.h"

#include <unordered_map>

namespace dlrt {

struct GpuState {
  std::unique_ptr<cuda::Device> device;
  /// The device copy of each session tensor, by its host data pointer (which stays with
  /// the tensor's storage when the train step swaps parameter sets).
  std::unordered_map<const void *, void *> mirror;
  /// Device buffers for the caller's host tensors, by position in the call; grown.
  std::vector<std::pair<void *, size_t>> staging;
  bool hostStale = false, deviceStale = true;
  ~GpuState();
};

/// Opens GPU `ordinal` for `s` (a model compiled with --target cuda) and gives each of
/// its tensors a device copy; the arena then allocates device memory.
dlrt_status openGpu(dlrt_session *s, int ordinal);
/// Before the host reads the session's tensors: brings them up to date from the device.
dlrt_status syncHostTensors(dlrt_session *s);
/// After the host wrote the session's tensors: the device copies are stale.
void hostTensorsWritten(dlrt_session *s);
/// After a train step swapped in the parameters it wrote on the device.
void deviceTensorsWritten(dlrt_session *s);
/// Around a cuda session's call: the descriptors for `args` (device pointers), the inputs
/// copied in; then the outputs copied out (when the call succeeded).
dlrt_status gpuBeginCall(dlrt_session *s, EntryArgs &args, std::vector<std::vector<int64_t>> &descs);
dlrt_status gpuEndCall(dlrt_session *s, EntryArgs &args, bool succeeded);

} // namespace dlrt
#endif
