//===- ShareFnBodies.cpp - one function for every call of a `fn` ----------===//
//
// The front end unrolls every call of a `fn` (DSL.md: each call has parameters of its
// own), so a 64-layer TinyGpt is 64 copies of one block in infer, eval_step and the
// train step, and everything after this point (bufferization, LLVM lowering, LLVM's
// optimiser and code generator) would pay for each copy. The copies differ only in the
// values they use: their parameters, their inputs, and the runtime call sites, whose
// numbers key the kernels' caches (primitives, packed weights) and so must stay distinct
// per call. This pass finds the copies and gives them one function.
//
// Which ops a call made: the front end puts the call's scope in the location of every op
// of its layers (withFnScope: "block.3."), lowering and autodiff keep it, and the ops of
// one call of a `fn` at the top level of an entry function form one group. A group is
// cut into levels: level 0 is what depends on nothing of the group made outside it (the
// forward pass of a block); level p + 1 what depends, through ops outside the group, on
// level p (that block's backward pass, which waits for the later blocks' gradients, with
// its parameters' updates; updates after a gradient clip, which waits for every
// gradient). An address array (alloca and stores) goes with the call that reads it. Each
// level is convex (no path leaves it and comes back), so it can become one call.
//
// The function takes the runtime context, the number of the call's first run-time site
// (its sites inside are that number plus their place) and the values the ops read;
// constants and empty tensors are cloned in. Tensors come out through destinations the
// caller allocates (destination-passing style: after bufferization every buffer a call
// leaves behind is the caller's own allocation, so deallocation keeps knowing each
// buffer's origin, and the arena packs them as before); a reshaped view of a result is
// made again by the caller. Inputs are read-only to the body. Candidates are compared op
// for op (locations aside): equal bodies, one function; a body is made only for two or
// more calls. Nested calls are tried when their outer call was not shared (a fn called
// once that calls another many times).
//
// Sizes are resolved first (a kernel's result's to its destination's, and so on back to
// the input's batch size), so that each call does not read the batch size off the
// previous one; that moves values about, so the work happens on a copy of each entry,
// kept only if some calls were shared.
//
// Runs on tensors, after the dl ops are lowered (so that site numbers, layouts and
// fusion are decided over the whole graph), before bufferization, which then works on
// function boundaries (identity layouts: a strided view is copied before a call, as
// before a kernel).
//
//===----------------------------------------------------------------------===//
#include "compiler/Basic/Diagnostics.h"
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "compiler/Conversion/Passes.h"
#include "dialects/DLRT/DLRTOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/CSE.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLSHAREFNBODIES
#include "compiler/Conversion/Passes.h.inc"

namespace {

/// The first `depth` calls of an op's fn scope ("enc.0.layer.1." at depth 1: "enc.0."),
/// or "" when the op was made at a shallower level.
std::string scopeAtDepth(Operation *op, unsigned depth) {
  std::string scope = fnScopeOf(op->getLoc());
  size_t end = 0;
  for (unsigned d = 0; d < depth; ++d) {
    // Each call adds "NAME.K.": two dots.
    for (int dots = 0; dots < 2; ++dots) {
      end = scope.find('.', end);
      if (end == std::string::npos) return "";
      ++end;
    }
  }
  return scope.substr(0, end);
}

/// The fn's name in a scope's last call: "enc.0.layer.1." -> "layer".
std::string fnName(StringRef scope) {
  scope = scope.drop_back();                      // "enc.0.layer.1"
  scope = scope.take_front(scope.rfind('.'));     // "enc.0.layer"
  size_t dot = scope.rfind('.');
  return (dot == StringRef::npos ? scope : scope.drop_front(dot + 1)).str();
}

/// The op of `block` that holds `v`'s definition, or null for a block argument of the
/// function or a value from above it.
Operation *topLevelDef(Value v, Block &block) {
  Operation *def = v.getDefiningOp();
  return def ? block.findAncestorOpInBlock(*def) : nullptr;
}

/// Values a body may take or return: what a call can pass without bufferization
/// deciding buffers across it by itself.
bool passable(Type t) {
  return isa<RankedTensorType, IndexType, IntegerType, FloatType, LLVM::LLVMPointerType>(t);
}

/// Ops a body clones rather than takes: free to repeat, and their values (a constant's,
/// an empty tensor's fresh buffer) are better known inside.
bool rematerialisable(Operation *op) {
  if (!op || op->getNumRegions() != 0) return false;
  if (op->hasTrait<OpTrait::ConstantLike>() || isa<tensor::EmptyOp>(op)) return true;
  // An empty tensor reshaped (CSE gave the layers one, collapsed for elementwise code).
  return isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(op) && rematerialisable(op->getOperand(0).getDefiningOp());
}

/// A run-time call site number: the second operand of a kernel call, a constant >= 0.
std::optional<int64_t> siteOperand(OpOperand &use) {
  if (use.getOperandNumber() != 1 || !isa<dlrt::KernelCallOp>(use.getOwner())) return std::nullopt;
  IntegerAttr c;
  auto def = use.get().getDefiningOp<arith::ConstantOp>();
  if (!def || !(c = dyn_cast<IntegerAttr>(def.getValue())) || c.getInt() < 0) return std::nullopt;
  return c.getInt();
}

/// The dynamic sizes of `collapse`'s result, given its source's (in order): each the
/// product of its group's sizes.
SmallVector<Value> collapsedSizes(OpBuilder &b, tensor::CollapseShapeOp collapse, ValueRange sourceSizes) {
  Location loc = collapse.getLoc();
  RankedTensorType srcType = collapse.getSrcType();
  SmallVector<Value> sizes;
  unsigned next = 0;
  for (const ReassociationIndices &group : collapse.getReassociationIndices()) {
    Value size;
    int64_t known = 1;
    for (int64_t d : group) {
      if (!srcType.isDynamicDim(d)) {
        known *= srcType.getDimSize(d);
        continue;
      }
      Value s = sourceSizes[next++];
      size = size ? arith::MulIOp::create(b, loc, size, s).getResult() : s;
    }
    if (!size) continue; // a static dimension of the result
    if (known != 1) size = arith::MulIOp::create(b, loc, size, arith::ConstantIndexOp::create(b, loc, known));
    sizes.push_back(size);
  }
  return sizes;
}

/// One level of one call, as a candidate body.
struct Instance {
  SmallVector<Operation *> ops; // top level of the entry block, in order
  unsigned key = 0;             // the body's class among the candidates (BodyClasses)
  func::FuncOp body;            // the candidate function (erased unless kept)
  SmallVector<Operation *> clones;                 // ops' copies in body, in order
  SmallVector<std::pair<unsigned, unsigned>> outs; // (op, result) read after it
  int64_t firstSite = -1;
  std::string fn;               // the fn's name, for the function's
};

/// What a call of an instance's body passes and gets back.
struct Boundary {
  SmallVector<Value> inputs;  // after the context and the first site
  SmallVector<Value> outputs;
  SmallVector<std::pair<unsigned, unsigned>> outputAt; // (op, result) of each output
  SmallVector<unsigned> views; // ops made again after the call (see viewOf)
};

/// Bodies sorted into classes of equal ones: equal op for op, up to their values'
/// names and the ops' locations. (Comparing them printed cost TinyGpt-64 a third of this
/// pass.) A hash of each body's ops finds the classes worth comparing against.
class BodyClasses {
public:
  /// The class of `body`, taken with `type` (a function's type).
  unsigned classOf(Region &body, Type type) {
    llvm::hash_code h = llvm::hash_value(type.getAsOpaquePointer());
    body.walk([&](Operation *op) {
      h = llvm::hash_combine(h, OperationEquivalence::computeHash(op, OperationEquivalence::ignoreHashValue,
                                                                  OperationEquivalence::ignoreHashValue,
                                                                  OperationEquivalence::IgnoreLocations));
    });
    auto &bucket = buckets[size_t(h)];
    for (auto [other, otherType, cls] : bucket)
      if (otherType == type && OperationEquivalence::isRegionEquivalentTo(other, &body, OperationEquivalence::IgnoreLocations))
        return cls;
    bucket.push_back({&body, type, count});
    return count++;
  }

private:
  llvm::DenseMap<size_t, SmallVector<std::tuple<Region *, Type, unsigned>, 1>> buckets;
  unsigned count = 0;
};

class Sharer {
public:
  Sharer(ModuleOp module, unsigned minUses) : module(module), minUses(minUses) {}

  void run(func::FuncOp original) {
    if (!original.getBody().hasOneBlock()) return;
    // Most models call no fn: nothing to look at.
    if (llvm::none_of(original.getBody().front(), [](Operation &op) { return !fnScopeOf(op.getLoc()).empty(); }))
      return;
    // The work happens on a copy, kept only if some calls now share a body: the sizes are
    // resolved for it, which moves values about, and a model with nothing to share (each
    // fn called once, or calls that differ) is left exactly as it was.
    OpBuilder mb(original);
    mb.setInsertionPointAfter(original);
    auto entry = cast<func::FuncOp>(mb.clone(*original));
    entry.setSymName((original.getSymName() + ".sharing").str());
    unsigned calls = share(entry);
    capturedCache.clear();
    if (!calls) {
      entry.erase();
      return;
    }
    StringAttr name = original.getSymNameAttr();
    original.erase();
    entry.setSymNameAttr(name);
  }

private:
  /// Shares the bodies of `entry`'s fn calls; returns how many calls it made.
  unsigned share(func::FuncOp entry) {
    Block &block = entry.getBody().front();
    ctxArg = entry.getArgument(0);
    resolveSizes(entry);
    unsigned calls = 0;
    for (unsigned depth = 1;; ++depth) {
      // The groups at this depth, in order of appearance. Constants and empty tensors
      // belong to no group: every body that reads one clones it.
      llvm::MapVector<StringRef, SmallVector<Operation *>> groups;
      std::vector<std::string> names;
      names.reserve(block.getOperations().size());
      llvm::StringMap<unsigned> index;
      bool deeper = false;
      for (Operation &op : block) {
        if (rematerialisable(&op)) continue;
        std::string scope = scopeAtDepth(&op, depth);
        if (scope.empty()) continue;
        deeper = true;
        auto [it, added] = index.try_emplace(scope, names.size());
        if (added) names.push_back(scope);
        groups[names[it->second]].push_back(&op);
      }
      if (!deeper) return calls;
      indexBlock(block); // the block changed with the last depth's calls

      std::vector<Instance> instances;
      classes = BodyClasses(); // (the candidates of the last depth are gone)
      for (auto &[scope, ops] : groups)
        for (SmallVector<Operation *> &level : levels(ops)) {
          Instance in;
          in.ops = std::move(level);
          in.fn = fnName(scope);
          if (succeeded(makeCandidate(block, in))) instances.push_back(std::move(in));
        }
      llvm::DenseMap<unsigned, unsigned> uses;
      for (Instance &in : instances) ++uses[in.key];
      // The calls of one body may read different results of it (the last block's
      // residual stream goes to a layer_norm, the others' also to the next block): the
      // body returns what any of them reads.
      llvm::DenseMap<unsigned, Instance *> first;
      llvm::MapVector<unsigned, SmallVector<std::pair<unsigned, unsigned>>> returned;
      for (Instance &in : instances) {
        if (uses[in.key] < minUses) continue;
        first.try_emplace(in.key, &in);
        auto &outs = returned[in.key];
        outs.append(in.outs.begin(), in.outs.end());
      }
      for (auto &[key, outs] : returned) {
        llvm::sort(outs);
        outs.erase(std::unique(outs.begin(), outs.end()), outs.end());
        finishBody(*first[key], outs);
      }
      llvm::DenseMap<unsigned, func::FuncOp> shared;
      for (Instance &in : instances) {
        if (uses[in.key] < minUses) {
          in.body.erase();
          continue;
        }
        auto [it, added] = shared.try_emplace(in.key, in.body);
        if (added) {
          MLIRContext *ctx = module.getContext();
          in.body.setSymName(("dl_fn_" + in.fn + "_" + Twine(numShared++)).str());
          // Internal and never inlined: LLVM would paste the body back at every call.
          in.body->setAttr("llvm.linkage", LLVM::LinkageAttr::get(ctx, LLVM::Linkage::Internal));
          in.body->setAttr("passthrough", ArrayAttr::get(ctx, {StringAttr::get(ctx, "noinline")}));
          in.body->setAttr(kSharedFnBodyAttr, UnitAttr::get(ctx));
        } else {
          in.body.erase();
        }
        in.body = it->second;
        calls += replaceWithCall(block, in, returned[in.key]);
      }
    }
  }

public:
  /// infer, eval_step and the train step each made the forward pass of a block: one
  /// function for equal bodies, returns included.
  void mergeEqualBodies() {
    // A body whose calls all stayed unshared (a cycle, a size computed inside) is unused.
    for (auto fn : llvm::to_vector(module.getOps<func::FuncOp>()))
      if (fn->hasAttr(kSharedFnBodyAttr) && SymbolTable::symbolKnownUseEmpty(fn, module)) fn->erase();
    BodyClasses bodies; // (not the candidates' classes)
    llvm::DenseMap<unsigned, func::FuncOp> seen;
    llvm::DenseMap<Operation *, func::FuncOp> replacement;
    for (auto fn : llvm::to_vector(module.getOps<func::FuncOp>())) {
      if (!fn->hasAttr(kSharedFnBodyAttr)) continue;
      auto [it, added] = seen.try_emplace(bodies.classOf(fn.getBody(), fn.getFunctionType()), fn);
      if (!added) replacement[fn] = it->second;
    }
    if (replacement.empty()) return;
    module.walk([&](func::CallOp call) {
      auto callee = module.lookupSymbol<func::FuncOp>(call.getCallee());
      if (auto r = replacement.find(callee); r != replacement.end()) call.setCallee(r->second.getSymName());
    });
    for (auto &[fn, keep] : replacement) fn->erase();
  }

private:
  /// Gives a candidate body its results: a tensor is written into a destination the
  /// caller passes (destination-passing style: after bufferization the caller allocates
  /// every buffer a call leaves behind, so that deallocation knows each buffer's origin
  /// rather than guessing which results of which calls may alias); anything else is
  /// returned.
  void finishBody(Instance &in, ArrayRef<std::pair<unsigned, unsigned>> outs) {
    Block &entry = in.body.getBody().front();
    OpBuilder b = OpBuilder::atBlockEnd(&entry);
    SmallVector<Value> results;
    llvm::SmallDenseSet<unsigned> destinations;
    for (auto [op, r] : outs) {
      Value v = in.clones[op]->getResult(r);
      if (auto t = dyn_cast<RankedTensorType>(v.getType())) {
        Value dest = entry.addArgument(t, v.getLoc());
        destinations.insert(entry.getNumArguments() - 1);
        v = bufferization::MaterializeInDestinationOp::create(b, v.getLoc(), t, v, dest).getResult();
      }
      results.push_back(v);
    }
    func::ReturnOp::create(b, in.body.getLoc(), results);
    // What only the caller reads (a view it makes again) is dead here; left, it would
    // count as a second reader of the value it views and keep that value from being
    // computed straight into its destination.
    for (Operation &op : llvm::make_early_inc_range(llvm::reverse(entry)))
      if (isOpTriviallyDead(&op)) op.erase();
    in.body.setType(FunctionType::get(module.getContext(), entry.getArgumentTypes(), ValueRange(results).getTypes()));
    // The destinations are the body's to write; its inputs are the caller's, read only (a
    // body writing one in place would make the caller copy it first, and the caller may
    // pass two views of one buffer).
    for (unsigned i = 0; i < entry.getNumArguments(); ++i)
      if (isa<TensorType>(entry.getArgument(i).getType()))
        in.body.setArgAttr(i, bufferization::BufferizationDialect::kWritableAttrName,
                           b.getBoolAttr(destinations.contains(i)));
  }

  /// The sizes of `v`, a result of `ops`, as values from outside them: what the caller
  /// makes `v`'s destination with. Follows destinations (a kernel's, a linalg op's), empty
  /// tensors and reshapes; fails where a size is computed by the ops themselves.
  std::optional<SmallVector<Value>> sizesOutside(Block &block, const llvm::DenseSet<Operation *> &members, Value v,
                                                 OpBuilder &b) {
    auto type = cast<RankedTensorType>(v.getType());
    SmallVector<Value> sizes;
    // A size the ops compute from outside values by index arithmetic (the batch times
    // the sequence length) is computed again before the call.
    std::function<Value(Value)> outsideValue = [&](Value s) -> Value {
      Operation *d = topLevelDef(s, block);
      if (!members.contains(d)) return s;
      Operation *op = s.getDefiningOp();
      if (op != d || op->getNumRegions() || !isPure(op) || op->getNumResults() != 1 ||
          !isa<arith::ArithDialect>(op->getDialect()))
        return {};
      IRMapping map;
      for (Value operand : op->getOperands()) {
        Value o = outsideValue(operand);
        if (!o) return {};
        map.map(operand, o);
      }
      return b.clone(*op, map)->getResult(0);
    };
    auto allOutside = [&](ValueRange values, SmallVectorImpl<Value> &out) {
      for (Value s : values) {
        Value o = outsideValue(s);
        if (!o) return false;
        out.push_back(o);
      }
      return true;
    };
    Operation *def = v.getDefiningOp();
    if (!def || !members.contains(block.findAncestorOpInBlock(*def))) {
      for (int64_t i = 0; i < type.getRank(); ++i)
        if (type.isDynamicDim(i)) sizes.push_back(tensor::DimOp::create(b, v.getLoc(), v, i));
      return sizes;
    }
    if (auto empty = dyn_cast<tensor::EmptyOp>(def)) {
      if (!allOutside(empty.getDynamicSizes(), sizes)) return std::nullopt;
      return sizes;
    }
    if (auto expand = dyn_cast<tensor::ExpandShapeOp>(def)) {
      if (!allOutside(expand.getOutputShape(), sizes)) return std::nullopt;
      return sizes;
    }
    if (auto reshape = dyn_cast<tensor::ReshapeOp>(def)) {
      auto shape = reshape.getShape().getDefiningOp<tensor::FromElementsOp>();
      if (!shape) return std::nullopt;
      SmallVector<Value> dynamic;
      for (auto [i, e] : llvm::enumerate(shape.getElements()))
        if (type.isDynamicDim(i)) dynamic.push_back(e);
      if (!allOutside(dynamic, sizes)) return std::nullopt;
      return sizes;
    }
    if (auto dps = dyn_cast<DestinationStyleOpInterface>(def))
      return sizesOutside(block, members, dps.getTiedOpOperand(cast<OpResult>(v))->get(), b);
    if (auto call = dyn_cast<dlrt::KernelCallOp>(def)) {
      for (OpOperand &operand : call->getOpOperands())
        if (call.getTiedResult(operand) == v) return sizesOutside(block, members, operand.get(), b);
      return std::nullopt;
    }
    if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(def)) {
      auto from = sizesOutside(block, members, collapse.getSrc(), b);
      if (!from) return std::nullopt;
      return collapsedSizes(b, collapse, *from);
    }
    return std::nullopt;
  }

  /// Every size resolved to what made it (a kernel's result's to its destination's, an
  /// expanded tensor's to the size it was expanded with), then common values merged: each
  /// call would otherwise take the batch size from the previous call's result, and the
  /// first and last calls, which read it from elsewhere, would differ from the rest.
  static void resolveSizes(func::FuncOp fn) {
    MLIRContext *ctx = fn.getContext();
    RewritePatternSet patterns(ctx);
    memref::populateResolveRankedShapedTypeResultDimsPatterns(patterns);
    tensor::DimOp::getCanonicalizationPatterns(patterns, ctx);
    // Only the dims and what the patterns make of them: the rest of the function has been
    // canonicalised already, and a driver over all of it cost a deep model's train step
    // a sixth of this pass.
    SmallVector<Operation *> dims;
    fn.walk([&](Operation *op) {
      if (isa<tensor::DimOp, memref::DimOp>(op)) dims.push_back(op);
    });
    GreedyRewriteConfig config;
    config.setStrictness(GreedyRewriteStrictness::ExistingAndNewOps);
    (void)applyOpPatternsGreedily(dims, std::move(patterns), config);
    resolveExpandedSizes(fn);
    IRRewriter rewriter(ctx);
    DominanceInfo dom(fn);
    eliminateCommonSubExpressions(rewriter, dom, fn);
  }

  /// resolve-ranked-shaped-type-result-dims leaves the size of an expanded tensor.
  static void resolveExpandedSizes(func::FuncOp fn) {
    fn.walk([](tensor::DimOp dim) {
      auto expand = dim.getSource().getDefiningOp<tensor::ExpandShapeOp>();
      std::optional<int64_t> i = dim.getConstantIndex();
      if (!expand || !i) return;
      OpFoldResult size = expand.getMixedOutputShape()[*i];
      if (auto v = dyn_cast<Value>(size)) {
        dim.replaceAllUsesWith(v);
        dim.erase();
      }
    });
  }

  /// The values `op` reads, seen through the ops a body clones: the sizes of an empty
  /// tensor it reads, not the tensor. Run-time site numbers are left out.
  void reads(Operation *op, Block &block, llvm::function_ref<void(Value)> f) {
    std::function<void(Value)> see = [&](Value v) {
      Operation *def = v.getDefiningOp();
      if (rematerialisable(def) && def->getBlock() == &block) {
        for (Value size : def->getOperands()) see(size);
        return;
      }
      f(v);
    };
    for (OpOperand &use : op->getOpOperands())
      if (!siteOperand(use)) see(use.get());
    for (Value v : captured(op)) see(v);
  }

  /// The values from above that `op`'s regions read (a hoisted constant in a loop body),
  /// found once per op: replaceWithCall asks it of every op a call spans.
  ArrayRef<Value> captured(Operation *op) {
    if (op->getNumRegions() == 0) return {};
    auto [it, added] = capturedCache.try_emplace(op);
    if (added) {
      llvm::SetVector<Value> used;
      getUsedValuesDefinedAbove(op->getRegions(), used);
      it->second.assign(used.begin(), used.end());
    }
    return it->second;
  }

  /// The entry block as numbers, while it does not change (while the candidates of one
  /// depth are made): each top-level op's place, the places of the ops whose values it
  /// reads (as reads() sees them) and of the ops that read its values. levels() walks, for
  /// every group, much of the block after it (a block's backward pass waits for every
  /// later block), so that walk runs over arrays rather than use lists and maps.
  struct BlockIndex {
    llvm::DenseMap<Operation *, unsigned> place;
    std::vector<Operation *> ops;
    std::vector<unsigned> defsStart, defs;       // what op i reads: defs[defsStart[i]..defsStart[i+1])
    std::vector<unsigned> readersStart, readers; // who reads op i's values, likewise
    // Per-group scratch, valid where stamp[i] is the group's number.
    std::vector<unsigned> stamp;
    std::vector<int> level; // >= 0: a member's level; -1: an outsider's taint is unset
    std::vector<bool> member;
    unsigned group = 0;
  };

  void indexBlock(Block &block) {
    BlockIndex &ix = index;
    ix = BlockIndex();
    for (Operation &op : block) {
      ix.place[&op] = ix.ops.size();
      ix.ops.push_back(&op);
    }
    size_t n = ix.ops.size();
    std::vector<unsigned> numReaders(n + 1, 0);
    ix.defsStart.reserve(n + 1);
    for (Operation *op : ix.ops) {
      ix.defsStart.push_back(ix.defs.size());
      reads(op, block, [&](Value v) {
        if (Operation *def = topLevelDef(v, block)) {
          unsigned d = ix.place.lookup(def);
          ix.defs.push_back(d);
          ++numReaders[d + 1];
        }
      });
    }
    ix.defsStart.push_back(ix.defs.size());
    for (size_t i = 0; i < n; ++i) numReaders[i + 1] += numReaders[i];
    ix.readersStart = numReaders;
    ix.readers.resize(ix.defs.size());
    std::vector<unsigned> next(numReaders.begin(), numReaders.end() - 1);
    for (unsigned i = 0; i < n; ++i)
      for (unsigned k = ix.defsStart[i]; k < ix.defsStart[i + 1]; ++k) ix.readers[next[ix.defs[k]]++] = i;
    ix.stamp.assign(n, 0);
    ix.level.assign(n, -1);
    ix.member.assign(n, false);
  }

  /// `group` cut into levels (see the file comment), each in block order. Uses the index
  /// of the block (indexBlock).
  SmallVector<SmallVector<Operation *>> levels(ArrayRef<Operation *> group) {
    BlockIndex &ix = index;
    unsigned g = ++ix.group;
    SmallVector<unsigned> reached;
    for (Operation *op : group) {
      unsigned i = ix.place.lookup(op);
      ix.stamp[i] = g;
      ix.member[i] = true;
      ix.level[i] = 0;
      reached.push_back(i);
    }
    // Only the ops that read, directly or through others, what the group makes can be
    // tainted; the rest of the block between its first and last op has nothing to say.
    unsigned first = reached.front(), last = reached.back();
    for (size_t r = 0; r < reached.size(); ++r)
      for (unsigned k = ix.readersStart[reached[r]]; k < ix.readersStart[reached[r] + 1]; ++k) {
        unsigned u = ix.readers[k];
        if (u < first || u > last || ix.stamp[u] == g) continue;
        ix.stamp[u] = g;
        ix.member[u] = false;
        ix.level[u] = -1;
        reached.push_back(u);
      }
    llvm::sort(reached);
    // An address array (memref.alloca, filled by stores, read by a kernel call) carries
    // the level of what was stored into it to its reader: the stores' level, by array.
    llvm::SmallDenseMap<unsigned, int> stored;
    int top = 0;
    for (unsigned i : reached) {
      bool member = ix.member[i];
      int l = member ? 0 : -1;
      for (unsigned k = ix.defsStart[i]; k < ix.defsStart[i + 1]; ++k) {
        unsigned d = ix.defs[k];
        if (ix.stamp[d] != g) continue;
        if (auto s = stored.find(d); member && s != stored.end()) l = std::max(l, s->second);
        if (ix.member[d]) l = std::max(l, ix.level[d]);
        else if (ix.level[d] >= 0) l = std::max(l, ix.level[d] + (member ? 1 : 0));
      }
      ix.level[i] = l;
      if (member) {
        top = std::max(top, l);
        if (auto store = dyn_cast<memref::StoreOp>(ix.ops[i]))
          if (Operation *array = topLevelDef(store.getMemRef(), *ix.ops[i]->getBlock())) {
            int &s = stored.try_emplace(ix.place.lookup(array), l).first->second;
            s = std::max(s, l);
          }
      }
    }
    auto levelOf = [&](Operation *op) -> int & { return ix.level[ix.place.lookup(op)]; };
    auto isMember = [&](Operation *op) {
      auto it = ix.place.find(op);
      return it != ix.place.end() && ix.stamp[it->second] == g && ix.member[it->second];
    };
    // The array and its stores go to the level of the call that reads it.
    for (Operation *op : group) {
      if (!isa<memref::AllocaOp>(op)) continue;
      int reader = -1;
      for (Operation *u : op->getUsers())
        if (isMember(u) && !isa<memref::StoreOp>(u)) reader = std::max(reader, levelOf(u));
      if (reader < 0) continue;
      for (Operation *u : op->getUsers()) {
        if (!isMember(u)) continue;
        if (!isa<memref::StoreOp>(u) && levelOf(u) != reader) return {}; // read at two levels: leave it
        levelOf(u) = reader;
      }
      levelOf(op) = reader;
    }
    SmallVector<SmallVector<Operation *>> out(top + 1);
    for (Operation *op : group) out[levelOf(op)].push_back(op);
    return out;
  }

  /// What `ops` read from outside them, in order of first read, and what is read of
  /// theirs after them, as the IR is now.
  Boundary boundary(Block &block, ArrayRef<Operation *> ops) {
    llvm::DenseSet<Operation *> members(ops.begin(), ops.end());
    llvm::SetVector<Value> inputs;
    for (Operation *op : ops)
      reads(op, block, [&](Value v) {
        if (v != ctxArg && !members.contains(topLevelDef(v, block))) inputs.insert(v);
      });
    Boundary bd;
    bd.inputs.assign(inputs.begin(), inputs.end());
    llvm::DenseMap<Operation *, unsigned> position;
    for (auto [i, op] : llvm::enumerate(ops)) position[op] = i;
    llvm::SetVector<std::pair<unsigned, unsigned>> outs;
    for (auto [i, op] : llvm::enumerate(ops))
      for (OpResult r : op->getResults()) {
        if (llvm::none_of(r.getUsers(),
                          [&](Operation *u) { return !members.contains(block.findAncestorOpInBlock(*u)); }))
          continue;
        // A reshaped view read after the ops is made again after the call from the
        // tensor it views: returned too, it would be a second buffer and a copy.
        Value v = r;
        while (Operation *view = viewOf(v, members, block)) {
          if (!llvm::is_contained(bd.views, position[view])) bd.views.push_back(position[view]);
          v = view->getOperand(0);
        }
        auto at = std::make_pair(position[v.getDefiningOp()], cast<OpResult>(v).getResultNumber());
        if (outs.insert(at)) bd.outputs.push_back(v);
      }
    bd.outputAt.assign(outs.begin(), outs.end());
    return bd;
  }

  /// The reshape that makes `v` from another of the ops' results, where the call's caller
  /// can make it again (its sizes come from outside the ops); else null.
  static Operation *viewOf(Value v, const llvm::DenseSet<Operation *> &members, Block &block) {
    Operation *def = v.getDefiningOp();
    if (!isa_and_nonnull<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(def)) return nullptr;
    Operation *source = def->getOperand(0).getDefiningOp();
    if (!source || source->getBlock() != &block || !members.contains(source)) return nullptr;
    for (Value size : def->getOperands().drop_front())
      if (members.contains(topLevelDef(size, block))) return nullptr;
    return def;
  }

  /// Builds `in`'s candidate body and its key; fails where a call could not stand in.
  LogicalResult makeCandidate(Block &block, Instance &in) {
    Boundary bd = boundary(block, in.ops);
    for (Value v : llvm::concat<Value>(bd.inputs, bd.outputs))
      if (!passable(v.getType())) return failure();
    for (Operation *op : in.ops)
      for (OpOperand &use : op->getOpOperands())
        if (auto site = siteOperand(use)) in.firstSite = in.firstSite < 0 ? *site : std::min(in.firstSite, *site);

    MLIRContext *ctx = module.getContext();
    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    SmallVector<Type> argTypes{ctxArg.getType(), IntegerType::get(ctx, 64)};
    for (Value v : bd.inputs) argTypes.push_back(v.getType());
    auto type = FunctionType::get(ctx, argTypes, {});
    in.body = func::FuncOp::create(mb, in.ops.front()->getLoc(), "dl_fn_candidate", type);
    in.body.setPrivate();
    Block *entry = in.body.addEntryBlock();
    OpBuilder b = OpBuilder::atBlockBegin(entry);
    IRMapping map;
    map.map(ctxArg, entry->getArgument(0));
    Value firstSite = entry->getArgument(1);
    for (auto [v, a] : llvm::zip(bd.inputs, entry->getArguments().drop_front(2))) map.map(v, a);
    // Constants and empty tensors are cloned in before their first reader.
    std::function<void(Value)> materialise = [&](Value v) {
      if (map.contains(v)) return;
      Operation *def = v.getDefiningOp();
      if (!rematerialisable(def)) return; // a member's result, mapped when it is cloned
      for (Value size : def->getOperands()) materialise(size);
      // A reshaped empty tensor is an empty tensor of the new shape, which
      // dl-eliminate-empty-tensors can then place in a destination.
      if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(def))
        if (auto empty = map.lookup(def->getOperand(0)).getDefiningOp<tensor::EmptyOp>()) {
          auto type = cast<RankedTensorType>(v.getType());
          SmallVector<Value> sizes;
          if (auto expand = dyn_cast<tensor::ExpandShapeOp>(def)) {
            for (Value size : expand.getOutputShape()) sizes.push_back(map.lookupOrDefault(size));
          } else {
            sizes = collapsedSizes(b, cast<tensor::CollapseShapeOp>(def), empty.getDynamicSizes());
          }
          map.map(v, tensor::EmptyOp::create(b, v.getLoc(), type.getShape(), type.getElementType(), sizes));
          return;
        }
      b.clone(*def, map);
    };
    for (Operation *op : in.ops) {
      for (OpOperand &use : op->getOpOperands())
        if (!siteOperand(use)) materialise(use.get());
      for (Value v : captured(op)) materialise(v);
      Operation *copy = b.clone(*op, map);
      in.clones.push_back(copy);
      for (OpOperand &use : op->getOpOperands())
        if (auto site = siteOperand(use)) {
          // This call's own site: the body's first site plus its place among them.
          Location loc = op->getLoc();
          b.setInsertionPoint(copy);
          Value offset = arith::ConstantIntOp::create(b, loc, b.getI64Type(), *site - in.firstSite);
          copy->setOperand(use.getOperandNumber(), arith::AddIOp::create(b, loc, firstSite, offset));
          b.setInsertionPointAfter(copy);
        }
    }
    in.outs = bd.outputAt;

    // The key: the body without its return (added once the calls that share it are known).
    in.key = classes.classOf(in.body.getBody(), in.body.getFunctionType());
    return success();
  }

  /// Replaces `in`'s ops by a call of its body at the place of its last op; ops between
  /// that read what it makes move after the call. Leaves `in` as it is where sharing
  /// done since its candidate was made closed a cycle through it.
  bool replaceWithCall(Block &block, Instance &in, ArrayRef<std::pair<unsigned, unsigned>> returned) {
    llvm::DenseSet<Operation *> members(in.ops.begin(), in.ops.end());
    llvm::DenseSet<Operation *> tainted;
    SmallVector<Operation *> later;
    // The ops' first and last in the block as it is now, which is not always the order
    // they were collected in: a call made before this one moved after it the ops that
    // read its results, some of these among them (a fn's backward pass and updates, whose
    // gradient comes from the next call's: the call was placed before ops that read it).
    Operation *first = in.ops.front(), *last = in.ops.front();
    for (Operation *op : in.ops) {
      if (op->isBeforeInBlock(first)) first = op;
      if (last->isBeforeInBlock(op)) last = op;
    }
    for (Operation *op = first;; op = op->getNextNode()) {
      bool member = members.contains(op);
      bool readsOurs = false;
      auto check = [&](Value v) {
        Operation *def = topLevelDef(v, block);
        if (def && (tainted.contains(def) || (!member && members.contains(def)))) readsOurs = true;
      };
      if (member) {
        reads(op, block, check);
      } else {
        for (Value v : op->getOperands()) check(v);
        for (Value v : captured(op)) check(v);
      }
      if (member && readsOurs) return false; // not convex any more
      if (!member && readsOurs) {
        tainted.insert(op);
        later.push_back(op);
      }
      if (op == last) break;
    }
    Boundary bd = boundary(block, in.ops);
    FunctionType type = in.body.getFunctionType();
    if (type.getNumInputs() < bd.inputs.size() + 2 ||
        !llvm::equal(type.getInputs().slice(2, bd.inputs.size()), ValueRange(bd.inputs).getTypes()) ||
        !llvm::all_of(bd.outputAt, [&](auto at) { return llvm::is_contained(returned, at); })) {
      return false;
    }
    OpBuilder b(last);
    b.setInsertionPointAfter(last);
    Location loc = last->getLoc();
    SmallVector<Value> args{ctxArg,
                            arith::ConstantIntOp::create(b, loc, b.getI64Type(), std::max<int64_t>(in.firstSite, 0))};
    args.append(bd.inputs.begin(), bd.inputs.end());
    // A destination for every tensor the body returns, sized from outside it. What is
    // built for the call (its first site, the sizes, the destinations) goes again where
    // a size cannot be had there.
    SmallVector<Operation *> made{args[1].getDefiningOp()};
    struct Recorder : OpBuilder::Listener {
      SmallVectorImpl<Operation *> &made;
      explicit Recorder(SmallVectorImpl<Operation *> &m) : made(m) {}
      void notifyOperationInserted(Operation *op, OpBuilder::InsertPoint) override { made.push_back(op); }
    } recorder(made);
    b.setListener(&recorder);
    bool sized = true;
    for (auto [op, r] : returned) {
      Value v = in.ops[op]->getResult(r);
      auto t = dyn_cast<RankedTensorType>(v.getType());
      if (!t) continue;
      auto sizes = sizesOutside(block, members, v, b);
      if (!(sized = sizes.has_value())) break;
      args.push_back(tensor::EmptyOp::create(b, loc, t.getShape(), t.getElementType(), *sizes));
    }
    b.setListener(nullptr);
    if (!sized || args.size() != in.body.getNumArguments()) {
      for (Operation *m : llvm::reverse(made)) m->erase();
      return false;
    }
    auto call = func::CallOp::create(b, loc, in.body, args);
    for (auto [at, to] : llvm::zip(returned, call.getResults())) {
      Value from = in.ops[at.first]->getResult(at.second);
      // A region that read the value now reads the call's: what it captures changes.
      for (Operation *user : from.getUsers())
        if (user->getBlock() != &block) capturedCache.erase(block.findAncestorOpInBlock(*user));
      from.replaceAllUsesWith(to);
    }
    // The views, now of the call's results, follow it (in their order), then whatever
    // read the ops' results.
    Operation *after = call;
    llvm::DenseSet<Operation *> kept;
    llvm::sort(bd.views);
    for (unsigned i : bd.views) {
      in.ops[i]->moveAfter(after);
      after = in.ops[i];
      kept.insert(after);
    }
    for (Operation *op : later) {
      op->moveAfter(after);
      after = op;
    }
    for (Operation *op : in.ops)
      if (!kept.contains(op)) op->dropAllReferences();
    for (Operation *op : llvm::reverse(in.ops))
      if (!kept.contains(op)) {
        capturedCache.erase(op); // (a new op may be given its memory)
        op->erase();
      }
    return true;
  }

  ModuleOp module;
  unsigned minUses;
  unsigned numShared = 0;
  Value ctxArg;
  BlockIndex index; // see indexBlock
  BodyClasses classes; // the candidates' of this depth
  llvm::DenseMap<Operation *, SmallVector<Value, 2>> capturedCache; // see captured
};

struct ShareFnBodies : impl::DLShareFnBodiesBase<ShareFnBodies> {
  using DLShareFnBodiesBase::DLShareFnBodiesBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<func::FuncOp> entries;
    for (auto fn : module.getOps<func::FuncOp>())
      if (isLoweredEntry(fn)) entries.push_back(fn);
    Sharer sharer(module, std::max(2u, unsigned(minUses)));
    for (func::FuncOp fn : entries) sharer.run(fn);
    sharer.mergeEqualBodies();
  }
};

} // namespace
} // namespace dlc
