//===- DLOps.td - the ops of the dl dialect -----------------*- tablegen -*-===//
//
// One op per operation of the .dl language that has a lowering. Ops carry their own
// verifiers; elementwise ops share the scalar-body interface so that one lowering (and
// later one fusion and one gradient rule) serves all of them.
//
//===----------------------------------------------------------------------===//
#ifndef DL_OPS
#define DL_OPS

include "DLBase.td"
include "DLInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

class DL_UnaryOp<string mnemonic, list<Trait> traits = []> :
    DL_Op<mnemonic, !listconcat(traits, [Pure, SameOperandsAndResultType,
        DeclareOpInterfaceMethods<DL_ScalarElementwiseOpInterface>, DL_GradientOpInterface,
        DL_BatchSeparableOpInterface])> {
  let arguments = (ins DL_AnyTensor:$input);
  let results = (outs DL_AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def DL_ReluOp : DL_UnaryOp<"relu", [DeclareOpInterfaceMethods<DL_KernelActivationOpInterface>]> { let summary = "max(x, 0)"; }
def DL_SigmoidOp : DL_UnaryOp<"sigmoid", [DeclareOpInterfaceMethods<DL_KernelActivationOpInterface>]> { let summary = "1 / (1 + exp(-x))"; }
def DL_TanhOp : DL_UnaryOp<"tanh", [DeclareOpInterfaceMethods<DL_KernelActivationOpInterface>]> { let summary = "hyperbolic tangent"; }
def DL_SiluOp : DL_UnaryOp<"silu", [DeclareOpInterfaceMethods<DL_KernelActivationOpInterface>]> { let summary = "x * sigmoid(x)"; }
def DL_ExpOp : DL_UnaryOp<"exp"> { let summary = "e^x"; }
def DL_LogOp : DL_UnaryOp<"log"> { let summary = "natural logarithm"; }
def DL_SqrtOp : DL_UnaryOp<"sqrt"> { let summary = "square root"; }
def DL_AbsOp : DL_UnaryOp<"abs"> { let summary = "absolute value"; }
def DL_NegOp : DL_UnaryOp<"neg"> { let summary = "-x"; }

def DL_LeakyReluOp : DL_UnaryOp<"leaky_relu"> {
  let summary = "x if x > 0 else alpha * x";
  let arguments = (ins DL_AnyTensor:$input, F64Attr:$alpha);
}

def DL_GeluOp : DL_UnaryOp<"gelu", [DeclareOpInterfaceMethods<DL_KernelActivationOpInterface>]> {
  let summary = "x * Phi(x), exact (erf) or with the tanh approximation";
  let arguments = (ins DL_AnyTensor:$input, BoolAttr:$tanh_approx);
}

class DL_BinaryOp<string mnemonic> :
    DL_Op<mnemonic, [Pure, DeclareOpInterfaceMethods<InferTypeOpInterface>,
        DeclareOpInterfaceMethods<DL_ScalarElementwiseOpInterface>, DL_GradientOpInterface,
        DL_BatchSeparableOpInterface]> {
  let description = [{
    NumPy broadcasting of two tensors of one element type (the front end inserts the
    casts that type promotion asks for).
  }];
  let arguments = (ins DL_AnyTensor:$lhs, DL_AnyTensor:$rhs);
  let results = (outs DL_AnyTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)";
  let hasVerifier = 1;
}

def DL_AddOp : DL_BinaryOp<"add"> { let summary = "broadcasting addition"; }
def DL_SubOp : DL_BinaryOp<"sub"> { let summary = "broadcasting subtraction"; }
def DL_MulOp : DL_BinaryOp<"mul"> { let summary = "broadcasting multiplication"; }
def DL_DivOp : DL_BinaryOp<"div"> { let summary = "broadcasting true division"; }
def DL_PowOp : DL_BinaryOp<"pow"> { let summary = "broadcasting power"; }

def DL_CastOp : DL_Op<"cast", [Pure,
    DeclareOpInterfaceMethods<DL_ScalarElementwiseOpInterface>, DL_GradientOpInterface, DL_BatchSeparableOpInterface]> {
  let summary = "element type conversion, as torch's Tensor.to(dtype)";
  let arguments = (ins DL_AnyTensor:$input);
  let results = (outs DL_AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Linear algebra
//===----------------------------------------------------------------------===//

def DL_DenseOp : DL_Op<"dense", [Pure, DeclareOpInterfaceMethods<DL_BatchSeparableOpInterface, ["keepsSamplesApart"]>, DL_RuntimeCallSite, DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let summary = "y = x W^T + b over the last dim (torch.nn.Linear)";
  let description = [{
    `activation`: a following activation applied inside the kernel (a dl::Activation
    code, 0 for none; set by fusion).
    `nhwc_input` = [C, H, W]: the input [.., H*W*C] is an NHWC tensor flattened, while the
    weight's columns follow PyTorch's NCHW flattening (C*H*W). The layout pass sets it
    instead of transposing a convolution's NHWC output back before a classifier head;
    the kernel permutes the weight once per parameter version. [C, H, W, B]: the input's
    buffer holds the tensor in channel blocks of B ([C/B][H][W][B] per row, as
    dl.block_channels leaves it), which the blocked-channels pass folds in likewise.
  }];
  let arguments = (ins DL_FloatTensor:$input, DL_FloatTensor:$weight,
                       Optional<DL_FloatTensor>:$bias, DefaultValuedAttr<I64Attr, "0">:$activation,
                       OptionalAttr<DenseI64ArrayAttr>:$nhwc_input);
  let results = (outs DL_FloatTensor:$result);
  let builders = [
    // A plain dense, as the front end writes it (no fused activation, NCHW-ordered input).
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input, "::mlir::Value":$weight,
                   "::mlir::Value":$bias), [{
      build($_builder, $_state, result, input, weight, bias, $_builder.getI64IntegerAttr(0),
            ::mlir::DenseI64ArrayAttr());
    }]>,
  ];
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` type($input) `,` type($weight)
    (`,` type($bias)^)? `->` type($result)
  }];
  let hasVerifier = 1;
}

def DL_MatmulOp : DL_Op<"matmul", [Pure, DeclareOpInterfaceMethods<DL_BatchSeparableOpInterface, ["keepsSamplesApart"]>, DL_RuntimeCallSite, DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let summary = "torch.matmul: batched, with broadcast batch dims";
  let arguments = (ins DL_FloatTensor:$lhs, DL_FloatTensor:$rhs);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)";
  let hasVerifier = 1;
}

def DL_SelfAttentionOp : DL_Op<"self_attention", [Pure, DeclareOpInterfaceMethods<DL_BatchSeparableOpInterface, ["keepsSamplesApart"]>, DL_RuntimeCallSite, DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let summary = "scaled dot-product attention of every head, from the packed projection";
  let description = [{
    `qkv` [B, T, 3E] is nn.MultiheadAttention's packed in-projection: q, k and v side by
    side along the last dim, each E = heads x head_dim with the heads interleaved as
    torch splits them. Per sample and head: softmax(q k^T / sqrt(head_dim)) v, with -inf
    where the key comes after the query when `causal`; the result [B, T, E] has the heads
    merged back. The op a target may run as one kernel (no T x T tensor between ops);
    targets without one expand it into matmul, causal_mask and softmax.
  }];
  let arguments = (ins DL_FloatTensor:$qkv, I64Attr:$heads, BoolAttr:$causal);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$qkv attr-dict `:` type($qkv) `->` type($result)";
  let hasVerifier = 1;
}

def DL_SelfAttentionBackwardOp : DL_Op<"self_attention_backward", [Pure, DL_RuntimeCallSite]> {
  let summary = "the gradient of self_attention for its packed projection";
  let description = [{
    From the result's gradient [B, T, E] and the forward's `qkv` [B, T, 3E]: the gradients
    of q, k and v side by side as qkv packs them. A target recomputes the attention
    weights from qkv rather than keep the forward's.
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$qkv, I64Attr:$heads, BoolAttr:$causal);
  let results = (outs DL_FloatTensor:$qkv_grad);
  let assemblyFormat = "$grad `,` $qkv attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Normalisations over an axis
//===----------------------------------------------------------------------===//

class DL_AxisOp<string mnemonic> : DL_Op<mnemonic, [Pure, DeclareOpInterfaceMethods<DL_BatchSeparableOpInterface, ["keepsSamplesApart"]>, SameOperandsAndResultType, DL_RuntimeCallSite, DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let arguments = (ins DL_FloatTensor:$input, I64Attr:$axis);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasVerifier = 1;
}
def DL_SoftmaxOp : DL_AxisOp<"softmax"> { let summary = "softmax along a non-negative axis"; }
def DL_LogSoftmaxOp : DL_AxisOp<"log_softmax"> { let summary = "log of softmax, computed stably"; }

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

class DL_ReduceOp<string mnemonic> : DL_Op<mnemonic, [Pure, DeclareOpInterfaceMethods<DL_BatchSeparableOpInterface, ["keepsSamplesApart"]>, DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let arguments = (ins DL_AnyTensor:$input, DenseI64ArrayAttr:$axes, BoolAttr:$keepdims);
  let results = (outs DL_AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}
def DL_SumOp : DL_ReduceOp<"sum"> { let summary = "sum over sorted, non-negative axes"; }
def DL_MeanOp : DL_ReduceOp<"mean"> { let summary = "mean over sorted, non-negative axes"; }
def DL_MaxOp : DL_ReduceOp<"max"> { let summary = "maximum over sorted, non-negative axes (amax)"; }

//===----------------------------------------------------------------------===//
// Shape
//===----------------------------------------------------------------------===//

def DL_ReshapeOp : DL_Op<"reshape", [Pure, DeclareOpInterfaceMethods<DL_BatchSeparableOpInterface, ["keepsSamplesApart"]>, DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let summary = "row-major reshape; the result type gives the shape";
  let description = [{
    Dynamic dims of the result are computed at run time: with one dynamic result dim it is
    the element count divided by the static ones; with several, `sizes` gives a formula.
    `shape` holds the result dims, with -1 for each dynamic one, and `from` maps every
    dynamic result dim to the contiguous range of input dims whose product it is, or to
    (-1, -1) where it is the quotient of the total by the static dims.
  }];
  let arguments = (ins DL_AnyTensor:$input, DenseI64ArrayAttr:$from);
  let results = (outs DL_AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def DL_TransposeOp : DL_Op<"transpose", [Pure, DeclareOpInterfaceMethods<DL_BatchSeparableOpInterface, ["keepsSamplesApart"]>, DL_RuntimeCallSite, DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let summary = "permute dims (torch.permute): result dim i is input dim perm[i]";
  let arguments = (ins DL_AnyTensor:$input, DenseI64ArrayAttr:$perm);
  let results = (outs DL_AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// True when only dims of static size 1 move (NCHW -> NHWC with one channel): the
    /// elements keep their order, so the transpose is a reshape and needs no copy.
    bool keepsElementOrder();
  }];
}


//===----------------------------------------------------------------------===//
// Normalisation layers (inference form)
//===----------------------------------------------------------------------===//

def DL_LayerNormOp : DL_Op<"layer_norm", [Pure, DeclareOpInterfaceMethods<DL_BatchSeparableOpInterface, ["keepsSamplesApart"]>, DL_RuntimeCallSite, DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let summary = "normalise over the last dim, then scale and shift (torch.nn.LayerNorm)";
  let arguments = (ins DL_FloatTensor:$input, DL_FloatTensor:$weight, DL_FloatTensor:$bias, F64Attr:$eps);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight `,` $bias attr-dict `:` type($input) `,` type($weight) `,` type($bias) `->` type($result)
  }];
  let hasVerifier = 1;
}

def DL_BatchNormOp : DL_Op<"batch_norm", [Pure, DeclareOpInterfaceMethods<DL_BatchSeparableOpInterface, ["keepsSamplesApart"]>, DL_RuntimeCallSite]> {
  let summary = "batch norm over dim 1 with running statistics (inference)";
  let arguments = (ins DL_FloatTensor:$input, DL_FloatTensor:$weight, DL_FloatTensor:$bias,
                       DL_FloatTensor:$running_mean, DL_FloatTensor:$running_var, F64Attr:$eps);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight `,` $bias `,` $running_mean `,` $running_var attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def DL_BatchNormTrainOp : DL_Op<"batch_norm_train", [Pure, DL_RuntimeCallSite, DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let summary = "batch norm over dim 1 with the batch's statistics (training), which it also returns";
  let description = [{
    result = (input - mean) / sqrt(var + eps) * weight + bias, with mean and the biased
    variance taken over every dim but 1; `mean` and `var` ([C]) are those statistics, from
    which the layer updates its running ones.
    `channels_last`: input and result are 4-d NHWC, the channels their dim 3 (set by the
    layout pass).
    `residual`: a tensor of the result's shape added to it, before the activation (a
    skip connection's add, fused with the relu after it). `activation`: relu (a
    dl::Activation code) applied to the result inside the kernel, NaN kept as torch.relu
    keeps it: the relu that followed it. 0: none. Both are fused after the gradient is
    built (the relu's gradient reads the relu'd result, which this then is, and the
    add's passes the gradient through); the gradient rule refuses them.
  }];
  let arguments = (ins DL_FloatTensor:$input, DL_FloatTensor:$weight, DL_FloatTensor:$bias,
                       Optional<DL_FloatTensor>:$residual, F64Attr:$eps, UnitAttr:$channels_last,
                       DefaultValuedAttr<I64Attr, "0">:$activation);
  let results = (outs DL_FloatTensor:$result, DL_FloatTensor:$mean, DL_FloatTensor:$var);
  let assemblyFormat = [{
    $input `,` $weight `,` $bias (`residual` `(` $residual^ `)`)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def DL_BatchNormBackwardOp : DL_Op<"batch_norm_backward", [Pure, DL_RuntimeCallSite]> {
  let summary = "the gradients of batch_norm_train for its input, weight and bias";
  let description = [{
    From the result's gradient, the forward's input and weight, and the batch mean and
    biased variance it computed: dx = weight / sqrt(var + eps) * (grad - mean(grad) -
    xhat * mean(grad * xhat)), dweight = sum(grad * xhat), dbias = sum(grad), means and
    sums over every dim but 1.
    `channels_last`: grad, input and input_grad are 4-d NHWC, the channels their dim 3
    (set by the layout pass).
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$input, DL_FloatTensor:$weight, DL_FloatTensor:$mean,
                       DL_FloatTensor:$var, F64Attr:$eps, UnitAttr:$channels_last);
  let results = (outs DL_FloatTensor:$input_grad, DL_FloatTensor:$weight_grad, DL_FloatTensor:$bias_grad);
  let assemblyFormat = "$grad `,` $input `,` $weight `,` $mean `,` $var attr-dict `:` functional-type(operands, results)";
}

def DL_LayerNormBackwardOp : DL_Op<"layer_norm_backward", [Pure, DL_RuntimeCallSite]> {
  let summary = "the gradients of layer_norm for its input, weight and bias";
  let description = [{
    From the result's gradient and the forward's input and weight: with mean and the
    biased variance of the input's last dim, xhat = (input - mean) / sqrt(var + eps),
    dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps) where
    dxhat = grad * weight, dweight = sum(grad * xhat), dbias = sum(grad), sums over every
    dim but the last. A target may take the statistics from the forward's kernel rather
    than recompute them.
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$input, DL_FloatTensor:$weight, F64Attr:$eps);
  let results = (outs DL_FloatTensor:$input_grad, DL_FloatTensor:$weight_grad, DL_FloatTensor:$bias_grad);
  let assemblyFormat = "$grad `,` $input `,` $weight attr-dict `:` functional-type(operands, results)";
}

def DL_SoftmaxBackwardOp : DL_Op<"softmax_backward", [Pure, DL_RuntimeCallSite]> {
  let summary = "the gradient of softmax or log_softmax for its input, from its output";
  let description = [{
    `output` is the forward's result y along `axis`: softmax gives y * (grad - sum(grad * y)),
    log_softmax (`log`) grad - exp(y) * sum(grad), sums along `axis`, kept.
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$output, I64Attr:$axis, BoolAttr:$log);
  let results = (outs DL_FloatTensor:$input_grad);
  let assemblyFormat = "$grad `,` $output attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Indexing and slicing
//===----------------------------------------------------------------------===//

def DL_EmbeddingOp : DL_Op<"embedding", [Pure, DeclareOpInterfaceMethods<DL_BatchSeparableOpInterface, ["keepsSamplesApart"]>, DL_RuntimeCallSite, DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let summary = "rows of a table gathered by integer ids; ids out of range are an error";
  let arguments = (ins RankedTensorOf<[I64, I32]>:$ids, DL_FloatTensor:$weight);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$ids `,` $weight attr-dict `:` type($ids) `,` type($weight) `->` type($result)";
  let hasVerifier = 1;
}

def DL_PositionEmbeddingOp : DL_Op<"position_embedding", [Pure, DeclareOpInterfaceMethods<DL_BatchSeparableOpInterface, ["keepsSamplesApart"]>, DL_RuntimeCallSite, DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let summary = "rows 0..T-1 of a table broadcast to [B, T, D] for ids [B, T]";
  let arguments = (ins RankedTensorOf<[I64, I32]>:$ids, DL_FloatTensor:$weight);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$ids `,` $weight attr-dict `:` type($ids) `,` type($weight) `->` type($result)";
  let hasVerifier = 1;
}

def DL_ConcatOp : DL_Op<"concat", [Pure, DeclareOpInterfaceMethods<DL_BatchSeparableOpInterface, ["keepsSamplesApart"]>, DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let summary = "join tensors of one element type along a non-negative axis";
  let arguments = (ins Variadic<DL_AnyTensor>:$inputs, I64Attr:$axis);
  let results = (outs DL_AnyTensor:$result);
  let assemblyFormat = "$inputs attr-dict `:` type($inputs) `->` type($result)";
  let hasVerifier = 1;
}

def DL_SliceOp : DL_Op<"slice", [Pure, DeclareOpInterfaceMethods<DL_BatchSeparableOpInterface, ["keepsSamplesApart"]>, DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let summary = "x[..., start:end, ...] along a non-negative axis";
  let description = [{
    Along a static dim the bounds are resolved (0 <= start <= end <= size). Along a
    dynamic one a negative bound counts from the end, without Python's clamping (the
    signature asks of the size what keeps the bounds inside it), and both bounds have one
    sign or end = start = 0 (an empty slice).
  }];
  let arguments = (ins DL_AnyTensor:$input, I64Attr:$axis, I64Attr:$start, I64Attr:$end);
  let results = (outs DL_AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The slice's offset and size along its axis (of the input's size there, where
    /// that is dynamic and a bound negative).
    std::pair<OpFoldResult, OpFoldResult> offsetAndSize(OpBuilder &b, Location loc);
  }];
}

def DL_CausalMaskOp : DL_Op<"causal_mask", [Pure, DeclareOpInterfaceMethods<DL_BatchSeparableOpInterface, ["keepsSamplesApart"]>, SameOperandsAndResultType, DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let summary = "-inf where the column index of the last two dims exceeds the row index";
  let arguments = (ins DL_FloatTensor:$input);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

//===----------------------------------------------------------------------===//
// Convolution and pooling (NCHW)
//===----------------------------------------------------------------------===//

def DL_Conv2DOp : DL_Op<"conv2d", [Pure, DeclareOpInterfaceMethods<DL_BatchSeparableOpInterface, ["keepsSamplesApart"]>, DL_RuntimeCallSite, AttrSizedOperandSegments, DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let summary = "2-D convolution, NCHW input, OIHW weight (torch.nn.Conv2d)";
  let description = [{
    `padding` is (top, left, bottom, right); `dilation` as PyTorch counts it.
    `bn` (weight, bias, running_mean, running_var) with `bn_eps`: an inference batch_norm
    that follows, folded into the weights by the runtime whenever the parameters change.
    `residual`: a tensor of the result's shape added after the (batch-normalised)
    convolution, as ResNet's skip connections do.
    `activation`: an activation that follows (after the residual), applied inside the
    kernel (a dl::Activation code, 0 for none).
    `channels_last`: input, residual and result are NHWC instead (the weight stays OIHW).
    Only the layout pass sets it, for kernels that run faster on NHWC.
    `blocked_channels` (with channels_last): input, residual and result, typed NHWC, are
    stored in blocks of that many channels, 8 or 16 (see dl.block_channels). The layout
    pass sets it where channels in and out are whole blocks and the call does not update
    the weight: oneDNN runs such convolutions by Winograd's algorithm (model_abi.h) or
    its direct kernel on blocks, faster than on NHWC.
  }];
  let arguments = (ins DL_FloatTensor:$input, DL_FloatTensor:$weight, Optional<DL_FloatTensor>:$bias,
                       Variadic<DL_FloatTensor>:$bn, Optional<DL_FloatTensor>:$residual,
                       DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding,
                       DenseI64ArrayAttr:$dilation, I64Attr:$groups, DefaultValuedAttr<I64Attr, "0">:$activation,
                       OptionalAttr<F64Attr>:$bn_eps, UnitAttr:$channels_last,
                       OptionalAttr<I64Attr>:$blocked_channels);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? (`bn` `(` $bn^ `)`)? (`residual` `(` $residual^ `)`)? attr-dict `:`
    type($input) `,` type($weight) (`,` type($bias)^)? (`bn` `(` type($bn)^ `)`)?
    (`residual` `(` type($residual)^ `)`)? `->` type($result)
  }];
  let hasVerifier = 1;
}

def DL_BlockChannelsOp : DL_Op<"block_channels", [Pure, DeclareOpInterfaceMethods<DL_BatchSeparableOpInterface, ["keepsSamplesApart"]>, SameOperandsAndResultType, DL_RuntimeCallSite]> {
  let summary = "an NHWC tensor's buffer rearranged into channel blocks, or back (`inverse`)";
  let description = [{
    The result has the input's type and values; its buffer holds them as
    [N][C/B][H][W][B], B = `block` (oneDNN's nChw16c or nChw8c), or, with `inverse`, a
    blocked input goes back to NHWC. B is the target CPU's: 16 floats are an AVX-512
    vector, 8 an AVX2 one, and oneDNN's direct kernels for each read that. Only the layout
    pass creates it, around convolutions marked `blocked_channels`; a blocked tensor is
    read by those, by max pooling marked so, by elementwise ops whose operands are all
    blocked, by the inverse op, and flattened by a dense whose `nhwc_input` names the
    block, nothing else. A pair folds away, and so does a tensor
    of B channels, whose bytes are the same in both layouts.
  }];
  let arguments = (ins DL_FloatTensor:$input, I64Attr:$block, UnitAttr:$inverse);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def DL_ConvTranspose2DOp : DL_Op<"conv_transpose2d", [Pure, DeclareOpInterfaceMethods<DL_BatchSeparableOpInterface, ["keepsSamplesApart"]>, DL_RuntimeCallSite, DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let summary = "2-D transposed convolution, NCHW, weight [in, out/groups, kH, kW] (torch.nn.ConvTranspose2d)";
  let description = [{
    `padding` is (top, left, bottom, right): PyTorch's padding less output_padding at the end.
    `channels_last`: input and result are NHWC (set by the layout pass).
  }];
  let arguments = (ins DL_FloatTensor:$input, DL_FloatTensor:$weight, Optional<DL_FloatTensor>:$bias,
                       DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding,
                       DenseI64ArrayAttr:$dilation, I64Attr:$groups, UnitAttr:$channels_last);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` type($input) `,` type($weight) (`,` type($bias)^)?
    `->` type($result)
  }];
}

def DL_Pool2DOp : DL_Op<"pool2d", [Pure, DeclareOpInterfaceMethods<DL_BatchSeparableOpInterface, ["keepsSamplesApart"]>, DL_RuntimeCallSite, DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let summary = "max or average pooling over H and W (average counts padding, as PyTorch's default)";
  let description = [{
    `channels_last`: input and result are NHWC (set by the layout pass).
    `blocked_channels` (with channels_last, max pooling, inference form): input and
    result, typed NHWC, are stored in blocks of that many channels (see
    dl.block_channels); the layout pass sets it where the input comes from a blocked
    convolution.
    `activation` (max pooling, inference form): relu (a dl::Activation code) applied to
    the result in the same pass, keeping NaN as dl.relu does; 0 for none. Set by the
    CPU lowering where nothing else reads the pooled tensor.
  }];
  let arguments = (ins DL_FloatTensor:$input, BoolAttr:$is_max, DenseI64ArrayAttr:$kernel,
                       DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding, UnitAttr:$channels_last,
                       OptionalAttr<I64Attr>:$blocked_channels, DefaultValuedAttr<I64Attr, "0">:$activation);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}


//===----------------------------------------------------------------------===//
// Recurrent layers
//===----------------------------------------------------------------------===//

def DL_RecurrentOp : DL_Op<"recurrent", [Pure, DeclareOpInterfaceMethods<DL_BatchSeparableOpInterface, ["keepsSamplesApart"]>, DL_RuntimeCallSite, DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let summary = "stacked LSTM or GRU over a batch-first sequence (torch.nn.LSTM / GRU)";
  let description = [{
    `weights` holds PyTorch's parameters in its order: weight_ih, weight_hh, bias_ih,
    bias_hh for each layer. The result is every step of the last layer ([B, T, H]) or,
    with `sequences = false`, its last step ([B, H]).
  }];
  let arguments = (ins DL_FloatTensor:$input, Variadic<DL_FloatTensor>:$weights, BoolAttr:$is_gru,
                       I64Attr:$hidden, I64Attr:$layers, BoolAttr:$sequences);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input `,` $weights attr-dict `:` type($input) `,` type($weights) `->` type($result)";
  let hasVerifier = 1;
}

def DL_RecurrentBackwardOp : DL_Op<"recurrent_backward", [Pure, DL_RuntimeCallSite]> {
  let summary = "the gradients of dl.recurrent for its input and every weight";
  let description = [{
    Backpropagation through time of the dl.recurrent with the same input, weights and
    attributes, for `grad`, the gradient of its result: `input_grad` and one gradient per
    weight, in `weights`' order. A target computes it in one piece (recomputing what the
    forward's kernel does not keep) or unrolls the recurrence before autodiff
    (dl-unroll-recurrent), in which case this op never appears.
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$input, Variadic<DL_FloatTensor>:$weights,
                       BoolAttr:$is_gru, I64Attr:$hidden, I64Attr:$layers, BoolAttr:$sequences);
  let results = (outs DL_FloatTensor:$input_grad, Variadic<DL_FloatTensor>:$weight_grads);
  let assemblyFormat = "$grad `,` $input `,` $weights attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Training: losses, dropout, gradients without a forward op, optimizer updates
//===----------------------------------------------------------------------===//

class DL_LossOp<string mnemonic, Type target> : DL_Op<mnemonic, [Pure, DL_RuntimeCallSite, DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let arguments = (ins DL_FloatTensor:$input, target:$target);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input `,` $target attr-dict `:` type($input) `,` type($target) `->` type($result)";
  let hasVerifier = 1;
}
def DL_CrossEntropyOp : DL_LossOp<"cross_entropy", RankedTensorOf<[I64, I32]>> {
  let summary = "mean over positions of -log_softmax(input)[label], classes in the last dim";
  let description = [{ A label outside [0, C) is a run-time error naming the op. }];
}
def DL_NllOp : DL_LossOp<"nll", RankedTensorOf<[I64, I32]>> {
  let summary = "mean over positions of -input[label] (input holds log-probabilities)";
}
def DL_MseOp : DL_LossOp<"mse", DL_FloatTensor> { let summary = "mean of (input - target)^2"; }
def DL_BceWithLogitsOp : DL_LossOp<"bce_with_logits", DL_FloatTensor> {
  let summary = "mean binary cross-entropy of sigmoid(input) against target, computed stably";
}

def DL_ArgmaxOp : DL_Op<"argmax", [Pure, DeclareOpInterfaceMethods<DL_BatchSeparableOpInterface, ["keepsSamplesApart"]>]> {
  let summary = "index of the largest value along the last dim (the first among ties)";
  let arguments = (ins DL_FloatTensor:$input);
  let results = (outs RankedTensorOf<[I64]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
}

def DL_DropoutOp : DL_Op<"dropout", [Pure, DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let summary = "zeroes each element with probability p, scales the rest by 1/(1-p)";
  let description = [{
    The mask is a function of (seed, step, stream, element index) only: Philox4x32-10
    keyed by the seed, counter (index low 32 bits, index high 32 bits, stream, step),
    keeps an element when the first word's top 24 bits / 2^24 < 1 - p. `stream` is the
    dropout's own number in the model, so two dropouts draw different masks. The
    gradient recomputes the mask rather than keeping it.
  }];
  let arguments = (ins DL_FloatTensor:$input, RankedTensorOf<[I64]>:$seed, RankedTensorOf<[I64]>:$step,
                       F64Attr:$p, I64Attr:$stream);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input `,` $seed `,` $step attr-dict `:` type($input) `,` type($seed) `,` type($step) `->` type($result)";
}

def DL_EmbeddingGradOp : DL_Op<"embedding_grad", [Pure]> {
  let summary = "the gradient of an embedding table: rows of grad summed into the rows ids name";
  let description = [{ result[ids[i]] += grad[i] for every position i; repeated ids accumulate. }];
  let arguments = (ins RankedTensorOf<[I64, I32]>:$ids, DL_FloatTensor:$grad);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$ids `,` $grad attr-dict `:` type($ids) `,` type($grad) `->` type($result)";
}

def DL_ChannelCountCheckOp : DL_Op<"channel_count_check", [Pure, DL_RuntimeCallSite, DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let summary = "x, after checking at run time that each channel has at least `min` values";
  let description = [{
    The values per channel are the product of x's dims other than `axis` (the channels',
    1 as PyTorch lays them out; the layout pass moves it); fewer than `min` is a run-time
    error naming `layer` and its source location (batch statistics in training need two
    values per channel, as PyTorch requires). The result is x.
  }];
  let arguments = (ins DL_FloatTensor:$input, I64Attr:$min, StrAttr:$layer, DefaultValuedAttr<I64Attr, "1">:$axis);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
}

def DL_Conv2DBackwardDataOp : DL_Op<"conv2d_backward_data", [Pure, DL_RuntimeCallSite]> {
  let summary = "the gradient of an NCHW conv2d for its input, from the result's gradient and the weight";
  let description = [{
    `stride`, `padding`, `dilation` and `groups` are the forward's; the result has the
    forward input's type, whose H and W must be static (they are not implied by the
    gradient's when the stride exceeds 1).
    `channels_last`: gradient and result are NHWC (set by the layout pass).
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$weight, DenseI64ArrayAttr:$stride,
                       DenseI64ArrayAttr:$padding, DenseI64ArrayAttr:$dilation, I64Attr:$groups,
                       UnitAttr:$channels_last);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $weight attr-dict `:` type($grad) `,` type($weight) `->` type($result)";
  let hasVerifier = 1;
}

def DL_Conv2DBackwardWeightsOp : DL_Op<"conv2d_backward_weights", [Pure, DL_RuntimeCallSite]> {
  let summary = "the gradient of an NCHW conv2d for its OIHW weight, from the result's gradient and the input";
  let description = [{
    `stride`, `padding`, `dilation` and `groups` are the forward's.
    `channels_last`: gradient and input are NHWC (set by the layout pass); the result
    stays OIHW.
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$input, DenseI64ArrayAttr:$stride,
                       DenseI64ArrayAttr:$padding, DenseI64ArrayAttr:$dilation, I64Attr:$groups,
                       UnitAttr:$channels_last);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $input attr-dict `:` type($grad) `,` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def DL_Pool2DBackwardOp : DL_Op<"pool2d_backward", [Pure, DL_RuntimeCallSite]> {
  let summary = "the gradient of an NCHW pool2d for its input, from the result's gradient and the input";
  let description = [{
    Max pooling sends each window's gradient to the first position holding its maximum
    (as PyTorch); average pooling spreads it evenly over the window, padding included.
    `channels_last`: gradient, input and result are NHWC (set by the layout pass).
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$input, BoolAttr:$is_max,
                       DenseI64ArrayAttr:$kernel, DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding,
                       UnitAttr:$channels_last);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $input attr-dict `:` type($grad) `,` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def DL_SgdUpdateOp : DL_Op<"sgd_update", [Pure]> {
  let summary = "one torch.optim.SGD step for one parameter (no dampening)";
  let description = [{
    g = grad + weight_decay * param; with momentum: buf = momentum * buf + g (the slot
    starts at zero, which equals PyTorch's first-step clone), g = g + momentum * buf
    with nesterov, else buf; param = param - lr * g. `lr` is a 0-d f64 tensor.
  }];
  let arguments = (ins DL_FloatTensor:$param, DL_FloatTensor:$grad, Optional<DL_FloatTensor>:$momentum_buffer,
                       RankedTensorOf<[F64]>:$lr, F64Attr:$momentum, BoolAttr:$nesterov, F64Attr:$weight_decay);
  let results = (outs DL_FloatTensor:$new_param, Optional<DL_FloatTensor>:$new_momentum_buffer);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
}

def DL_AdamUpdateOp : DL_Op<"adam_update", [Pure]> {
  let summary = "one torch.optim.Adam (or, with decoupled, AdamW) step for one parameter";
  let description = [{
    PyTorch 1.13's single-tensor rule. Adam: g = grad + weight_decay * param; AdamW:
    param = param * (1 - lr * weight_decay) first. Then m = beta1 m + (1 - beta1) g,
    v = beta2 v + (1 - beta2) g^2, param -= (lr / (1 - beta1^t)) * m /
    (sqrt(v) / sqrt(1 - beta2^t) + eps), with t = `step` (from 1) and the bias
    corrections in double, as PyTorch's Python floats.
  }];
  let arguments = (ins DL_FloatTensor:$param, DL_FloatTensor:$grad, DL_FloatTensor:$exp_avg,
                       DL_FloatTensor:$exp_avg_sq, RankedTensorOf<[F64]>:$lr, RankedTensorOf<[I64]>:$step,
                       F64Attr:$beta1, F64Attr:$beta2, F64Attr:$eps, F64Attr:$weight_decay, BoolAttr:$decoupled);
  let results = (outs DL_FloatTensor:$new_param, DL_FloatTensor:$new_exp_avg, DL_FloatTensor:$new_exp_avg_sq);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Plugin layers
//===----------------------------------------------------------------------===//

def DL_PluginOp : DL_Op<"plugin", [Pure, DL_RuntimeCallSite,
    DeclareOpInterfaceMethods<DL_GradientOpInterface, ["buildGradient"]>]> {
  let summary = "a layer that a plugin defines";
  let description = [{
    One generic op for every plugin layer: `layer` names it and `plugin` its plugin;
    `layer_attrs` holds the call's attributes (ints as i64, numbers as f64, bools,
    strings, tuples as i64 arrays). Operands are the layer's inputs, then its
    parameters. Results are the layer's result, then what it saves for its gradient.
    How it lowers and differentiates comes from the layer's definition
    (dialects/DL/PluginLayer.h): a call of the plugin's run-time kernel, or the
    plugin's own linalg.

    `dynamic_dims`: where each dynamic dim of the results comes from, in order over the
    results' dynamic dims: pairs (operand, dim) of an operand dim of the same size.

    `backward`: the op is the backward kernel of a kernel-kind layer. Its operands are
    the forward's operands, the forward's results and the gradient of the first result;
    its results are the gradients of the forward's operands, in order (each dynamic dim
    that of its operand).
  }];
  let arguments = (ins Variadic<DL_AnyTensor>:$inputs, StrAttr:$plugin, StrAttr:$layer,
                       DictionaryAttr:$layer_attrs, DenseI64ArrayAttr:$dynamic_dims, UnitAttr:$backward);
  let results = (outs Variadic<DL_AnyTensor>:$results);
  let assemblyFormat = "$layer `(` $inputs `)` attr-dict `:` functional-type($inputs, $results)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// "layer 'rms_norm' (from plugin 'rms_norm')": how messages name the op.
    std::string describe() {
      return "layer '" + getLayer().str() + "' (from plugin '" + getPlugin().str() + "')";
    }
  }];
}

#endif // DL_OPS
