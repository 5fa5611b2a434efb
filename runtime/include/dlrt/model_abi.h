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

#define DLRT_MODEL_ABI_VERSION 3

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

#ifdef __cplusplus
}
#endif
#endif
