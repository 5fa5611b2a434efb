//===- Kernels.h - the kernels compiled code calls --------------*- C++ -*-===//
//
// Names and signatures are part of the model ABI (model_abi.h): a model.so resolves them
// through dl_model_bind. Every kernel takes the session's KernelContext first.
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_SRC_ONEDNN_KERNELS_H
#define DLRT_SRC_ONEDNN_KERNELS_H

#include <cstdint>

extern "C" {
/// y[m, n] = act(x[m, k] W[n, k]^T + bias[n]) (bias may be NULL); act: a dlrt_activation.
/// nhwc, when not NULL, is [C, H, W, B]: x's rows are tensors in blocks of B channels
/// flattened ([C/B][H][W][B], k = C*H*W; B = C: NHWC) while W's columns follow the NCHW
/// order, as PyTorch flattens.
void dlrt_k_dense_f32(void *ctx, int64_t site, int64_t m, int64_t k, int64_t n, const float *x,
                      const float *w, const float *bias, float *y, int64_t activation, const int64_t *nhwc);
/// torch.matmul on operands of equal rank (left-padded with 1s): dims holds a's dims then
/// b's; batch dims broadcast. `transposed` bit 0 (a) and bit 1 (b): that operand's buffer
/// holds it with the last two dims exchanged (its transpose, contiguous), so that a
/// gradient's dY^T X reads dY in place.
void dlrt_k_matmul_f32(void *ctx, int64_t site, int64_t rank, const int64_t *dims, const float *a,
                       const float *b, float *c, int64_t transposed);
/// Convolution, NCHW/OIHW. geom: N C H W OC KH KW OH OW SH SW PT PL PB PR DH DW G ACT
/// CHANNELS_LAST (dilations as PyTorch counts them; ACT a dlrt_activation applied inside,
/// after the residual). bias may be NULL. bn,
/// when not NULL, holds the addresses of a following batch_norm's weight, bias,
/// running_mean and running_var, folded in with `bn_eps`. accumulate != 0: y holds a skip
/// tensor on entry, to which the convolution is added (before the activation: a oneDNN sum
/// post-op); compiled code puts the skip tensor there, or writes over a dead one.
void dlrt_k_conv2d_f32(void *ctx, int64_t site, const int64_t *geom, const float *x, const float *w,
                       const float *bias, float *y, const int64_t *bn, double bn_eps, int64_t accumulate);
/// y = max_pool2d(conv2d(x, w, bias)), relu'd where the pooling geometry's activation word
/// says so, in one pass (native/ConvPool.h): conv as dlrt_k_conv2d_f32's geom (groups 1,
/// input NCHW or NHWC), pool as dlrt_k_pool2d_f32's (max; output NHWC or channel blocks).
/// The compiler fuses the pair where dlrt_conv2d_max_pool_fused says so. bn as for conv2d.
void dlrt_k_conv2d_max_pool_f32(void *ctx, int64_t site, const int64_t *conv, const int64_t *pool, const float *x,
                                const float *w, const float *bias, float *y, const int64_t *bn, double bn_eps);
/// The gradients of dlrt_k_conv2d_f32 (geom as there, NCHW, no fused bias, batch norm,
/// residual or activation): dx from dy and the weight, and dw from x and dy.
void dlrt_k_conv2d_backward_data_f32(void *ctx, int64_t site, const int64_t *geom, const float *dy, const float *w,
                                     float *dx);
void dlrt_k_conv2d_backward_weights_f32(void *ctx, int64_t site, const int64_t *geom, const float *x,
                                        const float *dy, float *dw);
/// Transposed convolution; weight [IC, OC/G, KH, KW] as PyTorch stores it; geom as for
/// conv2d with OH OW the output size and the paddings oneDNN's (right = PyTorch's padding
/// less output_padding).
void dlrt_k_deconv2d_f32(void *ctx, int64_t site, const int64_t *geom, const float *x, const float *w,
                         const float *bias, float *y);
/// Max or average (padding counted) pooling. geom: N C H W OH OW KH KW SH SW PT PL PB PR
/// is_max channels_last. workspace NULL: inference. Otherwise the training form, which
/// fills `workspace` (dlrt_k_pool2d_workspace_bytes long) for the backward pass.
void dlrt_k_pool2d_f32(void *ctx, int64_t site, const int64_t *geom, const float *x, float *y, void *workspace);
/// The workspace size of the training form of a pooling site (at least 1 byte), in *bytes.
void dlrt_k_pool2d_workspace_bytes(void *ctx, int64_t site, const int64_t *geom, int64_t *bytes);
/// dx = the gradient of pooling for dy, from the workspace of the training-form forward at
/// `forward_site` (unused by average pooling). geom as for the forward.
void dlrt_k_pool2d_backward_f32(void *ctx, int64_t site, int64_t forward_site, const int64_t *geom,
                                const float *dy, const void *workspace, float *dx);
/// dx = the gradient of pooling for dy, from the forward's input x: max pooling reruns
/// the training-form forward to find where each maximum came from (the train step keeps
/// x, which it holds anyway, rather than a workspace). geom as for the forward.
void dlrt_k_pool2d_grad_f32(void *ctx, int64_t site, const int64_t *geom, const float *x, const float *dy,
                            float *dx);
/// layer_norm of x viewed as [rows, cols] over cols, then * gamma + beta ([cols]). mean and
/// var NULL: inference; otherwise the training form, which writes each row's mean and
/// biased variance ([rows]) for the backward pass.
void dlrt_k_layer_norm_f32(void *ctx, int64_t site, int64_t rows, int64_t cols, const float *x,
                           const float *gamma, const float *beta, float *y, double eps, float *mean, float *var);
/// batch_norm over the channels of x (dims: N C spatial..., rank 2 to 5, contiguous; with
/// channels_last a 4-d x stored N H W C, its dims given so). training 0: normalises with
/// mean and var (the running statistics); training 1: computes the batch's mean and biased
/// variance into them and normalises with those; training 2: as 1, y relu'd as it is
/// stored (NaN kept, as torch.relu): the relu that follows a train step's batch_norm.
/// residual (training form; null for none): added to y before the relu, a skip connection.
void dlrt_k_batch_norm_f32(void *ctx, int64_t site, int64_t rank, const int64_t *dims, const float *x,
                           const float *gamma, const float *beta, float *mean, float *var, float *y, double eps,
                           int64_t training, int64_t channels_last, const float *residual);
/// max_pool2d(batch_norm(x)) with the batch statistics, in training form: the pooled
/// result, the pooling's workspace (dlrt_k_pool2d_workspace_bytes of g) and the
/// statistics, x of geometry g (dlrt_k_pool2d_f32's words; NHWC or NCHW as g's layout says);
/// the batch norm's result is not stored where native/BatchNorm.h's fused pass takes g.
void dlrt_k_batch_norm_max_pool_f32(void *ctx, int64_t site, const int64_t *geom, const float *x, const float *gamma,
                                   const float *beta, float *mean, float *var, float *pooled, void *workspace,
                                   double eps);
/// The gradients of the training form of batch_norm: dx, dgamma and dbeta from dy, the
/// forward's x and gamma, and the batch mean and biased variance it computed. dims as there.
void dlrt_k_batch_norm_backward_f32(void *ctx, int64_t site, int64_t rank, const int64_t *dims, const float *x,
                                    const float *gamma, const float *mean, const float *var, const float *dy,
                                    float *dx, float *dgamma, float *dbeta, double eps, int64_t channels_last);
/// The gradients of the training form of layer_norm: dx, dgamma and dbeta ([cols]) from
/// dy, the forward's x and gamma, and the mean and biased variance ([rows]) it computed.
void dlrt_k_layer_norm_backward_f32(void *ctx, int64_t site, int64_t rows, int64_t cols, const float *x,
                                    const float *gamma, const float *mean, const float *var, const float *dy,
                                    float *dx, float *dgamma, float *dbeta, double eps);
/// softmax (log 0) or log_softmax (log 1) of a contiguous tensor along `axis`.
void dlrt_k_softmax_f32(void *ctx, int64_t site, int64_t rank, const int64_t *dims, int64_t axis, const float *x,
                        float *y, int64_t log);
/// dx, the gradient of softmax (log 0) or log_softmax (log 1) along `axis`, from its
/// output y and dy (all contiguous, of y's dims).
void dlrt_k_softmax_backward_f32(void *ctx, int64_t site, int64_t rank, const int64_t *dims, int64_t axis,
                                 const float *y, const float *dy, float *dx, int64_t log);
/// dl.self_attention: out [B, T, E] from nn.MultiheadAttention's packed projection qkv
/// [B, T, 3E], `heads` heads, causal 0 or 1 (native/SelfAttention).
void dlrt_k_self_attention_f32(void *ctx, int64_t site, int64_t batch, int64_t steps, int64_t embed, int64_t heads,
                               int64_t causal, const float *qkv, float *out);
/// Its gradient: dqkv [B, T, 3E] from qkv and the result's gradient dy [B, T, E].
void dlrt_k_self_attention_backward_f32(void *ctx, int64_t site, int64_t batch, int64_t steps, int64_t embed,
                                        int64_t heads, int64_t causal, const float *qkv, const float *dy,
                                        float *dqkv);
/// Stacked LSTM (is_gru 0) or GRU over a batch-first sequence. geom: B T I H layers is_gru
/// sequences; weights: the addresses of PyTorch's per-layer weight_ih, weight_hh, bias_ih,
/// bias_hh. y is [B, T, H] with sequences, else [B, H]. workspace NULL: inference.
/// Otherwise the training form, which keeps in `workspace` (dlrt_k_rnn_workspace_bytes
/// long) each layer's gates and output sequence for the backward pass.
void dlrt_k_rnn_f32(void *ctx, int64_t site, const int64_t *geom, const int64_t *weights, const float *x, float *y,
                    void *workspace);
/// The workspace size of the training form of a recurrent site (at least 1 byte), into
/// *bytes.
void dlrt_k_rnn_workspace_bytes(void *ctx, int64_t site, const int64_t *geom, int64_t *bytes);
/// The gradients of dlrt_k_rnn_f32 (geom and weights as there, and geom[7]: whether dx is
/// wanted) for dy (y's shape), from the input x, and the output y and workspace of the
/// training-form forward at `forward_site`: dx ([B, T, I]; where not wanted, it may be
/// left unwritten) and, in `dweights`, every parameter's in PyTorch's order (per layer
/// weight_ih, weight_hh, bias_ih, bias_hh), contiguous.
void dlrt_k_rnn_backward_f32(void *ctx, int64_t site, int64_t forward_site, const int64_t *geom,
                             const int64_t *weights, const float *x, const float *y, const void *workspace,
                             const float *dy, float *dx, float *dweights);
/// dlrt_k_rnn_backward_f32 without a forward to pair with: reruns the training-form
/// forward from x first.
void dlrt_k_rnn_grad_f32(void *ctx, int64_t site, const int64_t *geom, const int64_t *weights, const float *x,
                         const float *dy, float *dx, float *dweights);
/// y = x transposed: y's dim i is x's dim perm[i]; dims are x's. Both contiguous.
void dlrt_k_transpose_f32(void *ctx, int64_t site, int64_t rank, const int64_t *dims, const int64_t *perm,
                          const float *x, float *y);
/// y = x (an NHWC tensor of NCHW sizes `nchw`) in blocks of `block` channels, 16 or 8
/// (nChw16c, nChw8c), or back from them with `inverse`. C must be a multiple of `block`.
void dlrt_k_block_channels_f32(void *ctx, int64_t site, const int64_t *nchw, const float *x, float *y,
                               int64_t inverse, int64_t block);
/// malloc and free of compiled code, served by the session's Arena.
void *dlrt_k_alloc(int64_t bytes);
void dlrt_k_free(void *p);
/// aligned_alloc of compiled code: the arena's blocks are 64-byte aligned; a larger
/// alignment (which dlc does not ask for) comes from the heap, which dlrt_k_free frees too.
void *dlrt_k_aligned_alloc(int64_t alignment, int64_t bytes);
/// Records an error naming the site unless every id (i32 or i64, `elem_bytes` wide) is in [0, limit).
void dlrt_k_check_ids(void *ctx, int64_t site, const void *ids, int64_t count, int64_t elem_bytes, int64_t limit);
/// Records an error naming the site unless size <= limit.
void dlrt_k_check_size(void *ctx, int64_t site, int64_t size, int64_t limit);
/// Records an error naming the site unless count >= min (values per channel in training).
void dlrt_k_check_count(void *ctx, int64_t site, int64_t count, int64_t min);
}

#endif
