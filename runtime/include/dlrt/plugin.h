/*===- plugin.h - the run-time kernel ABI of dlc plugins -------------------===
 *
 * A plugin's run-time part is a shared library that includes this header and nothing
 * else of dlc: it links against no dlc, MLIR or LLVM library, so a deployed model needs
 * only model.so, libdlrt, oneDNN and the run-time parts of the plugins it uses. The ABI
 * is C, so a plugin built by another compiler works.
 *
 * A plugin exports two functions, which DLRT_PLUGIN below defines:
 *
 *   uint32_t dlrt_plugin_abi_version(void);
 *       The DLRT_PLUGIN_ABI_VERSION the plugin was built with. The runtime refuses a
 *       plugin whose version differs from its own, naming both.
 *   const dlrt_plugin_info *dlrt_plugin_entry(uint32_t runtime_abi_version);
 *       The plugin's name, version and table of layers; NULL when the plugin cannot work
 *       with the runtime's ABI version (the check in the other direction).
 *
 * A kernel receives one call record (dlrt_plugin_call): dense row-major views of its
 * inputs and its outputs, the outputs already allocated with the shapes the layer's
 * shape rule gave; the call's attributes, fixed at compile time; a workspace of the size
 * the layer asked for; the session's thread count with a parallel-for; and an error
 * channel. It returns 0 on success, anything else on failure, after set_error (the
 * runtime prefixes the message with the layer's source location). The call that ran
 * the model then fails with that message and the session stays usable.
 *
 * Kernels must be re-entrant: sessions on several threads call them at once. They must
 * not keep pointers to the views after returning.
 *
 * Forward: inputs = the layer's inputs, then its parameters (in the order its shape rule
 * declared them); outputs = its result, then what the shape rule said it saves.
 * Backward: inputs = the forward's inputs and parameters, the forward's outputs (result
 * and saved), then the gradient of the result; outputs = the gradients of the forward's
 * inputs and parameters, in order (an integer input's entry may be left untouched).
 *
 *===----------------------------------------------------------------------===*/
#ifndef DLRT_PLUGIN_H
#define DLRT_PLUGIN_H

#include <stdint.h>

/* Bumped whenever anything below changes layout or meaning. */
#define DLRT_PLUGIN_ABI_VERSION 1

#ifdef __cplusplus
extern "C" {
#endif

/* Element types, as dlrt.h's dlrt_dtype. */
enum { DLRT_PLUGIN_F32 = 0, DLRT_PLUGIN_I64 = 1, DLRT_PLUGIN_I32 = 2, DLRT_PLUGIN_BF16 = 3, DLRT_PLUGIN_F16 = 4,
       DLRT_PLUGIN_BOOL = 5 };

/* A dense, row-major tensor. */
typedef struct {
  int32_t dtype;
  int32_t rank;
  const int64_t *dims;
  void *data;
} dlrt_plugin_view;

enum { DLRT_PLUGIN_ATTR_NONE = 0, DLRT_PLUGIN_ATTR_INT = 1, DLRT_PLUGIN_ATTR_FLOAT = 2, DLRT_PLUGIN_ATTR_BOOL = 3,
       DLRT_PLUGIN_ATTR_STRING = 4, DLRT_PLUGIN_ATTR_INTS = 5 };

/* One attribute of the call, as the .dl file gave it (defaults filled in). */
typedef struct {
  const char *name;
  int32_t kind;       /* DLRT_PLUGIN_ATTR_* */
  int64_t i;          /* INT, BOOL (0 or 1) */
  double f;           /* FLOAT */
  const char *s;      /* STRING (a dtype attribute: its name) */
  int32_t count;      /* INTS */
  const int64_t *ints;
} dlrt_plugin_attr;

typedef void (*dlrt_plugin_body)(void *arg, int64_t begin, int64_t end);

typedef struct dlrt_plugin_call {
  const char *layer;
  const dlrt_plugin_view *inputs;
  int32_t num_inputs;
  const dlrt_plugin_view *outputs;
  int32_t num_outputs;
  const dlrt_plugin_attr *attrs;
  int32_t num_attrs;
  void *workspace; /* workspace_bytes bytes, 64-byte aligned; NULL when 0 */
  int64_t workspace_bytes;
  int32_t threads; /* the session's thread count */
  /* Runs body over [0, n) split into at most `threads` contiguous ranges, on the
   * session's threads, and returns when all are done. */
  void (*parallel_for)(const struct dlrt_plugin_call *call, int64_t n, dlrt_plugin_body body, void *arg);
  /* Records the call's error message (the first one counts). */
  void (*set_error)(const struct dlrt_plugin_call *call, const char *message);
  void *runtime; /* the runtime's; do not touch */
} dlrt_plugin_call;

/* 0: success. Anything else: failure, with set_error called. */
typedef int32_t (*dlrt_plugin_kernel)(const dlrt_plugin_call *call);
/* Bytes of workspace the call needs, from its views' shapes and its attributes (called
 * just before the kernel, with the same record less the workspace). */
typedef int64_t (*dlrt_plugin_workspace)(const dlrt_plugin_call *call);

typedef struct {
  const char *name;                       /* the layer's name, as in .dl files */
  dlrt_plugin_kernel forward;
  dlrt_plugin_kernel backward;            /* NULL: the layer has no backward kernel */
  dlrt_plugin_workspace forward_workspace; /* NULL: none */
  dlrt_plugin_workspace backward_workspace;
} dlrt_plugin_layer;

typedef struct {
  uint32_t abi_version; /* DLRT_PLUGIN_ABI_VERSION */
  const char *name;     /* the plugin's name */
  uint32_t version_major, version_minor;
  const dlrt_plugin_layer *layers;
  int32_t num_layers;
} dlrt_plugin_info;

typedef uint32_t (*dlrt_plugin_abi_version_fn)(void);
typedef const dlrt_plugin_info *(*dlrt_plugin_entry_fn)(uint32_t runtime_abi_version);

/* The attribute `name` of a call, or NULL. */
static inline const dlrt_plugin_attr *dlrt_plugin_find_attr(const dlrt_plugin_call *call, const char *name) {
  for (int32_t k = 0; k < call->num_attrs; ++k) {
    const char *a = call->attrs[k].name, *b = name;
    while (*a && *a == *b) ++a, ++b;
    if (*a == *b) return &call->attrs[k];
  }
  return 0;
}
static inline double dlrt_plugin_attr_float(const dlrt_plugin_call *call, const char *name, double otherwise) {
  const dlrt_plugin_attr *a = dlrt_plugin_find_attr(call, name);
  if (!a) return otherwise;
  return a->kind == DLRT_PLUGIN_ATTR_FLOAT ? a->f : (double)a->i;
}
static inline int64_t dlrt_plugin_attr_int(const dlrt_plugin_call *call, const char *name, int64_t otherwise) {
  const dlrt_plugin_attr *a = dlrt_plugin_find_attr(call, name);
  return a && (a->kind == DLRT_PLUGIN_ATTR_INT || a->kind == DLRT_PLUGIN_ATTR_BOOL) ? a->i : otherwise;
}
/* The number of elements of a view. */
static inline int64_t dlrt_plugin_numel(const dlrt_plugin_view *v) {
  int64_t n = 1;
  for (int32_t k = 0; k < v->rank; ++k) n *= v->dims[k];
  return n;
}

#if defined(_WIN32)
#define DLRT_PLUGIN_EXPORT __declspec(dllexport)
#else
#define DLRT_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
#define DLRT_PLUGIN_EXTERN_C extern "C"
#else
#define DLRT_PLUGIN_EXTERN_C
#endif

/* Defines the plugin's two entry points: its name (an identifier), version and layers
 * (an array of dlrt_plugin_layer). */
#define DLRT_PLUGIN(NAME, MAJOR, MINOR, LAYERS)                                                         \
  DLRT_PLUGIN_EXTERN_C DLRT_PLUGIN_EXPORT uint32_t dlrt_plugin_abi_version(void) {                       \
    return DLRT_PLUGIN_ABI_VERSION;                                                                     \
  }                                                                                                     \
  DLRT_PLUGIN_EXTERN_C DLRT_PLUGIN_EXPORT const dlrt_plugin_info *dlrt_plugin_entry(uint32_t runtime_abi) { \
    static const dlrt_plugin_info info = {DLRT_PLUGIN_ABI_VERSION, #NAME, (MAJOR), (MINOR), (LAYERS),    \
                                          (int32_t)(sizeof(LAYERS) / sizeof((LAYERS)[0]))};             \
    return runtime_abi == DLRT_PLUGIN_ABI_VERSION ? &info : 0;                                          \
  }

/* For a plugin whose layers are all lowerings (no kernels): an empty table. */
#define DLRT_PLUGIN_NO_KERNELS(NAME, MAJOR, MINOR)                                                        \
  DLRT_PLUGIN_EXTERN_C DLRT_PLUGIN_EXPORT uint32_t dlrt_plugin_abi_version(void) {                       \
    return DLRT_PLUGIN_ABI_VERSION;                                                                     \
  }                                                                                                     \
  DLRT_PLUGIN_EXTERN_C DLRT_PLUGIN_EXPORT const dlrt_plugin_info *dlrt_plugin_entry(uint32_t runtime_abi) { \
    static const dlrt_plugin_info info = {DLRT_PLUGIN_ABI_VERSION, #NAME, (MAJOR), (MINOR), 0, 0};       \
    return runtime_abi == DLRT_PLUGIN_ABI_VERSION ? &info : 0;                                          \
  }

#ifdef __cplusplus
}
#endif
#endif
