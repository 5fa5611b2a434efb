/*===- dlrt.h - the dlc runtime: load compiled models and run them ---------===
 *
 * A stable C ABI. Conventions, as in IREE's runtime:
 *  - Every fallible call returns a dlrt_status: NULL means success; otherwise the caller
 *    owns the status, reads dlrt_status_message() and frees it with dlrt_status_free().
 *    No call aborts or throws, and a failed call leaves a session usable.
 *  - Handles are opaque. A dlrt_model (a loaded model.so) is immutable and may be shared
 *    by threads; a dlrt_session (parameters, scratch, kernel caches) is used by one thread
 *    at a time. Many sessions may share one model; free sessions before their model.
 *  - Tensors cross the API as dlrt_tensor: the caller owns every buffer it passes.
 *
 *===----------------------------------------------------------------------===*/
#ifndef DLRT_DLRT_H
#define DLRT_DLRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DLRT_API_VERSION 1

typedef struct dlrt_status_s *dlrt_status;
typedef struct dlrt_model_s dlrt_model;
typedef struct dlrt_session_s dlrt_session;

typedef enum { DLRT_F32 = 0, DLRT_I64, DLRT_I32, DLRT_BF16, DLRT_F16, DLRT_BOOL } dlrt_dtype;
typedef enum { DLRT_HOST = 0, DLRT_DEVICE = 1 } dlrt_memory_kind;

/* A tensor the caller owns: `dims` has `rank` entries; data is dense, row-major. */
typedef struct {
  dlrt_dtype dtype;
  int32_t rank;
  const int64_t *dims;
  void *data;
  dlrt_memory_kind memory;
} dlrt_tensor;

/* Describes an input, output or parameter. Strings and arrays are owned by the model
 * and live as long as it. `dims[i]` is a decimal size or an expression of the model's
 * symbolic dims ("B", "(B*T)"). */
typedef struct {
  const char *name;
  dlrt_dtype dtype;
  int32_t rank;
  const char *const *dims;
  int32_t train_only; /* inputs: read only by the train and eval steps */
  int32_t buffer;     /* parameters: a running statistic, saved but not trained */
} dlrt_value_info;

/* ---- status ---------------------------------------------------------------- */
const char *dlrt_status_message(dlrt_status status);
void dlrt_status_free(dlrt_status status);
const char *dlrt_dtype_name(dlrt_dtype dtype);
size_t dlrt_dtype_size(dlrt_dtype dtype);

/* ---- models ---------------------------------------------------------------- */
/* Loads a model.so; fails (with the reason) on a missing file, a library that is not a
 * dlc model, another model ABI, or kernels this runtime does not provide. */
dlrt_status dlrt_model_load(const char *path, dlrt_model **out_model);
void dlrt_model_free(dlrt_model *model);
/* Adds a folder where the run-time parts of plugins (lib<name>_rt.so) are looked for, for
 * models loaded from now on: after the model's own folder and DLRT_PLUGIN_PATH's. A
 * plugin is native code run in this process: add only folders you trust. */
dlrt_status dlrt_add_plugin_dir(const char *dir);
const char *dlrt_model_name(const dlrt_model *model);
/* The full signature as JSON (owned by the model). */
const char *dlrt_model_signature(const dlrt_model *model);
int32_t dlrt_model_abi_version(const dlrt_model *model);
/* 1 when weights were baked into the model (dlc --weights): new sessions start from them
 * instead of the seeded initialisation (and may still load others). */
int32_t dlrt_model_has_weights(const dlrt_model *model);
/* The precision the model's CPU sessions compute in on this machine: "bf16" where it was
 * compiled with --precision bf16 and the CPU has bf16 units (AVX512-BF16 or AMX: dense,
 * matmul and convolutions take bf16 operands and accumulate in fp32), else "fp32". The
 * signature's "precision" says what was asked for. */
const char *dlrt_model_precision(const dlrt_model *model);
int32_t dlrt_model_num_inputs(const dlrt_model *model);
int32_t dlrt_model_num_outputs(const dlrt_model *model);
int32_t dlrt_model_num_params(const dlrt_model *model);
dlrt_status dlrt_model_input(const dlrt_model *model, int32_t index, dlrt_value_info *out);
dlrt_status dlrt_model_output(const dlrt_model *model, int32_t index, dlrt_value_info *out);
dlrt_status dlrt_model_param(const dlrt_model *model, int32_t index, dlrt_value_info *out);

/* ---- sessions -------------------------------------------------------------- */
typedef struct {
  int32_t num_threads; /* 0: oneDNN's default */
  uint64_t seed;       /* parameters are initialised from it as PyTorch initialises them */
  int32_t device;      /* 0: the CPU; N >= 1: CUDA device N-1 (a model compiled with --target cuda) */
} dlrt_session_options;

void dlrt_session_options_init(dlrt_session_options *options);
dlrt_status dlrt_session_create(const dlrt_model *model, const dlrt_session_options *options,
                                dlrt_session **out_session);
void dlrt_session_free(dlrt_session *session);
/* The most bytes the session's intermediate tensors (its arena) may take; 0 (the
 * default): no limit. A call that would need more fails with "out of memory" and
 * changes nothing; the session stays usable (a smaller batch may fit). */
dlrt_status dlrt_session_set_memory_limit(dlrt_session *session, uint64_t bytes);

/* Output shapes for the given inputs (the non-train-only inputs, in model order):
 * out_dims receives each output's dims one after the other (sum of output ranks). */
dlrt_status dlrt_output_shapes(dlrt_session *session, const dlrt_tensor *inputs, int32_t num_inputs,
                               int64_t *out_dims, size_t out_dims_capacity);
/* Runs inference. `inputs`: the model's non-train-only inputs in model order. `outputs`:
 * every output, with caller-owned buffers of the shapes dlrt_output_shapes gives; their
 * dtype, rank and dims are checked. An output's buffer may overlap an input's (computing
 * in place, host memory): the call reads that input from a copy it takes first. Two
 * outputs sharing memory are an error; so is an output over an input in device memory.
 * The same holds for the train and eval steps' outputs and predictions. */
dlrt_status dlrt_infer(dlrt_session *session, const dlrt_tensor *inputs, int32_t num_inputs,
                       dlrt_tensor *outputs, int32_t num_outputs);

/* Peak bytes of intermediate tensors alive at once in any call so far: the lower bound
 * for the arena. */
size_t dlrt_session_arena_peak(const dlrt_session *session);
/* Bytes of the session's arena: intermediate tensors packed by liveness, planned on the
 * first call with each set of input shapes; the largest plan so far. */
size_t dlrt_session_arena_size(const dlrt_session *session);
/* How many slices of the batch the session's last inference ran in, side by side on its
 * threads (1: the whole call at once). Inference is split only where the compiler proved
 * that no sample's result depends on another's (the signature's "batch_split"), on a
 * session of two threads or more, for calls of enough work. */
int32_t dlrt_session_batch_slices(const dlrt_session *session);

/* ---- profiling ---------------------------------------------------------------- */
/* Time per op of the model's dl graph, as the compiler fused and lowered it: an entry is
 * one op ("dense at model.dl:6:8"), several fused into one loop ("relu at model.dl:6:25 +
 * add at model.dl:9:3"), a backward pass ("dense backward at ...") or an optimizer's
 * update. On a GPU each op's work is waited for before the next starts. */
typedef struct {
  const char *op;  /* lives as long as the model */
  double seconds;  /* total over the runs since profiling was turned on */
  int64_t calls;   /* how many times it started */
} dlrt_profile_entry;

/* Turns profiling on (clearing the profile) or off. While on, every inference, train and
 * eval step adds to the profile; while off, timing costs a call and a branch per op. */
dlrt_status dlrt_session_set_profiling(dlrt_session *session, int32_t on);
/* The profile so far, the op with the most time first: fills up to `capacity` entries and
 * returns how many ops have run (capacity 0 or entries NULL counts them). */
int32_t dlrt_session_profile(const dlrt_session *session, dlrt_profile_entry *entries, int32_t capacity);

/* ---- parameters and weights ------------------------------------------------ */
/* Copies a parameter into the caller's tensor (dtype and dims must match). */
dlrt_status dlrt_get_param(dlrt_session *session, const char *name, dlrt_tensor *out);
dlrt_status dlrt_set_param(dlrt_session *session, const char *name, const dlrt_tensor *value);
/* safetensors, keyed by parameter name (PyTorch's state_dict names). Loading checks every
 * tensor and changes nothing on failure; a missing parameter is an error, an unexpected
 * key a warning (collected in `warnings`, which may be NULL; free with dlrt_string_free). */
dlrt_status dlrt_load_weights(dlrt_session *session, const char *path, char **warnings);
dlrt_status dlrt_save_weights(dlrt_session *session, const char *path);
void dlrt_string_free(char *s);

/* ---- training ---------------------------------------------------------------
 * For a model with a `train` block. The train and eval steps take every input of the
 * model, train-only ones (labels, targets) included, in model order. */

/* 1 when model.so has a train step; 0 otherwise, with the reason in `why` (may be NULL;
 * owned by the model): no train block, or an op on the training path without a gradient. */
int32_t dlrt_model_trainable(const dlrt_model *model, const char **why);

/* For a cross_entropy or nll loss (or a loss that sums one such term with others, each
 * scaled by constants) whose labels are a model input: that input's index (the steps then
 * return predictions of the labels' shape); -1 otherwise. */
int32_t dlrt_model_label_input(const dlrt_model *model);

/* What a train or eval step gives back, all optional (NULL: not wanted).
 *  loss:        the step's loss (mean over the batch), before the update.
 *  predictions: for cross_entropy and nll (alone, or the one such term of a sum), the
 *               predicted class of each position (i64, the labels' shape): for accuracy
 *               and confusion matrices.
 *  outputs:     the model's outputs as the step computed them (train mode in the train
 *               step: dropout applied), caller-owned buffers of the shapes
 *               dlrt_output_shapes gives; all of them or none. */
typedef struct {
  float *loss;
  dlrt_tensor *predictions;
  dlrt_tensor *outputs;
  int32_t num_outputs;
} dlrt_step_results;

/* One optimizer step on a batch: forward, loss, backward, update, in one compiled call.
 * A failed step (a label out of range, a kernel error, a non-finite loss) changes no
 * parameter, slot, step count or generator state, and says why. */
dlrt_status dlrt_train_step(dlrt_session *session, const dlrt_tensor *inputs, int32_t num_inputs,
                            dlrt_step_results *results);
/* The loss (and predictions, outputs) without an update: dropout off, batch norm on its
 * running statistics. */
dlrt_status dlrt_eval_step(dlrt_session *session, const dlrt_tensor *inputs, int32_t num_inputs,
                           dlrt_step_results *results);

/* The learning rate of the following steps (initially the one the train block names). */
dlrt_status dlrt_set_lr(dlrt_session *session, double lr);
double dlrt_get_lr(const dlrt_session *session);
/* Optimizer steps taken (PyTorch's `step` of the optimizer state). */
int64_t dlrt_session_steps(const dlrt_session *session);

/* A training checkpoint: the weights plus the optimizer's slots (optim.<param>.<slot>),
 * the step count, learning rate and generator seed, and `user_state` (any string; dlrun
 * keeps its data position there), written atomically (a temporary file in the same
 * folder, synced, then renamed). Loading checks every tensor against the model first
 * and changes nothing on failure; `user_state` (may be NULL) receives the stored string,
 * to free with dlrt_string_free. */
dlrt_status dlrt_save_checkpoint(dlrt_session *session, const char *path, const char *user_state);
dlrt_status dlrt_load_checkpoint(dlrt_session *session, const char *path, char **user_state);

#ifdef __cplusplus
}
#endif
#endif
