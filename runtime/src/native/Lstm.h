//===- Lstm.h - an LSTM layer's recurrence, written here --------*- C++ -*-===//
//
// oneDNN's RNN primitive spends 4 us per step of an LSTM(32 -> 128) at batch 1 on a Zen 4
// core, where streaming the recurrent weight from L2 takes about 2.5. This kernel runs the
// recurrence of an inference-form LSTM layer (the input projection of all steps is one
// GEMM before it, on oneDNN): per step and block of 16 hidden units, the four gates'
// products accumulate in registers and the cell update follows at once.
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_SRC_NATIVE_LSTM_H
#define DLRT_SRC_NATIVE_LSTM_H

#include "native/Vector.h"

#include <cstdint>

namespace dlrt::native {

/// Whether lstmRecurrence handles hidden size h (whole blocks of 16 units).
inline bool lstmRecurrenceSupports(int64_t h) { return h > 0 && h % 16 == 0; }

/// The floats of packLstmRecurrentWeight's result.
inline int64_t lstmPackedWeightSize(int64_t h) { return 4 * h * h; }

/// PyTorch's weight_hh ([4H, H], gates i, f, g, o) in the order lstmRecurrence streams it:
/// per block of 16 hidden units, per input unit k, the 16 weights of each gate in turn.
void packLstmRecurrentWeight(const float *whh, int64_t h, float *packed);

/// What the training form of a layer keeps of every step for lstmBackward, besides the
/// gates after their activations, which it writes over their pre-activations in `proj`:
/// the cell state c[b, t, H] and the hidden state the step started from, hPrev[b, t, H]
/// (zero at the first step; what W_hh's gradient pairs each step's gates with).
struct LstmTrace {
  float *c = nullptr, *hPrev = nullptr;
};

/// One LSTM layer from zero state over t steps of b sequences, given every step's input
/// projection proj[b, t, 4H] (x W_ih^T + b_ih + b_hh). Writes the hidden state of every
/// step, y[b, t, H], where `sequence`, else of the last step, y[b, H]. `state` is scratch
/// of lstmStateSize floats. With a `trace` (the training form) it also keeps what the
/// backward pass reads. Runs on up to `threads` threads, each taking a share of the
/// hidden units and all of them meeting once per step; `isa`: which build runs it (tests
/// run each).
int64_t lstmStateSize(int64_t b, int64_t h);

void lstmRecurrence(int threads, int64_t b, int64_t t, int64_t h, float *proj, const float *packed, float *y,
                    bool sequence, float *state, LstmTrace trace = {}, VectorIsa isa = widestVectorIsa());

/// The backward pass of a layer's training form through its recurrence: from the gradient
/// of its output (dy: [b, t, H] where `sequence`, else [b, H] of the last step), the
/// gradients of every step's gate pre-activations, da[b, t, 4H] (gates i, f, g, o, as in
/// proj), and their sum over rows and steps, dbias[4H] (each bias's gradient). `gates` is
/// the forward's proj after it (the activated gates), `whh` PyTorch's W_hh [4H, H];
/// `state` is scratch of lstmBackwardStateSize floats. The weights' and the input's
/// gradients are products of da that the caller forms (da^T x, da^T hPrev, da W_ih).
/// Threads as lstmRecurrence's.
int64_t lstmBackwardStateSize(int64_t b, int64_t h);

void lstmBackward(int threads, int64_t b, int64_t t, int64_t h, const float *gates, const float *c, const float *whh,
                  const float *dy, bool sequence, float *da, float *dbias, float *state,
                  VectorIsa isa = widestVectorIsa());

} // namespace dlrt::native
#endif
