//===- Activation.cpp - dlrt_activation codes as oneDNN eltwise post-ops --===//
#include "KernelContext.h"
#include "dlrt/model_abi.h"

#include <stdexcept>
#include <string>

namespace dlrt {

void appendActivation(dnnl::post_ops &ops, int64_t activation) {
  using dnnl::algorithm;
  auto add = [&](algorithm alg, float alpha = 0.0f) { ops.append_eltwise(1.0f, alg, alpha, 0.0f); };
  switch (activation) {
  case DLRT_ACTIVATION_NONE: return;
  case DLRT_ACTIVATION_RELU: return add(algorithm::eltwise_relu);
  case DLRT_ACTIVATION_SIGMOID: return add(algorithm::eltwise_logistic);
  case DLRT_ACTIVATION_TANH: return add(algorithm::eltwise_tanh);
  case DLRT_ACTIVATION_SILU: return add(algorithm::eltwise_swish, 1.0f); // x * sigmoid(1 * x)
  case DLRT_ACTIVATION_GELU_ERF: return add(algorithm::eltwise_gelu_erf);
  case DLRT_ACTIVATION_GELU_TANH: return add(algorithm::eltwise_gelu_tanh);
  }
  throw std::invalid_argument("unknown activation code " + std::to_string(activation) +
                              " (a model built for another runtime?)");
}

} // namespace dlrt
