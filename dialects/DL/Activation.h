//===- Activation.h - activations a dense or convolution may apply --------===//
//
// The `activation` attribute of dl.dense and dl.conv2d: an activation applied to the
// op's result inside the op (fusion sets it; autodiff never sees it). The dialect owns
// these codes; the CPU lowering passes them on to the runtime's kernels, whose ABI
// (model_abi.h's dlrt_activation) is checked to use the same numbers where they meet.
//
//===----------------------------------------------------------------------===//
#ifndef DLC_DIALECTS_DL_ACTIVATION_H
#define DLC_DIALECTS_DL_ACTIVATION_H

#include <cstdint>

namespace mlir::dl {

enum Activation : int64_t {
  ActivationNone = 0,
  ActivationRelu = 1,
  ActivationSigmoid = 2,
  ActivationTanh = 3,
  ActivationSilu = 4,
  ActivationGeluErf = 5,
  ActivationGeluTanh = 6,
};

} // namespace mlir::dl
#endif
