//===- Model.h - a loaded model.so and a session over it --------*- C++ -*-===//
#ifndef DLRT_SRC_MODEL_H
#define DLRT_SRC_MODEL_H

#include "Arena.h"
#include "KernelContext.h"
#include "Random.h"
#include "Signature.h"
#include "dlrt/model_abi.h"
#include "io/Tensor.h"

struct dlrt_model_s {
  void *handle = nullptr;
  std::string path;
  int32_t abi = 0;
  dlrt::Signature sig;
  dl_entry_fn infer = nullptr;
  std::vector<int> inferInputs; // indices into sig.inputs that inference takes
};

struct dlrt_session_s {
  const dlrt_model_s *model = nullptr;
  std::vector<dlrt::HostTensor> params; // in signature order
  dlrt::KernelContext kernels;
  dlrt::Arena arena; // intermediate tensors of compiled code
  int32_t threads = 0;
  uint64_t seed = 0;
};

#endif
