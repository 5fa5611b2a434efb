//===- RuntimeCalls.h - building calls into the dlrt kernels ----*- C++ -*-===//
//
// Lowerings build `dlrt.call` ops on tensors: each kernel argument says whether the kernel
// reads it, writes it (a result's destination) or takes it as a scalar word, so one-shot
// bufferization sees every buffer a kernel touches. Pointers appear only after
// bufferization (dlrt-call-to-func).
//
//===----------------------------------------------------------------------===//
#ifndef DLC_CONVERSION_DLTOCPU_RUNTIMECALLS_H
#define DLC_CONVERSION_DLTOCPU_RUNTIMECALLS_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace dlc {

/// The runtime context: the first argument of every entry function after the boundary
/// is lowered.
mlir::Value runtimeContext(mlir::Operation *op);

/// Marks a function dl-share-fn-bodies made: the body every call of one `fn` shares. Its
/// first argument is the runtime context, like an entry's.
inline constexpr llvm::StringLiteral kSharedFnBodyAttr = "dl.shared_fn_body";
/// On a call of an outlined kernel whose first two arguments are a range of its outermost
/// loop, or of its first parallel loop below reductions (dl-outline-kernels): the work of
/// one row of that loop. dl-parallel-kernel-calls
/// splits the rows over the session's threads.
inline constexpr llvm::StringLiteral kParallelRowsAttr = "dl.parallel_rows";
/// With kParallelRowsAttr, on a call whose rows are a loop below reductions (columns): its
/// third argument, which the kernel does not read, multiplies the work of a row (the
/// extents of its other loops, known at run time: a sum over the batch).
inline constexpr llvm::StringLiteral kParallelRowsScaledAttr = "dl.parallel_rows_scaled";
/// On an outlined kernel (dl-outline-kernels): the positions, among its arguments once
/// lowered to the LLVM dialect (a memref as its descriptor's fields), of the aligned
/// pointers of buffers that no other argument of any of its calls can reach.
/// dl-kernel-noalias makes them `noalias`. kNoAliasArgCountAttr holds the argument count
/// those positions assume.
inline constexpr llvm::StringLiteral kNoAliasArgsAttr = "dl.noalias_args";
inline constexpr llvm::StringLiteral kNoAliasArgCountAttr = "dl.noalias_arg_count";

/// Whether `fn` is an entry point with its boundary lowered: a public function with a
/// body whose first argument is the runtime context.
bool isLoweredEntry(mlir::func::FuncOp fn);

/// One call of a runtime kernel, its C arguments added in order. The context and the
/// call site of `op` come first, as every kernel takes them.
class KernelCall {
public:
  KernelCall(mlir::OpBuilder &b, mlir::Location loc, mlir::Operation *op, llvm::StringRef callee);

  /// A scalar word, or a tensor (or i64Array) the kernel only reads.
  KernelCall &in(mlir::Value v);
  /// A tensor the kernel reads, or a null pointer where `tensorOrNull` is absent.
  KernelCall &optional(mlir::Value tensorOrNull);
  /// The addresses of several tensors the kernel reads, as one i64 array.
  KernelCall &addresses(mlir::ValueRange tensors);
  /// A new result of `type` the kernel writes (dynamic sizes in order).
  KernelCall &out(mlir::RankedTensorType type, mlir::ValueRange dynSizes);
  /// A result written over `dest` where bufferization finds `dest` dead afterwards, into
  /// a copy of it otherwise; `readsDest` when the kernel reads its contents first.
  KernelCall &into(mlir::Value dest, bool readsDest);
  /// The kernel may be handed a destination that is also one of its inputs.
  KernelCall &inPlace() { inPlace_ = true; return *this; }

  /// Creates the call; returns its results, one per out/into, in order.
  llvm::SmallVector<mlir::Value> emit();
  /// emit() for a kernel with one result.
  mlir::Value emitResult();

private:
  mlir::OpBuilder &b;
  mlir::Location loc;
  std::string callee;
  llvm::SmallVector<mlir::Value> operands;
  llvm::SmallVector<int32_t> kinds;
  llvm::SmallVector<mlir::Type> resultTypes;
  bool inPlace_ = false;
};

mlir::Value i64Value(mlir::OpBuilder &b, mlir::Location loc, mlir::Value index);
/// An i64 constant, the type of kernels' scalar words.
mlir::Value i64Const(mlir::OpBuilder &b, mlir::Location loc, int64_t v);
/// An f64 constant (kernels' epsilons).
mlir::Value f64Const(mlir::OpBuilder &b, mlir::Location loc, double v);
/// A stack array of i64 words (index values are converted), for KernelCall::in: how
/// kernels with many sizes (convolution geometry, matmul dims) receive them.
mlir::Value i64Array(mlir::OpBuilder &b, mlir::Location loc, llvm::ArrayRef<mlir::Value> values);
/// Numbers the ops with the dl::RuntimeCallSite trait in program order (`dl.site`) and
/// records each one's layer and source location in the module's `dl.sites`: the runtime
/// caches a primitive per site and names the site's location in run-time errors. Every
/// target's lowering starts with it.
void numberCallSites(mlir::ModuleOp module);
/// After a target's lowering patterns: an error at each dl op left (one the target has no
/// lowering for, with these types), and failure if there was one.
mlir::LogicalResult requireAllLowered(mlir::ModuleOp module, llvm::StringRef target);
/// The op's call-site number (`dl.site`, assigned by dl-lower-to-cpu) as an i64 constant;
/// the runtime keys caches by it and names the op's source location in errors.
mlir::Value siteOf(mlir::OpBuilder &b, mlir::Location loc, mlir::Operation *op);
/// The bytes (an index) the training form of `op`'s kernel keeps for its backward, asked
/// of the runtime through `kernel` (which writes them into a one-word tensor): only the
/// runtime knows oneDNN's layout of that workspace.
mlir::Value workspaceBytes(mlir::OpBuilder &b, mlir::Location loc, mlir::Operation *op, llvm::StringRef kernel,
                           mlir::Value geom);

} // namespace dlc
#endif
