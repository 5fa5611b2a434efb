/*===- model_abi.h - the contract between a compiled model.so and dlrt -----===
 *
 * Dependency-free and versioned: a model.so built by dlc exports exactly these symbols.
 * The runtime refuses a model whose dl_model_abi_version() differs from
 * DLRT_MODEL_ABI_VERSION.
 *
 *===----------------------------------------------------------------------===*/
#ifndef DLRT_MODEL_ABI_H
#define DLRT_MODEL_ABI_H

#include <stdint.h>

#define DLRT_MODEL_ABI_VERSION 17

#ifdef __cplusplus
extern "C" {
#endif

/* The activation a kernel applies to its result (oneDNN's eltwise post-op), as
 * PyTorch's function of that name computes it; a kernel argument or geometry word. */
enum dlrt_activation {
  DLRT_ACTIVATION_NONE = 0,
  DLRT_ACTIVATION_RELU = 1,
  DLRT_ACTIVATION_SIGMOID = 2,
  DLRT_ACTIVATION_TANH = 3,
  DLRT_ACTIVATION_SILU = 4,
  DLRT_ACTIVATION_GELU_ERF = 5,
  DLRT_ACTIVATION_GELU_TANH = 6,
};

/* How a convolution's activations are laid out in memory; its geometry's last word. */
enum dlrt_layout {
  DLRT_LAYOUT_NCHW = 0,
  DLRT_LAYOUT_NHWC = 1,
  /* NHWC-typed tensors stored in 16-channel blocks, [N][C/16][H][W][16] (oneDNN's
   * nChw16c): what Winograd and direct convolutions on AVX-512 read and write. */
  DLRT_LAYOUT_NCHW16C = 2,
  /* The same in 8-channel blocks (nChw8c): what oneDNN's AVX2 convolutions read and write. */
  DLRT_LAYOUT_NCHW8C = 3,
};

/* The channels per block of a blocked layout; 0 for NCHW and NHWC. */
static inline int64_t dlrt_layout_block(int64_t layout) {
  return layout == DLRT_LAYOUT_NCHW16C ? 16 : layout == DLRT_LAYOUT_NCHW8C ? 8 : 0;
}

/* Whether a conv2d may run by Winograd's algorithm (when oneDNN has a kernel for it): 3x3,
 * stride 1, no dilation, no groups, 64 channels in and out or more. Measured on this
 * project's CPUs: 1.2-2.3x faster than direct convolution on ResNet's layers, slower with
 * fewer channels (0.7-0.9x for 16 -> 32 on 14x14). The compiler hands every convolution
 * whose channels in and out are whole 16-channel blocks its activations in blocks
 * (DLRT_LAYOUT_NCHW16C, or _NCHW8C for a CPU without AVX-512), except where the call
 * updates the weight (a train step); the
 * runtime runs those by Winograd where this rule says so, else by oneDNN's direct kernel
 * on blocks, or by its own Winograd kernel where that was measured faster (up to 128
 * channels, or a CPU without AVX-512, where oneDNN has none: see nativeWinograd in the
 * runtime). */
static inline int dlrt_conv2d_winograd(int64_t c, int64_t oc, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                                       int64_t dh, int64_t dw, int64_t groups) {
  return kh == 3 && kw == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1 && groups == 1 && c >= 64 && oc >= 64;
}

/* Whether a conv2d and the max pooling after it run as one pass of the runtime's own
 * (dlrt_k_conv2d_max_pool_f32) in inference: a first layer, up to 4 channels in (an
 * image's), output channels whole vectors of 8, no groups. oneDNN runs such convolutions
 * at about half the core's peak, and their output is the model's largest tensor, which the
 * fused pass never writes. */
static inline int dlrt_conv2d_max_pool_fused(int64_t c, int64_t oc, int64_t groups) {
  return c >= 1 && c <= 4 && oc > 0 && oc % 8 == 0 && groups == 1;
}

/* Below this much work (rows times the work of a row, about a microsecond's) a generated
 * loop nest that dlrt_k_parallel_rows would split runs whole on the calling thread: a
 * parallel region costs more than that. The compiler does not make a nest of statically
 * smaller work splittable at all (it would only cost compile time). */
#define DLRT_MIN_PARALLEL_ROWS_WORK 32768

/* Resolves a runtime kernel by name ("dlrt_k_dense_f32"); NULL when unknown. */
typedef void *(*dlrt_import_resolver)(const char *name, void *user);

typedef int32_t (*dl_model_abi_version_fn)(void);
/* The model's signature as JSON: inputs, outputs, parameters, symbols. Static storage. */
typedef const char *(*dl_model_signature_fn)(void);
/* Fills every import slot through `resolve`; returns how many names stayed unresolved. */
typedef int32_t (*dl_model_bind_fn)(dlrt_import_resolver resolve, void *user);
/* An entry point: `ctx` is passed to every kernel; `descriptors[i]` points to the MLIR
 * memref descriptor {alloc, aligned, offset, sizes[rank], strides[rank]} of argument i:
 * the entry's inputs, then every parameter, then its outputs (written by the call). */
typedef void (*dl_entry_fn)(void *ctx, void **descriptors);
/* --target cuda: the PTX image of the i-th architecture the signature's "gpu" object
 * lists ("archs"), NUL-terminated, static storage; NULL past the end. The host code calls
 * dlrt_gpu_launch with indices into the signature's "kernels". */
typedef const char *(*dl_model_gpu_code_fn)(int32_t i);
/* Optional (dlc --weights): weights baked into the model, a whole safetensors file in
 * static storage; `*size` receives its length. Sessions start from them. */
typedef const uint8_t *(*dl_model_weights_fn)(uint64_t *size);

#ifdef __cplusplus
}
#endif
#endif
