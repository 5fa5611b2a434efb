//===- MapToGPU.cpp - the dl-map-to-gpu pass ------------------------------===//
//
// On the GPU target every buffer the generated code allocates or receives lives in device
// memory; the host only computes shapes, allocates, launches and calls the runtime. This
// pass puts every read and write of a buffer's elements into a kernel:
//
//   - memref.copy becomes linalg.copy, and every linalg op its loops (the parallel dims
//     as one scf.parallel, the reduction dims as scf.for inside it);
//   - each outermost scf.parallel becomes a gpu.launch of one thread per iteration:
//     all its dims linearised, the innermost fastest (neighbouring threads touch
//     neighbouring elements), in blocks of `block-size` threads, a guard for the tail;
//   - what is left that touches buffer elements outside any parallel loop (a rank-0
//     generic's body, a loop that reduces everything) runs as one thread: a run of
//     consecutive ops that access buffers, with the scalar arithmetic between them.
//
// A host loop around kernels (a recurrence's time steps) stays on the host and its body
// is mapped in turn. Arrays on the host's stack (memref.alloca: the words a runtime call
// takes) are not device memory. An element read whose value the host would need is an
// error, not a silent host read of a device pointer.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Analysis/TopologicalSortUtils.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLMAPTOGPU
#include "compiler/Conversion/Passes.h.inc"

namespace {

/// The buffer a view (subview, reshape, cast) is taken of, through any number of views.
Value rootBuffer(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    auto view = dyn_cast<ViewLikeOpInterface>(def);
    if (!view) break;
    v = view.getViewSource();
  }
  return v;
}

/// Whether `op` itself reads or writes the elements of a buffer in device memory.
bool accessesDeviceMemory(Operation *op) {
  Value buffer;
  if (auto l = dyn_cast<memref::LoadOp>(op)) buffer = l.getMemRef();
  else if (auto s = dyn_cast<memref::StoreOp>(op)) buffer = s.getMemRef();
  else if (auto a = dyn_cast<memref::AtomicRMWOp>(op)) buffer = a.getMemref();
  else if (auto g = dyn_cast<memref::GenericAtomicRMWOp>(op)) buffer = g.getMemref();
  else return false;
  Operation *root = rootBuffer(buffer).getDefiningOp();
  return !(root && isa<memref::AllocaOp>(root));
}

bool touchesDeviceMemory(Operation *op) {
  return op->walk([](Operation *o) { return accessesDeviceMemory(o) ? WalkResult::interrupt() : WalkResult::advance(); })
      .wasInterrupted();
}

bool containsLaunch(Operation *op) {
  return op->walk([](Operation *o) {
             return isa<gpu::LaunchOp, scf::ParallelOp>(o) ? WalkResult::interrupt() : WalkResult::advance();
           })
      .wasInterrupted();
}

/// May run inside a kernel as part of a one-thread run: element accesses and scalar code
/// (allocation, deallocation and runtime calls stay on the host).
bool fitsSerialRun(Operation *op) {
  if (op->hasTrait<OpTrait::IsTerminator>() || containsLaunch(op)) return false;
  bool ok = true;
  op->walk([&](Operation *o) {
    if (isa<memref::AllocOp, memref::AllocaOp, memref::DeallocOp, CallOpInterface>(o) ||
        o->getDialect()->getNamespace() == "dlrt")
      ok = false;
  });
  return ok;
}

/// Whether the function writes `arg` (an entry argument), through any view of it.
bool isWritten(Value arg) {
  SmallVector<Value> work{arg};
  while (!work.empty()) {
    Value v = work.pop_back_val();
    for (OpOperand &use : v.getUses()) {
      Operation *user = use.getOwner();
      if (auto view = dyn_cast<ViewLikeOpInterface>(user)) {
        if (view.getViewSource() == v) work.push_back(view->getResult(0));
        continue;
      }
      if (isa<memref::LoadOp, memref::DimOp, memref::ExtractStridedMetadataOp, memref::ExtractAlignedPointerAsIndexOp>(
              user))
        continue;
      if (auto l = dyn_cast<linalg::LinalgOp>(user))
        if (l.isDpsInput(&use)) continue;
      if (auto c = dyn_cast<memref::CopyOp>(user))
        if (c.getSource() == v) continue;
      return true;
    }
  }
  return false;
}

/// A host-level scalar computed from elements of the function's read-only arguments (the
/// learning rate, the step count) with pure ops: a kernel that uses it can compute it
/// itself, so the host never reads device memory for it.
bool recomputable(Value v, llvm::DenseMap<Value, bool> &memo) {
  auto it = memo.find(v);
  if (it != memo.end()) return it->second;
  memo[v] = false;
  Operation *def = v.getDefiningOp();
  bool ok = false;
  if (!def || def->getNumRegions() || !isa<func::FuncOp>(def->getParentOp())) {
    // An argument, a value of a region or of a loop: not a host-level scalar.
  } else if (auto load = dyn_cast<memref::LoadOp>(def)) {
    auto arg = dyn_cast<BlockArgument>(rootBuffer(load.getMemRef()));
    ok = arg && isa<func::FuncOp>(arg.getOwner()->getParentOp()) && !isWritten(arg) &&
         llvm::all_of(load.getIndices(), [&](Value i) { return !i.getDefiningOp() || recomputable(i, memo) ||
                                                               matchPattern(i, m_Constant()); });
  } else if (isPure(def)) {
    // Its other operands are host values (constants, sizes), captured as they are.
    ok = llvm::any_of(def->getOperands(), [&](Value o) { return recomputable(o, memo); });
  }
  memo[v] = ok;
  return ok;
}

/// Clones into `op`'s regions the host computation of every recomputable value they use.
void recomputeInside(Operation *op, llvm::DenseMap<Value, bool> &memo) {
  SetVector<Operation *> chain;
  op->walk([&](Operation *inner) {
    for (Value v : inner->getOperands()) {
      if (!recomputable(v, memo)) continue;
      BackwardSliceOptions options;
      options.inclusive = true;
      options.filter = [&](Operation *o) { return o->getBlock() == op->getBlock(); };
      (void)getBackwardSlice(v, &chain, options);
    }
  });
  if (chain.empty()) return;
  for (Region &r : op->getRegions()) {
    if (r.empty()) continue;
    OpBuilder b(&r.front(), r.front().begin());
    IRMapping map;
    for (Operation *o : topologicalSort(chain)) {
      // Values of the host that are not derived from buffers (constants, sizes) are
      // captured as they are.
      if (!llvm::any_of(o->getResults(), [&](Value v) { return recomputable(v, memo); })) continue;
      b.clone(*o, map);
    }
    r.walk([&](Operation *inner) {
      for (OpOperand &use : inner->getOpOperands())
        if (Value m = map.lookupOrNull(use.get())) use.set(m);
    });
  }
}

/// Whether only host code uses the buffer `alloc` makes: the ownership arrays that
/// buffer-deallocation-pipeline fills and hands to its private dealloc helper, and the
/// shapes of reshapes (loads and stores outside loops, casts, calls, its own
/// deallocation). A tensor's buffer has other users (loops, runtime calls, views).
bool isHostBookkeeping(memref::AllocOp alloc) {
  if (!alloc.getType().hasStaticShape()) return false;
  SmallVector<Value> work{alloc.getResult()};
  while (!work.empty()) {
    Value v = work.pop_back_val();
    for (Operation *user : v.getUsers()) {
      if (auto cast = dyn_cast<memref::CastOp>(user)) {
        work.push_back(cast.getResult());
        continue;
      }
      // The shape operand of a reshape is read on the host.
      if (auto reshape = dyn_cast<memref::ReshapeOp>(user)) {
        if (reshape.getShape() != v) return false;
        continue;
      }
      if (!isa<memref::LoadOp, memref::StoreOp, memref::DeallocOp, func::CallOp>(user)) return false;
      if (!isa<func::FuncOp>(user->getParentOp()) && !isa<memref::DeallocOp>(user)) return false;
    }
  }
  return true;
}

/// The bookkeeping buffers become stack arrays at the function's entry (their contents
/// are written before they are read in every use, so one array serves every iteration
/// of a loop around them).
void keepBookkeepingOnHost(func::FuncOp fn) {
  SmallVector<memref::AllocOp> allocs;
  fn.walk([&](memref::AllocOp a) {
    if (isHostBookkeeping(a)) allocs.push_back(a);
  });
  OpBuilder b(&fn.getBody().front(), fn.getBody().front().begin());
  for (memref::AllocOp a : allocs) {
    for (Operation *user : llvm::to_vector(a->getUsers()))
      if (isa<memref::DeallocOp>(user)) user->erase();
    auto stack = memref::AllocaOp::create(b, a.getLoc(), a.getType());
    a.replaceAllUsesWith(stack.getResult());
    a.erase();
  }
}

Value indexConst(OpBuilder &b, Location loc, int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }

/// A 1-D gpu.launch of `grid` blocks of `block` threads at `b`'s insertion point, its body
/// empty but for the terminator.
gpu::LaunchOp createLaunch(OpBuilder &b, Location loc, Value grid, Value block) {
  Value one = indexConst(b, loc, 1);
  auto launch = gpu::LaunchOp::create(b, loc, grid, one, one, block, one, one);
  Block &body = launch.getBody().front();
  if (body.empty() || !body.back().hasTrait<OpTrait::IsTerminator>()) {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToEnd(&body);
    gpu::TerminatorOp::create(b, loc);
  }
  return launch;
}

struct MapToGPUPass : public impl::DLMapToGPUBase<MapToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    // Private functions are the host helpers bufferization generates (dealloc_helper);
    // entry functions are public.
    if (fn.isPrivate() || fn.isExternal()) return;
    IRRewriter rw(&getContext());
    keepBookkeepingOnHost(fn);

    SmallVector<memref::CopyOp> copies;
    fn.walk([&](memref::CopyOp c) { copies.push_back(c); });
    for (memref::CopyOp c : copies) {
      rw.setInsertionPoint(c);
      linalg::CopyOp::create(rw, c.getLoc(), c.getSource(), c.getTarget());
      rw.eraseOp(c);
    }
    SmallVector<linalg::LinalgOp> linalgOps;
    fn.walk([&](linalg::LinalgOp op) { linalgOps.push_back(op); });
    llvm::DenseMap<Value, bool> memo;
    for (linalg::LinalgOp op : linalgOps) recomputeInside(op, memo);
    // The host's copies of those computations are dead now.
    for (Block &block : fn.getBody())
      for (Operation &op : llvm::make_early_inc_range(llvm::reverse(block)))
        if (isOpTriviallyDead(&op)) op.erase();
    for (linalg::LinalgOp op : linalgOps) {
      rw.setInsertionPoint(op);
      if (!op.hasPureBufferSemantics() || failed(linalg::linalgOpToParallelLoops(rw, op))) {
        op->emitError("internal error: cannot turn this op into loops for the GPU");
        return signalPassFailure();
      }
      rw.eraseOp(op);
    }

    if (failed(mapBlock(fn.getBody().front()))) return signalPassFailure();

    // Nothing may touch a buffer's elements on the host now.
    WalkResult stray = fn.walk([&](Operation *op) {
      if (!accessesDeviceMemory(op) || op->getParentOfType<gpu::LaunchOp>()) return WalkResult::advance();
      op->emitError("internal error: host code would touch device memory here");
      return WalkResult::interrupt();
    });
    if (stray.wasInterrupted()) signalPassFailure();
  }

  LogicalResult mapBlock(Block &block) {
    for (Operation *op = &block.front(); op;) {
      if (auto par = dyn_cast<scf::ParallelOp>(op)) {
        Operation *next = op->getNextNode();
        if (failed(launchParallel(par))) return failure();
        op = next;
        continue;
      }
      if (!touchesDeviceMemory(op)) {
        op = op->getNextNode();
        continue;
      }
      if (containsLaunch(op)) { // a host loop around kernels
        for (Region &r : op->getRegions())
          for (Block &b : r)
            if (failed(mapBlock(b))) return failure();
        op = op->getNextNode();
        continue;
      }
      // A one-thread run: this op, then every following op that accesses buffers or
      // computes from what the run computed, as long as each may run on the device.
      SmallVector<Operation *> run{op};
      llvm::SmallPtrSet<Operation *, 16> inRun{op};
      Operation *next = op->getNextNode();
      for (; next && fitsSerialRun(next); next = next->getNextNode()) {
        bool feeds = llvm::any_of(next->getOperands(), [&](Value v) {
          Operation *d = v.getDefiningOp();
          return d && inRun.contains(d);
        });
        if (!feeds && !touchesDeviceMemory(next)) break;
        run.push_back(next);
        inRun.insert(next);
      }
      if (!fitsSerialRun(op)) return op->emitError("internal error: this op cannot run on the GPU");
      if (failed(launchSerial(run))) return failure();
      op = next;
    }
    return success();
  }

  LogicalResult launchSerial(ArrayRef<Operation *> run) {
    for (Operation *op : run)
      for (Value r : op->getResults())
        for (Operation *user : r.getUsers())
          if (!llvm::any_of(run, [&](Operation *o) { return o->isAncestor(user); }))
            return user->emitError("internal error: host code would read a value computed from device memory");
    OpBuilder b(run.front());
    Location loc = run.front()->getLoc();
    Value one = indexConst(b, loc, 1);
    gpu::LaunchOp launch = createLaunch(b, loc, one, one);
    Operation *terminator = &launch.getBody().front().back();
    for (Operation *op : run) op->moveBefore(terminator);
    return success();
  }

  LogicalResult launchParallel(scf::ParallelOp par) {
    if (par.getNumResults() != 0) return par.emitError("internal error: a parallel reduction on the GPU");
    OpBuilder b(par);
    Location loc = par.getLoc();
    SmallVector<Value> counts;
    Value total = indexConst(b, loc, 1);
    for (auto [lb, ub, step] : llvm::zip(par.getLowerBound(), par.getUpperBound(), par.getStep())) {
      Value span = arith::SubIOp::create(b, loc, ub, lb);
      Value count = arith::CeilDivSIOp::create(b, loc, span, step);
      counts.push_back(count);
      total = arith::MulIOp::create(b, loc, total, count);
    }
    Value block = indexConst(b, loc, blockSize);
    Value grid = arith::CeilDivSIOp::create(b, loc, total, block);
    gpu::LaunchOp launch = createLaunch(b, loc, grid, block);

    b.setInsertionPoint(&launch.getBody().front().back());
    Value id = arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, launch.getBlockIds().x, block),
                                     launch.getThreadIds().x);
    Value inside = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, id, total);
    auto guard = scf::IfOp::create(b, loc, inside, /*withElseRegion=*/false);
    b.setInsertionPoint(guard.thenBlock()->getTerminator());
    IRMapping map;
    Value rest = id;
    for (int64_t i = int64_t(counts.size()) - 1; i >= 0; --i) {
      Value k = i == 0 ? rest : arith::RemUIOp::create(b, loc, rest, counts[i]).getResult();
      if (i > 0) rest = arith::DivUIOp::create(b, loc, rest, counts[i]);
      Value iv = arith::AddIOp::create(b, loc, par.getLowerBound()[i],
                                       arith::MulIOp::create(b, loc, k, par.getStep()[i]));
      map.map(par.getInductionVars()[i], iv);
    }
    for (Operation &op : par.getBody()->without_terminator()) b.clone(op, map);
    par.erase();
    return success();
  }
};

} // namespace
} // namespace dlc
