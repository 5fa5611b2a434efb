//===- OutlineKernels.cpp - each loop nest a function, each distinct one once ===//
//
// A model's entry function holds every layer's loops one after the other: TinyGpt's train
// step at 8 layers is one LLVM function of 105k instructions in which each layer's
// layer_norm, softmax and GELU loops appear again. LLVM's instruction selection and
// scheduling grow faster than linearly with a function's size, and it compiles each copy
// anew. This pass moves each top-level loop nest of an entry function (a linalg op or a
// loop) into a private function of its own, taking the buffers and values it uses as
// arguments (constants are cloned in, so shapes and bounds stay static), and keeps one
// function per distinct body: the layers' identical loops become calls of one function.
// Compile time and code size then follow the distinct code rather than the depth. Runtime
// calls, copies and bookkeeping stay in the entry function. The functions are never
// inlined back (that would undo the point), which costs one call per loop nest.
//
// Nests that differ only in their buffers' shapes, strides and offsets (an update of each
// parameter shape, copies of slices at different offsets) would still compile once per
// shape. Where at least two such shaped bodies exist and the op streams through memory
// (see mayShareAcrossShapes), they share one function whose buffers know no shape, unit
// strides aside, and each call casts its buffers. So every nest is seen before any is
// replaced: a nest alone of its kind keeps its static shapes.
//
// With parallel-rows (dlc --parallel-loops), a linalg op whose outermost loop is
// parallel, and whose operands each take that loop's index as one of their own dims or not
// at all, becomes a function of a range of that loop (the leading `begin, end` arguments;
// the body works on subviews of those rows), and its call says so: `dl.parallel_rows`
// holds the work of one row. dl-parallel-kernel-calls then runs it over the session's
// threads. Each row is computed by the same code however the rows are split, and rows
// write disjoint elements, so the split cannot change a result. Below outer reductions (a
// bias's gradient sums a [rows, columns] gradient over its rows) the "rows" are those of
// the first parallel loop, the columns: each range sums every row for its columns, in the
// order one thread would, and the call also passes the reductions' iteration count, which
// the work of a column needs where the batch sets it.
//
// Each kernel also learns which of its buffers are separate: at every call, no other
// argument reaches the buffer's memory (see separateBuffers). LLVM is told so (noalias,
// through dl-kernel-noalias); without it, a store through one argument may change what
// another reads, and LLVM keeps copies and reductions scalar, one element at a time.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "compiler/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Interfaces/LoopLikeInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLOUTLINEKERNELS
#include "compiler/Conversion/Passes.h.inc"

namespace {

bool isLoopNest(Operation *op) { return isa<linalg::LinalgOp, LoopLikeOpInterface>(op); }

/// The loop whose iterations a kernel may split over threads (its "rows"): the first
/// parallel one, outermost or below reductions only; -1 where there is none. Below
/// reductions only with at least kMinSplitColumns iterations, known: each thread's range
/// is the inner loop of its sums, and a few columns each would leave the vectors empty.
constexpr int64_t kMinSplitColumns = 128;
int64_t rowLoop(linalg::LinalgOp op) {
  for (auto [i, iterator] : llvm::enumerate(op.getIteratorTypesArray())) {
    if (iterator != utils::IteratorType::parallel) continue;
    if (i == 0) return 0;
    int64_t extent = op.getStaticLoopRanges()[i];
    return !ShapedType::isDynamic(extent) && extent >= kMinSplitColumns ? int64_t(i) : -1;
  }
  return -1;
}

/// Where each operand of `op` has the index of loop `loop` (rowLoop's): the dim of the
/// operand (-1: it does not depend on that loop); empty when the rows cannot be split: an
/// operand indexes by an expression of it, an output does not depend on it (every row
/// would write it), or the body does more than compute scalars.
SmallVector<int64_t> rowDims(linalg::LinalgOp op, int64_t loop) {
  if (!op.hasPureBufferSemantics()) return {};
  SmallVector<int64_t> dims;
  for (OpOperand &operand : op->getOpOperands()) {
    if (!isa<MemRefType>(operand.get().getType())) {
      dims.push_back(-1);
      continue;
    }
    AffineMap map = op.getMatchingIndexingMap(&operand);
    int64_t at = -1;
    for (auto [i, e] : llvm::enumerate(map.getResults())) {
      if (auto d = dyn_cast<AffineDimExpr>(e); d && d.getPosition() == loop && at < 0) at = int64_t(i);
      else if (e.isFunctionOfDim(unsigned(loop))) return {};
    }
    if (at < 0 && op.isDpsInit(&operand)) return {};
    dims.push_back(at);
  }
  bool pure = true;
  op->walk([&](Operation *inner) {
    if (inner != op.getOperation() && !isa<linalg::IndexOp>(inner) && !isMemoryEffectFree(inner)) pure = false;
  });
  if (!pure) return {};
  return dims;
}

/// The work of one row (iteration of loop `loop`) of `op`: its body's ops, times, with
/// `ofLoops`, the iterations of its other loops (those of unknown extent count once).
int64_t workPerRow(linalg::LinalgOp op, int64_t loop, bool ofLoops = true) {
  int64_t work = std::max<int64_t>(llvm::range_size(op.getBlock()->without_terminator()), 1);
  for (auto [i, r] : llvm::enumerate(op.getStaticLoopRanges()))
    if (ofLoops && int64_t(i) != loop && !ShapedType::isDynamic(r)) work *= std::max<int64_t>(r, 1);
  return work;
}

/// Whether a split of `op`'s rows (loop `loop`) could ever pay: not where their count is
/// known and the whole work is below what the runtime splits (DLRT_MIN_PARALLEL_ROWS_WORK).
/// A splittable nest costs compile time (its bounds are no longer constants, and its call
/// fills a frame), so parameter-sized updates and other small nests stay whole. Columns
/// below reductions of unknown extent (a sum over the batch) may pay.
bool mayPayToSplit(linalg::LinalgOp op, int64_t loop) {
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  int64_t rows = ranges[size_t(loop)];
  if (ShapedType::isDynamic(rows)) return true;
  for (int64_t outer = 0; outer < loop; ++outer)
    if (ShapedType::isDynamic(ranges[size_t(outer)])) return true;
  return rows > 1 && double(rows) * double(workPerRow(op, loop)) >= DLRT_MIN_PARALLEL_ROWS_WORK;
}

/// The buffer a memref value is a view of: through subviews, casts, reshapes and other
/// views to the op or block argument that made it.
Value bufferOf(Value v) {
  while (auto view = v.getDefiningOp<ViewLikeOpInterface>()) v = view.getViewSource();
  return v;
}

/// Whether `buffer` was allocated in the function (a fresh allocation, disjoint from any
/// other buffer live with it: the runtime's arena places buffers alive at once apart).
bool isFreshAllocation(Value buffer) {
  return isa_and_present<memref::AllocOp, memref::AllocaOp>(buffer.getDefiningOp());
}

/// Memory that existed before the function ran: its arguments (the caller's buffers) and
/// globals. None of it lies in a fresh allocation of the function. (An argument of another
/// block may carry one of the function's allocations: it is neither.)
bool isPreexisting(Value buffer) {
  if (auto arg = dyn_cast<BlockArgument>(buffer))
    return arg.getOwner()->isEntryBlock() && isa<FunctionOpInterface>(arg.getOwner()->getParentOp());
  return bool(buffer.getDefiningOp<memref::GetGlobalOp>());
}

/// For each of a kernel call's arguments: whether it is a buffer that no other argument
/// reaches. Two arguments are apart when they view different buffers and one of them is a
/// fresh allocation (the other is another allocation, live at the same time, or memory
/// from before the function). Two arguments of the function may be one buffer, and a
/// buffer some other op returned may view anything: those are apart from nothing. Views
/// of one buffer are never apart, even where their elements are (in-place updates).
SmallVector<bool> separateBuffers(ArrayRef<Value> args) {
  SmallVector<Value> buffers;
  for (Value a : args) buffers.push_back(isa<MemRefType>(a.getType()) ? bufferOf(a) : Value());
  auto known = [](Value b) { return isFreshAllocation(b) || isPreexisting(b); };
  auto apart = [&](Value x, Value y) {
    return x != y && known(x) && known(y) && (isFreshAllocation(x) || isFreshAllocation(y));
  };
  SmallVector<bool> separate;
  for (auto [i, b] : llvm::enumerate(buffers)) {
    bool alone = b && known(b);
    for (auto [j, other] : llvm::enumerate(buffers))
      if (alone && i != j && other) alone = apart(b, other);
    separate.push_back(alone);
  }
  return separate;
}

/// `type` with every size, stride and offset unknown, unit strides aside: what a kernel
/// shared by nests of different shapes takes (a contiguous buffer stays contiguous, and
/// a unit stride stays known, which is what vectorising its loops needs). Null where the
/// layout is not strided.
MemRefType shapeGeneralType(MemRefType type) {
  SmallVector<int64_t> shape(type.getRank(), ShapedType::kDynamic);
  if (type.getLayout().isIdentity())
    return MemRefType::get(shape, type.getElementType(), MemRefLayoutAttrInterface(), type.getMemorySpace());
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset))) return {};
  for (int64_t &stride : strides)
    if (stride != 1) stride = ShapedType::kDynamic;
  auto layout = StridedLayoutAttr::get(type.getContext(), ShapedType::kDynamic, strides);
  return MemRefType::get(shape, type.getElementType(), layout, type.getMemorySpace());
}

/// Whether `op` is a contraction in the wide sense: two of its inputs read along one of
/// its reduction loops (a matmul, and a dense layer's matmul with the previous layer's
/// bias and relu fused in, which linalg's contraction interface does not recognise).
bool isContractionLike(linalg::LinalgOp op) {
  for (auto [loop, iterator] : llvm::enumerate(op.getIteratorTypesArray())) {
    if (iterator != utils::IteratorType::reduction) continue;
    unsigned reading = llvm::count_if(op.getDpsInputOperands(), [&](OpOperand *in) {
      return op.getMatchingIndexingMap(in).isFunctionOfDim(loop);
    });
    if (reading > 1) return true;
  }
  return false;
}

/// Whether `op` may run in a kernel that does not know its buffers' shapes, shared with
/// nests of other shapes: a linalg op that indexes each operand by its loops alone and
/// streams through memory (elementwise, broadcast, transpose, a reduction of one input).
/// Not windows (convolutions, pooling: their loops index by sums, built around the
/// window's static extent) nor contractions, whose loops LLVM unrolls and vectorises
/// around their static extents: the linalg path's MLP at b64 ran 0.43 -> 0.53 ms with its
/// fused dense layers shared.
bool mayShareAcrossShapes(Operation *op) {
  auto linalgOp = dyn_cast<linalg::LinalgOp>(op);
  return linalgOp && linalgOp.hasPureBufferSemantics() && !isContractionLike(linalgOp) &&
         llvm::all_of(linalgOp.getIndexingMapsArray(), [](AffineMap m) { return m.isProjectedPermutation(); });
}

/// A function's body as text, without locations or the function's name: equal text,
/// equal code. Printed as verified (each body is a clone of verified IR, and a shapeless
/// one is printed only once its verifier has accepted it): otherwise the printer runs the
/// verifier first, to fall back to the generic form, and that was half of this pass's
/// time (TinyGpt: 6-7 of 13 ms).
std::string bodyKey(func::FuncOp fn) {
  std::string key;
  llvm::raw_string_ostream os(key);
  OpPrintingFlags flags;
  flags.enableDebugInfo(false);
  flags.useLocalScope();
  flags.assumeVerified();
  fn->print(os, flags);
  return key;
}

class Outliner {
public:
  Outliner(ModuleOp module, bool parallelRows, bool shareAcrossShapes)
      : module(module), parallelRows(parallelRows), shareAcrossShapes(shareAcrossShapes) {}
  ~Outliner() {
    for (auto &entry : bodies)
      for (func::FuncOp fn : {entry.second.exact, entry.second.general})
        if (fn) fn->erase();
  }

  /// Records `op`, and builds the kernels it could become where no nest before it had
  /// its code: the one with its buffers' own types, and, where it may share across
  /// shapes, the one that knows no shape. Which it becomes is decided once every nest
  /// has been seen (outlineAll).
  void add(Operation *op) {
    Nest nest;
    nest.op = op;
    auto linalgOp = dyn_cast<linalg::LinalgOp>(op);
    if (linalgOp && parallelRows) {
      nest.rowLoop = rowLoop(linalgOp);
      if (nest.rowLoop >= 0 && mayPayToSplit(linalgOp, nest.rowLoop)) nest.rows = rowDims(linalgOp, nest.rowLoop);
    }
    // What the nest reads from outside it: operands and values its regions capture.
    llvm::SetVector<Value> used(op->getOperands().begin(), op->getOperands().end());
    getUsedValuesDefinedAbove(op->getRegions(), used);
    for (Value v : used) {
      Operation *def = v.getDefiningOp();
      if (def && def->hasTrait<OpTrait::ConstantLike>() && def->getNumResults() == 1) nest.constants.push_back(def);
      else nest.args.push_back(v);
    }
    SmallVector<Type> exactTypes(ValueRange(nest.args).getTypes());
    func::FuncOp exact = build(nest, exactTypes);
    auto [it, added] = bodies.try_emplace(bodyKey(exact));
    nest.body = &*it;
    if (!added) {
      exact->erase(); // the same code as an earlier nest's, which decided the rest
      nests.push_back(std::move(nest));
      return;
    }
    Body &body = it->second;
    body.exact = exact;
    if (shareAcrossShapes && mayShareAcrossShapes(op)) {
      SmallVector<Type> generalTypes;
      for (Type t : exactTypes) {
        auto memref = dyn_cast<MemRefType>(t);
        generalTypes.push_back(memref ? shapeGeneralType(memref) : t);
      }
      if (llvm::all_of(generalTypes, [](Type t) { return bool(t); })) {
        func::FuncOp general = build(nest, generalTypes);
        // The op's verifier is the judge of whether it holds without its shapes; what it
        // says is for this choice only, never the user's.
        ScopedDiagnosticHandler quiet(module.getContext(), [](Diagnostic &) { return success(); });
        if (succeeded(verify(general))) {
          body.general = general;
          body.generalKey = "shapes:" + bodyKey(general);
          ++shapesOf[body.generalKey];
        } else {
          general->erase();
        }
      }
    }
    nests.push_back(std::move(nest));
  }

  /// Replaces each nest by a call of its kernel. Nests that differ only in their shapes
  /// (TinyGpt's AdamW update of each parameter shape, the strided copies of q, k and v
  /// out of one projection) share the kernel that knows no shape; a nest whose code is
  /// the only one of its kind keeps its static shapes, which its loops are built around.
  void outlineAll() {
    for (Nest &nest : nests) {
      Body &body = nest.body->second;
      bool general = !body.generalKey.empty() && shapesOf[body.generalKey] > 1;
      func::FuncOp &fn = general ? body.general : body.exact;
      func::FuncOp kernel = adopt(fn, general ? StringRef(body.generalKey) : nest.body->first());
      if (kernel == fn) fn = nullptr; // the module's now
      call(nest, kernel);
    }
  }

  /// Records on each kernel where its separate buffers' aligned pointers will be once
  /// func-to-llvm has expanded every memref argument into its descriptor's fields
  /// (allocated and aligned pointers, offset, sizes, strides).
  void annotateSeparateBuffers() {
    for (auto &[fn, separate] : separateArgs) {
      size_t leading = fn.getNumArguments() - separate.size(); // a row range
      SmallVector<int64_t> pointers;
      int64_t at = 0;
      for (auto [i, type] : llvm::enumerate(fn.getArgumentTypes())) {
        auto memref = dyn_cast<MemRefType>(type);
        if (!memref) {
          at += isa<UnrankedMemRefType>(type) ? 2 : 1;
          continue;
        }
        if (i >= leading && separate[i - leading]) pointers.push_back(at + 1);
        at += 3 + 2 * memref.getRank();
      }
      if (pointers.empty()) continue;
      OpBuilder b(fn);
      fn->setAttr(kNoAliasArgsAttr, b.getDenseI64ArrayAttr(pointers));
      fn->setAttr(kNoAliasArgCountAttr, b.getI64IntegerAttr(at));
    }
  }

private:
  /// A distinct body: the kernels a nest with it could become, detached until taken.
  struct Body {
    func::FuncOp exact;   // with its buffers' own types
    func::FuncOp general; // knowing no shape
    std::string generalKey; // empty where it cannot know no shape
  };

  /// A loop nest of an entry function.
  struct Nest {
    Operation *op;
    SmallVector<int64_t> rows;          // the dims of its operands that its row range restricts; empty: none
    int64_t rowLoop = -1;               // the loop whose range that is (rowLoop())
    SmallVector<Value> args;            // what it takes besides a row range
    SmallVector<Operation *> constants; // what it uses that is cloned into the kernel
    llvm::StringMapEntry<Body> *body;   // its body as text, and its kernels
  };

  /// A detached kernel for `nest` whose arguments (after a row range) have `types`.
  func::FuncOp build(const Nest &nest, ArrayRef<Type> types) {
    MLIRContext *ctx = module.getContext();
    Operation *op = nest.op;
    SmallVector<Type> argTypes;
    if (!nest.rows.empty()) argTypes.append(leadingArgs(nest), IndexType::get(ctx)); // begin, end (, scale)
    llvm::append_range(argTypes, types);
    OpBuilder mb(ctx);
    auto type = FunctionType::get(ctx, argTypes, op->getResultTypes());
    auto fn = func::FuncOp::create(mb, op->getLoc(), "dl_kernel", type);
    fn.setPrivate();
    Block *body = fn.addEntryBlock();
    OpBuilder b = OpBuilder::atBlockBegin(body);
    IRMapping map;
    for (auto [v, a] : llvm::zip(nest.args, body->getArguments().drop_front(leadingArgs(nest)))) map.map(v, a);
    for (Operation *c : nest.constants) map.map(c->getResult(0), b.clone(*c)->getResult(0));
    Operation *copy = b.clone(*op, map);
    if (!nest.rows.empty()) restrictToRows(copy, nest.rows, nest.rowLoop, body->getArgument(0), body->getArgument(1));
    func::ReturnOp::create(b, op->getLoc(), copy->getResults());
    return fn;
  }

  /// The module's kernel for `key`: `fn`, added to the module, where it is the first.
  func::FuncOp adopt(func::FuncOp fn, StringRef key) {
    auto [it, added] = kernels.try_emplace(key, fn);
    if (!added) return it->second;
    MLIRContext *ctx = module.getContext();
    module.getBody()->push_back(fn);
    fn.setSymName(("dl_kernel_" + llvm::Twine(kernels.size() - 1)).str());
    // Internal and never inlined: LLVM would otherwise paste the one-call functions back.
    fn->setAttr("llvm.linkage", LLVM::LinkageAttr::get(ctx, LLVM::Linkage::Internal));
    // (func-to-llvm carries `passthrough` over to LLVM; a `no_inline` unit attribute it drops.)
    fn->setAttr("passthrough", ArrayAttr::get(ctx, {StringAttr::get(ctx, "noinline")}));
    return fn;
  }

  /// Replaces `nest` by a call of `kernel`, its buffers cast to the kernel's types.
  void call(Nest &nest, func::FuncOp kernel) {
    Operation *op = nest.op;
    // A value an earlier nest returned (a loop's result) is its call's now.
    for (Value &v : nest.args)
      if (Value r = replaced.lookup(v)) v = r;
    OpBuilder at(op);
    SmallVector<Value> callArgs;
    if (!nest.rows.empty()) {
      // All the rows; dl-parallel-kernel-calls splits them.
      callArgs.push_back(arith::ConstantIndexOp::create(at, op->getLoc(), 0));
      auto linalgOp = cast<linalg::LinalgOp>(op);
      callArgs.push_back(rowCount(at, linalgOp, nest.rowLoop));
      if (leadingArgs(nest) > 2) callArgs.push_back(otherIterations(at, linalgOp, nest.rowLoop));
    }
    ArrayRef<Type> kernelTypes = kernel.getArgumentTypes().drop_front(callArgs.size());
    for (auto [v, type] : llvm::zip(nest.args, kernelTypes))
      callArgs.push_back(v.getType() == type ? v : memref::CastOp::create(at, op->getLoc(), type, v).getResult());
    SmallVector<bool> separate = separateBuffers(nest.args);
    auto [known, first] = separateArgs.try_emplace(kernel, separate);
    if (!first)
      for (auto [all, here] : llvm::zip(known->second, separate)) all = all && here;
    auto call = func::CallOp::create(at, op->getLoc(), kernel, callArgs);
    if (!nest.rows.empty()) {
      auto linalgOp = cast<linalg::LinalgOp>(op);
      if (leadingArgs(nest) > 2) {
        // The work of a column: the body's ops times the third argument's iterations.
        call->setAttr(kParallelRowsAttr, at.getI64IntegerAttr(workPerRow(linalgOp, nest.rowLoop, /*ofLoops=*/false)));
        call->setAttr(kParallelRowsScaledAttr, at.getUnitAttr());
      } else {
        call->setAttr(kParallelRowsAttr, at.getI64IntegerAttr(workPerRow(linalgOp, nest.rowLoop)));
      }
    }
    for (auto [from, to] : llvm::zip(op->getResults(), call.getResults())) replaced[from] = to;
    op->replaceAllUsesWith(call.getResults());
    op->erase();
  }

  /// Makes `op` (in a kernel's body) compute only rows [begin, end) of its loop `loop`:
  /// each operand that has that loop's index as dim rows[i] is replaced by the subview of
  /// those rows, and the body's index of that loop is offset by `begin`.
  static void restrictToRows(Operation *op, ArrayRef<int64_t> rows, int64_t loop, Value begin, Value end) {
    Location loc = op->getLoc();
    OpBuilder b(op);
    Value count = arith::SubIOp::create(b, loc, end, begin);
    for (auto [operand, dim] : llvm::zip(op->getOpOperands(), rows)) {
      if (dim < 0) continue;
      Value source = operand.get();
      auto type = cast<MemRefType>(source.getType());
      SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0)), strides(type.getRank(), b.getIndexAttr(1));
      SmallVector<OpFoldResult> sizes = memref::getMixedSizes(b, loc, source);
      offsets[dim] = begin;
      sizes[dim] = count;
      operand.set(memref::SubViewOp::create(b, loc, source, offsets, sizes, strides));
    }
    for (auto index : llvm::to_vector(op->getRegion(0).getOps<linalg::IndexOp>())) {
      if (int64_t(index.getDim()) != loop) continue;
      OpBuilder ib(index->getNextNode());
      auto shifted = arith::AddIOp::create(ib, index.getLoc(), index, begin);
      index.getResult().replaceAllUsesExcept(shifted, shifted);
    }
  }

  /// The index arguments a kernel for `nest` takes before its buffers: none, a row range,
  /// or, for the columns below reductions, a row range and the iterations of the other
  /// loops (otherIterations), which its call's work needs and the kernel does not read.
  static unsigned leadingArgs(const Nest &nest) { return nest.rows.empty() ? 0 : nest.rowLoop > 0 ? 3 : 2; }

  /// The extent of `op`'s loop `loop`: a constant where known, else the dim of an operand
  /// that indexes by it; null where no operand does.
  static Value loopExtent(OpBuilder &b, linalg::LinalgOp op, int64_t loop) {
    Location loc = op.getLoc();
    int64_t extent = op.getStaticLoopRanges()[size_t(loop)];
    if (!ShapedType::isDynamic(extent)) return arith::ConstantIndexOp::create(b, loc, extent);
    for (OpOperand &operand : op->getOpOperands()) {
      if (!isa<MemRefType>(operand.get().getType())) continue;
      for (auto [d, expr] : llvm::enumerate(op.getMatchingIndexingMap(&operand).getResults()))
        if (auto dim = dyn_cast<AffineDimExpr>(expr); dim && dim.getPosition() == loop)
          return b.createOrFold<memref::DimOp>(loc, operand.get(), int64_t(d));
    }
    return nullptr;
  }

  /// The product of the extents of `op`'s loops other than `loop` (one that no operand
  /// spans counts once, as workPerRow counts it).
  static Value otherIterations(OpBuilder &b, linalg::LinalgOp op, int64_t loop) {
    Value product;
    for (int64_t i = 0, loops = op.getNumLoops(); i < loops; ++i) {
      Value e = i == loop ? nullptr : loopExtent(b, op, i);
      if (e) product = product ? b.createOrFold<arith::MulIOp>(op.getLoc(), product, e) : e;
    }
    return product ? product : arith::ConstantIndexOp::create(b, op.getLoc(), 1);
  }

  /// The extent of `op`'s split loop (its rows), which an output indexes by.
  static Value rowCount(OpBuilder &b, linalg::LinalgOp op, int64_t loop) {
    Value count = loopExtent(b, op, loop);
    assert(count && "an output indexes by the split loop");
    return count;
  }

  ModuleOp module;
  bool parallelRows, shareAcrossShapes;
  std::vector<Nest> nests;
  llvm::StringMap<Body> bodies;
  /// Per body that knows no shape: how many distinct bodies with shapes it stands for.
  llvm::StringMap<unsigned> shapesOf;
  /// The results of nests already replaced, and their calls' that replace them.
  DenseMap<Value, Value> replaced;
  /// The module's kernels, by the key of the body they came from.
  llvm::StringMap<func::FuncOp> kernels;
  /// Per kernel, per argument of its calls: separate at every call so far.
  llvm::MapVector<func::FuncOp, SmallVector<bool>> separateArgs;
};

struct OutlineKernels : impl::DLOutlineKernelsBase<OutlineKernels> {
  using DLOutlineKernelsBase::DLOutlineKernelsBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<func::FuncOp> entries;
    // Entries and the shared bodies of fn calls (which take the runtime context first too).
    for (auto fn : module.getOps<func::FuncOp>())
      if (isLoweredEntry(fn) || fn->hasAttr(kSharedFnBodyAttr)) entries.push_back(fn);
    Outliner outliner(module, parallelRows, shareAcrossShapes);
    for (func::FuncOp fn : entries)
      for (Block &block : fn.getBody())
        for (Operation &op : block)
          if (isLoopNest(&op)) outliner.add(&op);
    outliner.outlineAll();
    outliner.annotateSeparateBuffers();
  }
};

} // namespace
} // namespace dlc
