//===- KernelTable.cpp - name -> kernel, for dl_model_bind ----------------===//
#include "KernelContext.h"
#include "Plugins.h"
#include "Profile.h"
#include "onednn/Kernels.h"

#include <cstring>

namespace dlrt {

void *resolveKernel(const char *name, void *) {
  struct Entry {
    const char *name;
    void *fn;
  };
  static const Entry table[] = {
      {"dlrt_k_dense_f32", reinterpret_cast<void *>(&dlrt_k_dense_f32)},
      {"dlrt_k_matmul_f32", reinterpret_cast<void *>(&dlrt_k_matmul_f32)},
      {"dlrt_k_conv2d_f32", reinterpret_cast<void *>(&dlrt_k_conv2d_f32)},
      {"dlrt_k_deconv2d_f32", reinterpret_cast<void *>(&dlrt_k_deconv2d_f32)},
      {"dlrt_k_conv2d_max_pool_f32", reinterpret_cast<void *>(&dlrt_k_conv2d_max_pool_f32)},
      {"dlrt_k_conv2d_backward_data_f32", reinterpret_cast<void *>(&dlrt_k_conv2d_backward_data_f32)},
      {"dlrt_k_conv2d_backward_weights_f32", reinterpret_cast<void *>(&dlrt_k_conv2d_backward_weights_f32)},
      {"dlrt_k_pool2d_f32", reinterpret_cast<void *>(&dlrt_k_pool2d_f32)},
      {"dlrt_k_pool2d_workspace_bytes", reinterpret_cast<void *>(&dlrt_k_pool2d_workspace_bytes)},
      {"dlrt_k_pool2d_backward_f32", reinterpret_cast<void *>(&dlrt_k_pool2d_backward_f32)},
      {"dlrt_k_pool2d_grad_f32", reinterpret_cast<void *>(&dlrt_k_pool2d_grad_f32)},
      {"dlrt_k_layer_norm_f32", reinterpret_cast<void *>(&dlrt_k_layer_norm_f32)},
      {"dlrt_k_batch_norm_f32", reinterpret_cast<void *>(&dlrt_k_batch_norm_f32)},
      {"dlrt_k_batch_norm_backward_f32", reinterpret_cast<void *>(&dlrt_k_batch_norm_backward_f32)},
      {"dlrt_k_batch_norm_max_pool_f32", reinterpret_cast<void *>(&dlrt_k_batch_norm_max_pool_f32)},
      {"dlrt_k_softmax_f32", reinterpret_cast<void *>(&dlrt_k_softmax_f32)},
      {"dlrt_k_softmax_backward_f32", reinterpret_cast<void *>(&dlrt_k_softmax_backward_f32)},
      {"dlrt_k_layer_norm_backward_f32", reinterpret_cast<void *>(&dlrt_k_layer_norm_backward_f32)},
      {"dlrt_k_self_attention_f32", reinterpret_cast<void *>(&dlrt_k_self_attention_f32)},
      {"dlrt_k_self_attention_backward_f32", reinterpret_cast<void *>(&dlrt_k_self_attention_backward_f32)},
      {"dlrt_k_rnn_f32", reinterpret_cast<void *>(&dlrt_k_rnn_f32)},
      {"dlrt_k_rnn_workspace_bytes", reinterpret_cast<void *>(&dlrt_k_rnn_workspace_bytes)},
      {"dlrt_k_rnn_backward_f32", reinterpret_cast<void *>(&dlrt_k_rnn_backward_f32)},
      {"dlrt_k_rnn_grad_f32", reinterpret_cast<void *>(&dlrt_k_rnn_grad_f32)},
      {"dlrt_k_transpose_f32", reinterpret_cast<void *>(&dlrt_k_transpose_f32)},
      {"dlrt_k_block_channels_f32", reinterpret_cast<void *>(&dlrt_k_block_channels_f32)},
      {"dlrt_k_alloc", reinterpret_cast<void *>(&dlrt_k_alloc)},
      {"dlrt_k_free", reinterpret_cast<void *>(&dlrt_k_free)},
      {"dlrt_k_aligned_alloc", reinterpret_cast<void *>(&dlrt_k_aligned_alloc)},
      {"dlrt_k_check_ids", reinterpret_cast<void *>(&dlrt_k_check_ids)},
      {"dlrt_k_check_size", reinterpret_cast<void *>(&dlrt_k_check_size)},
      {"dlrt_k_check_count", reinterpret_cast<void *>(&dlrt_k_check_count)},
      {"dlrt_k_profile", reinterpret_cast<void *>(&dlrt_k_profile)},
      {"dlrt_k_parallel_rows", reinterpret_cast<void *>(&dlrt_k_parallel_rows)},
  };
  for (const Entry &e : table)
    if (std::strcmp(e.name, name) == 0) return e.fn;
  return resolvePluginTrampoline(name);
}

} // namespace dlrt
