//===- GpuSession.cpp - a session on a GPU --------------------------------===//
#include "cuda/GpuSession.h"
#include "Status.h"

namespace dlrt {

namespace {

/// Every tensor the session owns, in a fixed order; only the current parameters and
/// slots where `currentOnly` (the `next` ones are a train step's outputs: their contents
/// matter on neither side between calls).
template <typename F> void forEachSessionTensor(dlrt_session *s, bool currentOnly, F f) {
  for (HostTensor &t : s->params) f(t);
  for (auto &ts : s->slots)
    for (HostTensor &t : ts) f(t);
  if (currentOnly) return;
  for (HostTensor &t : s->nextParams) f(t);
  for (auto &ts : s->nextSlots)
    for (HostTensor &t : ts) f(t);
}

dlrt_status uploadAll(dlrt_session *s) {
  GpuState &g = *s->gpu;
  std::string err;
  bool ok = true;
  forEachSessionTensor(s, true, [&](HostTensor &t) {
    if (ok && t.bytes()) ok = g.device->toDevice(g.mirror.at(t.data()), t.data(), t.bytes(), err);
  });
  if (!ok) return fail("copying the session's parameters to the GPU: " + err);
  g.deviceStale = false;
  return nullptr;
}

} // namespace

GpuState::~GpuState() {
  if (!device) return;
  std::string ignored;
  device->bind(ignored);
  for (auto &[host, dev] : mirror) device->release(dev);
  for (auto &[p, n] : staging) device->release(p);
}

dlrt_status openGpu(dlrt_session *s, int ordinal) {
  std::string err;
  auto g = std::make_unique<GpuState>();
  g->device = cuda::Device::open(ordinal, s->model->code, err);
  if (!g->device) return fail("cannot run '" + s->model->path + "' on CUDA device " + std::to_string(ordinal) + ": " + err);
  bool ok = true;
  forEachSessionTensor(s, false, [&](HostTensor &t) {
    if (!ok) return;
    void *p = g->device->allocate(t.bytes());
    if (!p) ok = false;
    else g->mirror[t.data()] = p;
  });
  s->gpu = std::move(g);
  if (!ok) return fail("out of GPU memory for the session's parameters and optimizer state");
  s->arena.memory = s->gpu->device.get();
  s->kernels.device = s->gpu->device.get();
  return nullptr;
}

dlrt_status syncHostTensors(dlrt_session *s) {
  if (!s->gpu || !s->gpu->hostStale) return nullptr;
  GpuState &g = *s->gpu;
  std::string err;
  if (!g.device->bind(err)) return fail(err);
  bool ok = true;
  forEachSessionTensor(s, true, [&](HostTensor &t) {
    if (ok && t.bytes()) ok = g.device->toHost(t.data(), g.mirror.at(t.data()), t.bytes(), err);
  });
  if (!ok) return fail("copying the session's parameters from the GPU: " + err);
  g.hostStale = false;
  return nullptr;
}

void hostTensorsWritten(dlrt_session *s) {
  if (s->gpu) s->gpu->deviceStale = true;
}

void deviceTensorsWritten(dlrt_session *s) {
  if (s->gpu) s->gpu->hostStale = true;
}

dlrt_status gpuBeginCall(dlrt_session *s, EntryArgs &args, std::vector<std::vector<int64_t>> &descs) {
  GpuState &g = *s->gpu;
  std::string err;
  if (!g.device->bind(err)) return fail(err);
  if (g.deviceStale)
    if (dlrt_status st = uploadAll(s)) return st;
  size_t staged = 0;
  for (EntryArgs::Arg &a : args.args) {
    void *p = a.data;
    if (a.kind == EntryArgs::Kind::Session) {
      p = g.mirror.at(a.data);
    } else if (a.memory == DLRT_HOST) {
      if (staged == g.staging.size()) g.staging.push_back({nullptr, 0});
      auto &[buf, size] = g.staging[staged++];
      if (size < a.bytes) {
        g.device->release(buf);
        buf = g.device->allocate(a.bytes);
        size = buf ? a.bytes : 0;
        if (!buf) return fail("out of GPU memory for a " + std::to_string(a.bytes) + "-byte argument");
      }
      p = buf;
      if (a.kind == EntryArgs::Kind::In && !g.device->toDevice(p, a.data, a.bytes, err))
        return fail("copying an input to the GPU: " + err);
    }
    descs.push_back(descriptor(p, a.dims));
  }
  return nullptr;
}

dlrt_status gpuEndCall(dlrt_session *s, EntryArgs &args, bool succeeded) {
  GpuState &g = *s->gpu;
  std::string err;
  if (!g.device->synchronize(err)) return fail("the GPU failed: " + err);
  if (!succeeded) return nullptr;
  size_t staged = 0;
  for (EntryArgs::Arg &a : args.args) {
    if (a.kind == EntryArgs::Kind::Session || a.memory != DLRT_HOST) continue;
    void *buf = g.staging[staged++].first;
    if (a.kind == EntryArgs::Kind::Out && !g.device->toHost(a.data, buf, a.bytes, err))
      return fail("copying a result from the GPU: " + err);
  }
  return nullptr;
}

} // namespace dlrt
