//===- Passes.td - dlc's lowering passes --------------------*- tablegen -*-===//
#ifndef DLC_CONVERSION_PASSES
#define DLC_CONVERSION_PASSES

include "mlir/Pass/PassBase.td"

def DLLowerToCPU : Pass<"dl-lower-to-cpu", "::mlir::ModuleOp"> {
  let summary = "Lower dl ops to linalg/tensor and calls of the runtime's oneDNN kernels";
  let description = [{
    Rewrites each entry function to the runtime's calling convention first: a context
    pointer, then one memref per input and parameter, then one memref per output, which
    the function fills (destination passing). The body stays on tensors, ready for
    one-shot bufferization. dense and matmul become kernel calls; every other op becomes
    linalg. An op left without a lowering is an error at its source location.
  }];
  let options = [
    Option<"kernels", "kernels", "std::string", /*default=*/"\"onednn\"",
           "onednn: dense, matmul, convolutions, pooling and RNNs call oneDNN; linalg: they "
           "become linalg (and scf loops for the RNNs)">,
    Option<"channelBlock", "channel-block", "int64_t", /*default=*/"16",
           "channels per block of the blocked layout that oneDNN's convolutions run on: "
           "16 for a target CPU with AVX-512, 8 for one with AVX2 only (their vectors of floats)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::dlrt::DLRTDialect", "::mlir::func::FuncDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def DLLowerToGPU : Pass<"dl-lower-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Lower dl ops to linalg/tensor for the GPU target";
  let description = [{
    The GPU target's first step: entry functions take the runtime's convention (as in
    dl-lower-to-cpu) and every dl op takes its portable lowering to linalg and tensor ops,
    which dl-map-to-gpu later turns into kernels. Runtime calls remain only for checks
    that read shapes or a few words. A plugin layer with only a CPU kernel is an error
    naming the layer.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::dlrt::DLRTDialect", "::mlir::func::FuncDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def DLMapToGPU : Pass<"dl-map-to-gpu", "::mlir::func::FuncOp"> {
  let summary = "Put every access to a buffer's elements into a gpu.launch";
  let description = [{
    Runs on bufferized code of the GPU target. linalg ops and copies become loops; each
    outermost scf.parallel becomes a launch of one thread per iteration (its dims
    linearised, in blocks of `block-size`); element accesses outside parallel loops run
    as one-thread launches. Host loops around kernels stay on the host. Afterwards no
    host code touches device memory; a host use of a value read from it is an error.
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"256", "threads per block">
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::scf::SCFDialect", "::mlir::arith::ArithDialect"];
}

def DLExpandGPUMath : Pass<"dl-expand-gpu-math"> {
  let summary = "Expand the math a kernel calls into arithmetic, so its PTX calls no library";
  let description = [{
    pow into exp and log; f64 exp and log into range reductions and polynomials (a few
    ulp, IEEE special values kept). dl-approximate-math then takes f32 exp, log, tanh and
    erf, and convert-math-to-llvm what has an instruction. The PTX is then the same
    whether or not a CUDA toolkit (libdevice) is installed.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect"];
}

def DLGPUMathToIntrinsics : Pass<"dl-gpu-math-to-intrinsics"> {
  let summary = "Math ops with an instruction -> calls of their LLVM intrinsics; any other is an error";
  let description = [{
    After dl-expand-gpu-math and dl-approximate-math: sqrt, abs, floor, ceil, trunc,
    round, fma and copysign become llvm.call_intrinsic (which convert-gpu-to-nvvm keeps
    and NVPTX emits as instructions), rsqrt 1 / sqrt. A math op left over is an error.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect", "::mlir::arith::ArithDialect"];
}

def DLGPULaunchesToRuntime : Pass<"dl-gpu-launches-to-runtime", "::mlir::ModuleOp"> {
  let summary = "Gather the outlined kernels into @dl_kernels and launch them through the runtime";
  let description = [{
    Moves every outlined kernel into one gpu.module, @dl_kernels, records the kernel table
    as `dl.gpu_kernels`, and turns each gpu.launch_func into a dlrt.call of
    dlrt_gpu_launch with the kernel's index, the grid and block sizes and its parameters
    packed as 64-bit words.
  }];
  let dependentDialects = ["::mlir::dlrt::DLRTDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

def DLEmbedGPUCode : Pass<"dl-embed-gpu-code", "::mlir::ModuleOp"> {
  let summary = "Carry @dl_kernels' PTX in model.so behind dl_model_gpu_code";
  let description = [{
    Replaces the gpu.binary that gpu-module-to-binary made of @dl_kernels by constant
    strings (one PTX text per architecture) and the exported function
    `const char *dl_model_gpu_code(int32_t i)`; records the architectures and the kernel
    table as the module's `dl.gpu`, which the signature carries.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def DLReuseDeadInputs : Pass<"dl-reuse-dead-inputs"> {
  let summary = "Let an elementwise generic write its result over an input nothing else reads";
  let description = [{
    Makes such an input (of the result's type, made in this function) the generic's init
    in place of its tensor.empty, so that one-shot bufferization writes the result into
    the input's buffer instead of a new one. Results that end in an output buffer or a
    concat slice are left to dl-eliminate-empty-tensors.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def DLConcatInsertChains : Pass<"dl-concat-insert-chains"> {
  let summary = "Make a long chain of tensor.insert_slice ops that tile one axis one tensor.concat";
  let description = [{
    One-shot bufferization's analysis takes time cubic in the length of an insert_slice
    chain (an unrolled recurrence's output sequence, the gradient of its step slices):
    128 inserts 8 s, 256 inserts 100 s. A chain of 16 or more whose slices tile one axis
    (the other dimensions whole, static offsets and sizes along it, no overlaps) becomes
    one tensor.concat of the pieces, with the gaps taken from what the chain started
    from. Shorter chains stay, so that dl-eliminate-empty-tensors can compute their
    pieces in place.
  }];
  let dependentDialects = ["::mlir::tensor::TensorDialect", "::mlir::linalg::LinalgDialect"];
}

def DLSplitDeallocs : Pass<"dl-split-deallocs"> {
  let summary = "Free each owned allocation of a bufferization.dealloc by a memref.dealloc of its own";
  let description = [{
    Where every buffer of a bufferization.dealloc is a distinct memref.alloc, owned
    unconditionally (condition true), and nothing is retained, the op becomes one
    memref.dealloc per buffer. buffer-deallocation-simplification would reach the same
    by asking whether each pair of buffers may alias, which takes time quadratic in the
    buffers of a block. Run between ownership-based-buffer-deallocation and the
    simplification.
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def DLUniqueEmptyTensors : Pass<"dl-unique-empty-tensors"> {
  let summary = "Give every use of a tensor.empty its own tensor.empty";
  let description = [{
    CSE merges equal tensor.empty ops (they are pure), so the destinations of unrelated
    ops (two concats, two kernels' results of one shape) become one value, which makes
    bufferization copy one of them and keeps dl-eliminate-empty-tensors from writing
    either into its final buffer. Run right before dl-eliminate-empty-tensors.
  }];
  let dependentDialects = ["::mlir::tensor::TensorDialect"];
}

def DLEliminateEmptyTensors : Pass<"dl-eliminate-empty-tensors", "::mlir::ModuleOp"> {
  let summary = "Compute values straight into the output or concat slice they end in";
  let description = [{
    MLIR's eliminate-empty-tensors, restricted to chains it is sound for here. A value
    materialized into an output buffer (or inserted into a concat) is computed there
    directly when it comes from a tensor.empty through ops that each write their one
    destination in place, and every value on that chain, the destination of the insertion
    included, has no other reader. Upstream follows chains whose values other ops read
    too; with outputs written through memrefs, which bufferization does not analyse, that
    placed a value in an output buffer that another output's copy overwrote before it was
    read (found by the random-model tests: one output came out equal to another).
  }];
  let dependentDialects = ["::mlir::bufferization::BufferizationDialect", "::mlir::tensor::TensorDialect"];
}

def DLFreeAfterLastUse : Pass<"dl-free-after-last-use", "::mlir::func::FuncOp"> {
  let summary = "Move each buffer's alloc to its first use, its dealloc to just after the last use of it or its aliases";
  let description = [{
    The ownership-based deallocation pipeline frees a buffer at the end of the block that
    allocated it: in a model's single-block entry function, at the end of the call, so every
    intermediate is alive at once. This pass moves each unconditional memref.dealloc in the
    function's body block to just after the last op there that touches the buffer, through
    any value derived from it (views, casts, pointers, kernel calls) or any memory an op
    that touches it may have written it to (a kernel's address array). Nested uses count
    at their ancestor in the block. Each memref.alloc of the block moves down to just
    before its first use likewise. The runtime's arena then packs buffers by these true
    lifetimes.
  }];
}

def DLProfileMarks : Pass<"dl-profile-marks", "::mlir::ModuleOp"> {
  let summary = "Mark where each op of the dl graph starts running, for dlrun bench --profile";
  let description = [{
    Runs on bufferized entry functions. Each op of the function's body that does work (a
    linalg op, a loop, a copy, a runtime or function call) belongs to the ops of the dl
    graph named in its location: the front end wraps each layer's position in its name
    (`dense`), dl-autodiff names what it builds after what it serves (`dense backward`,
    `adam update`), and fusion joins the locations of what it fuses. Where that name
    changes from one such op to the next, a call `dlrt_k_profile(ctx, site, unit)` marks the
    start of the unit; one more before each return closes the last (unit -1). A session
    with profiling on charges the time from one mark to the next to the first one's
    unit; otherwise the call returns at once. The units' names go into the module's
    `dl.profile_units`, which the signature carries.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::dlrt::DLRTDialect"];
}

def DLMarkBatchSplit : Pass<"dl-mark-batch-split", "::mlir::ModuleOp"> {
  let summary = "Mark an inference entry whose samples never meet: the runtime may split its batch";
  let description = [{
    Runs on the front end's dl ops. The inference entry `infer` is separable along a
    symbol S of the signature when the inputs whose dim 0 is S (and S nowhere else) are
    the batch, every other input and parameter is free of S, every op on the way from
    the batch to the outputs keeps samples apart (dl.BatchSeparableOpInterface), and
    every output has dim 0 S and no S elsewhere. Then row i of each output depends on
    row i of the batched inputs alone, and the module gets `dl.batch_split = "S"`, which
    the signature carries as "batch_split": the runtime may run the entry on slices of
    the batch, one per thread, into the matching rows of the outputs. An op that might
    mix samples, or one the analysis does not know, leaves the module unmarked.
  }];
}

def DLShareFnBodies : Pass<"dl-share-fn-bodies", "::mlir::ModuleOp"> {
  let summary = "Give every call of a `fn` one function: compile time and code follow the distinct code";
  let description = [{
    Runs on lowered entry functions, still on tensors. The ops one call of a `fn` made
    (their locations carry the call's scope) become a call of a private function that
    takes the runtime context, the number of the call's first run-time site, and the
    values the ops read; calls whose ops print alike (locations aside, site numbers
    relative to the first) share the function. A call's forward ops and the ops of its
    backward pass and parameter updates are separate levels, each its own call. A
    function with fewer than min-uses calls is not made.
  }];
  let options = [Option<"minUses", "min-uses", "unsigned", "2", "Calls a body needs to be shared (at least 2)">];
  let dependentDialects = ["::mlir::func::FuncDialect", "::mlir::LLVM::LLVMDialect", "::mlir::arith::ArithDialect"];
}

def DLOutlineKernels : Pass<"dl-outline-kernels", "::mlir::ModuleOp"> {
  let summary = "Move each top-level loop nest of an entry function into a function, one per distinct body";
  let description = [{
    Runs on bufferized entry functions (those whose first argument is the runtime
    context). Each linalg op or loop of the function's body becomes a call of a private,
    internal, never-inlined function that takes the values it uses as arguments, with
    constants cloned in. Nests that print the same (locations aside) share one function,
    so that repeated layers compile once: compile time and code size follow the distinct
    code, not the depth. Elementwise, broadcast, transpose and one-input reduction nests
    (not contractions, not windows) that print the same but for their buffers' shapes,
    strides and offsets share one function that takes its buffers with unknown shapes
    (each call casts them). With parallel-rows, a linalg op whose outer loop is parallel
    takes a range of its rows and its call is marked for dl-parallel-kernel-calls. Each kernel
    records which of its buffers no other argument of any of its calls reaches, for
    dl-kernel-noalias.
  }];
  let options = [
    Option<"parallelRows", "parallel-rows", "bool", /*default=*/"false",
           "Give nests with a parallel outer loop a row range, to run over the session's threads">,
    Option<"shareAcrossShapes", "share-across-shapes", "bool", /*default=*/"true",
           "Nests that differ only in their buffers' shapes share one kernel that knows no shape">
  ];
  let dependentDialects = ["::mlir::func::FuncDialect", "::mlir::LLVM::LLVMDialect"];
}

def DLRTCallToFunc : Pass<"dlrt-call-to-func", "::mlir::ModuleOp"> {
  let summary = "Turn bufferized dlrt.call ops into calls of the runtime's C kernels";
  let description = [{
    Runs after one-shot bufferization and buffer deallocation, so that every pass that
    reasons about buffers sees which ones a kernel reads and writes. Each buffer becomes
    its data pointer, an address array a stack array of i64 addresses, an absent optional
    buffer a null pointer; the kernel is declared in the module on first use. A call still
    on tensors is an error (bufferization did not run).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::func::FuncDialect",
                           "::mlir::LLVM::LLVMDialect", "::mlir::memref::MemRefDialect"];
}

def DLExpandStridedCopies : Pass<"dl-expand-strided-copies"> {
  let summary = "Turn memref.copy of non-contiguous buffers into linalg.copy loops";
  let description = [{
    The LLVM lowering of memref.copy calls MLIR's runner-utils `memrefCopy` for strided
    buffers, a symbol no deployment has. Contiguous copies keep memref.copy (a memcpy);
    the others become linalg.copy, which later turns into loops. A copy of a buffer onto
    itself is dropped.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def DLCollapseLoopDims : Pass<"dl-collapse-loop-dims"> {
  let summary = "Merge the consecutive loops of a linalg.generic that walk memory as one";
  let description = [{
    Consecutive dims of one iterator kind that every operand indexes together and in
    order become one dim (the operands reshaped around the op). An elementwise op over
    contiguous tensors becomes a single loop, which LLVM vectorises along memory instead
    of unrolling a short inner loop and vectorising the strided one around it.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
                           "::mlir::memref::MemRefDialect", "::mlir::affine::AffineDialect",
                           "::mlir::arith::ArithDialect"];
}

def DLApproximateMath : Pass<"dl-approximate-math"> {
  let summary = "Replace erf and exp by inline polynomials that vectorise";
  let description = [{
    libm's scalar erff and expf keep the loops that call them from vectorising. MLIR's
    polynomial approximations (f32, a few ulp) are arithmetic that LLVM vectorises.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect"];
}

def DLKernelNoAlias : Pass<"dl-kernel-noalias", "::mlir::ModuleOp"> {
  let summary = "Mark outlined kernels' separate buffers noalias";
  let description = [{
    Runs on the LLVM dialect, after func-to-llvm. dl-outline-kernels records on each
    kernel the argument positions of the aligned pointers of buffers that no other argument
    of any of its calls reaches (`dl.noalias_args`, with the argument count it assumed in
    `dl.noalias_arg_count`); this pass makes those arguments `llvm.noalias`, and drops the
    record. A function whose arguments do not match the record gets a warning and no mark.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def DLParallelKernelCalls : Pass<"dl-parallel-kernel-calls", "::mlir::ModuleOp"> {
  let summary = "Run outlined kernels marked dl.parallel_rows over the session's threads";
  let description = [{
    Runs on the LLVM dialect, before dl-emit-model-interface. Each call of an outlined
    kernel that dl-outline-kernels marked `dl.parallel_rows` (its first two arguments a
    range of rows, the attribute the work of one row) becomes a call of the runtime's
    `dlrt_k_parallel_rows(ctx, rows_fn, data, count, work_per_row)`: the other arguments
    are stored into a frame on the caller's stack, and `rows_fn(data, begin, end)`, one
    per kernel, loads them and calls the kernel for its rows.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def DLEmitModelInterface : Pass<"dl-emit-model-interface", "::mlir::ModuleOp"> {
  let summary = "Add model.so's exported interface to an LLVM-dialect module";
  let description = [{
    Runs after the lowering to the LLVM dialect. Adds `dl_model_abi_version`,
    `dl_model_signature` (the JSON of the module's `dl.signature`), one
    `dl_entry_<name>(ctx, descriptors)` wrapper per entry function, and routes every call
    of a `dlrt_` runtime kernel through an import slot that `dl_model_bind` fills from the
    runtime's resolver, so model.so has no undefined symbols of dlrt's and works however
    the runtime itself was loaded.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif
