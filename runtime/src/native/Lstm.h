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

/// The floats of packLstmWeight's result.
inline int64_t lstmPackedWeightSize(int64_t h, int64_t width) { return 4 * h * width; }

/// PyTorch's weight_hh ([4H, H], gates i, f, g, o), or weight_ih ([4H, width]), in the
/// order lstmRecurrence streams it: per block of 16 hidden units, per input unit k, the 16
/// weights of each gate in turn.
void packLstmWeight(const float *w, int64_t h, int64_t width, float *packed);

/// A layer's input where the recurrence projects it itself, step by step, rather than
/// reading every step's projection from proj: x[b, t, width], W_ih packed by packLstmWeight
/// and the two biases summed, bias[4H]. The steps then stream W_ih as well as W_hh, and
/// the projection, whose result would be written and read back (b * t * 4H floats, 3 MB
/// for the LSTM sample at batch 32), is never stored.
struct LstmInput {
  const float *x = nullptr;
  int64_t width = 0;
  const float *packed = nullptr, *bias = nullptr;
};

/// Whether lstmRecurrence's `isa` build is faster projecting the input itself at batch b
/// on `threads` threads: on AVX2 from 8 rows on, where whole groups of its rows share each
/// weight loaded and their inputs are regrouped per step, on one thread (LSTM(32 -> 128)
/// over 50 steps, one core of a Sapphire Rapids capped at AVX2: batch 8 0.72 -> 0.70 ms,
/// 32 2.78 -> 2.60, side by side). On two threads it measured the same either way (batch
/// 32: 1.44-1.49 ms against 1.44-1.50, alternating runs); with AVX-512 it gained nothing
/// at batches 4 to 32 (oneDNN's product over all steps is faster there); and for one or
/// two sequences streaming W_ih in every step costs more than the one product (one
/// sequence, AVX-512: 0.150 -> 0.167 ms).
inline bool lstmProjectsInSteps(int64_t b, int threads, VectorIsa isa = widestVectorIsa()) {
  return isa == VectorIsa::Avx2 && b >= 8 && threads == 1;
}

/// What the training form of a layer keeps of every step for lstmBackward, besides the
/// gates after their activations, which it writes over their pre-activations in `proj`:
/// the cell state c[b, t, H] and the hidden state the step started from, hPrev[b, t, H]
/// (zero at the first step; what W_hh's gradient pairs each step's gates with).
struct LstmTrace {
  float *c = nullptr, *hPrev = nullptr;
};

/// One LSTM layer from zero state over t steps of b sequences, given every step's input
/// projection proj[b, t, 4H] (x W_ih^T + b_ih + b_hh), or, with an `input`, projecting x
/// itself (proj then is only where a trace's gates go, and may be null without a trace).
/// Writes the hidden state of every step, y[b, t, H], where `sequence`, else of the last
/// step, y[b, H]. `state` is scratch of lstmStateSize floats (inputWidth: the input's
/// width, 0 without one; threads: as given to lstmRecurrence). With a `trace` (the
/// training form) it also keeps what the backward pass reads, the activated gates in
/// proj. Runs on up to `threads` threads, each taking a share of the hidden units and all
/// of them meeting once per step; `isa`: which build runs it (tests run each).
int64_t lstmStateSize(int64_t b, int64_t h, int64_t inputWidth, int threads);

void lstmRecurrence(int threads, int64_t b, int64_t t, int64_t h, float *proj, const float *packed, float *y,
                    bool sequence, float *state, LstmTrace trace = {}, VectorIsa isa = widestVectorIsa(),
                    LstmInput input = {});

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
