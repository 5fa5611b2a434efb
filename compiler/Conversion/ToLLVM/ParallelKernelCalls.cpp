//===- ParallelKernelCalls.cpp - outlined kernels over the threads -------===//
//
// A kernel call marked dl.parallel_rows (dl-outline-kernels) is
//   llvm.call @dl_kernel_N(%begin = 0, %end = rows, %a0, %a1, ...)
// and becomes
//   store %a0, %a1, ... into a frame on the caller's stack
//   llvm.call @dlrt_k_parallel_rows(%ctx, @dl_kernel_N_rows, %frame, rows, work_per_row)
// where dl_kernel_N_rows(frame, begin, end) loads the arguments back and calls the kernel
// for rows [begin, end). Marked dl.parallel_rows_scaled, the call's third argument (the
// iterations of a column's sums, which the kernel does not read) multiplies work_per_row. The runtime decides the thread count, like any kernel's. One
// frame serves every call of a function (the calls run one after another, and the runtime
// is done with a frame when it returns), sized for the largest.
//
// An argument the kernel does not use (most of a static buffer's descriptor: only its
// aligned pointer matters) is not stored, nor is one that every call of the kernel passes
// as the same constant: the rows function passes poison, or the constant itself. The
// kernel then still sees its bounds and strides as constants, as it does when it is called
// directly (LLVM propagates them into the internal function), and the caller stores only
// what varies. TinyGpt at 64 layers: its train step's LLVM IR held 2,975 frame stores
// before, 415 after, and --parallel-loops no longer adds a measurable compile time.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "compiler/Conversion/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLPARALLELKERNELCALLS
#include "compiler/Conversion/Passes.h.inc"

namespace {

constexpr llvm::StringLiteral kRuntimeFn = "dlrt_k_parallel_rows";

/// The constant `v` is, looking through the descriptor structs a memref's fields are
/// extracted from (the converted call's operands are llvm.extractvalue of a descriptor
/// built by llvm.insertvalue); null where it is not a known integer or float.
Attribute constantOf(Value v) {
  while (auto extract = v.getDefiningOp<LLVM::ExtractValueOp>()) {
    ArrayRef<int64_t> at = extract.getPosition();
    Value container = extract.getContainer();
    auto insert = container.getDefiningOp<LLVM::InsertValueOp>();
    while (insert && insert.getPosition() != at) {
      // An insert into a part that contains or lies within the one extracted: give up.
      ArrayRef<int64_t> pos = insert.getPosition();
      size_t common = std::min(pos.size(), at.size());
      if (pos.take_front(common) == at.take_front(common)) return nullptr;
      insert = insert.getContainer().getDefiningOp<LLVM::InsertValueOp>();
    }
    if (!insert) return nullptr;
    v = insert.getValue();
  }
  Attribute value;
  if (!matchPattern(v, m_Constant(&value)) || !isa<IntegerAttr, FloatAttr>(value)) return nullptr;
  return value;
}

struct ParallelKernelCallsPass : public impl::DLParallelKernelCallsBase<ParallelKernelCallsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    auto ptr = LLVM::LLVMPointerType::get(ctx);
    auto i64 = IntegerType::get(ctx, 64);
    const DataLayout layout(module);

    llvm::MapVector<LLVM::LLVMFuncOp, SmallVector<LLVM::CallOp>> callsIn;
    module.walk([&](LLVM::CallOp call) {
      if (!call->hasAttr(kParallelRowsAttr)) return;
      auto caller = call->getParentOfType<LLVM::LLVMFuncOp>();
      APInt begin;
      // The caller's first argument is the runtime context (an entry or a shared fn body);
      // the calls dl-outline-kernels made start at row 0.
      if (caller && caller.getNumArguments() > 0 && isa<LLVM::LLVMPointerType>(caller.getArgument(0).getType()) &&
          call.getNumOperands() >= 2 && matchPattern(call.getOperand(0), m_ConstantInt(&begin)) && begin.isZero())
        callsIn[caller].push_back(call);
      else { // then it runs its rows in one go, as it says
        call->removeAttr(kParallelRowsAttr);
        call->removeAttr(kParallelRowsScaledAttr);
      }
    });
    if (callsIn.empty()) return;

    // One table for the thousands of kernel calls of a deep model's train step.
    SymbolTable symbols(module);
    OpBuilder top = OpBuilder::atBlockBegin(module.getBody());
    auto runtime = symbols.lookup<LLVM::LLVMFuncOp>(kRuntimeFn);
    if (!runtime) {
      runtime = LLVM::LLVMFuncOp::create(top, module.getLoc(), kRuntimeFn,
                                         LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx), {ptr, ptr, ptr, i64, i64}));
      runtime.setPrivate();
    }

    // Per kernel, the constant each of its arguments (after begin and end) has at every
    // parallel call, or null where the calls differ or pass a value.
    llvm::DenseMap<StringAttr, SmallVector<Attribute>> constantArgs;
    for (auto &[caller, calls] : callsIn)
      for (LLVM::CallOp call : calls) {
        auto args = call.getArgOperands().drop_front(2);
        auto [it, first] = constantArgs.try_emplace(call.getCalleeAttr().getAttr());
        if (first) it->second.resize(args.size());
        for (auto [i, v] : llvm::enumerate(args)) {
          Attribute value = constantOf(v);
          it->second[i] = first || it->second[i] == value ? value : nullptr;
        }
      }
    // Which arguments a kernel uses shows once its descriptors are folded away: func-to-llvm
    // packs every argument into a descriptor struct, and reads back only some fields.
    {
      llvm::SetVector<Operation *> kernels;
      for (auto &[caller, calls] : callsIn)
        for (LLVM::CallOp call : calls)
          if (auto kernel = symbols.lookup<LLVM::LLVMFuncOp>(call.getCalleeAttr().getAttr()); !kernel.isExternal())
            kernels.insert(kernel);
      GreedyRewriteConfig config;
      config.setRegionSimplificationLevel(GreedySimplifyRegionLevel::Disabled);
      FrozenRewritePatternSet folding{RewritePatternSet(ctx)};
      for (Operation *kernel : kernels) (void)applyPatternsGreedily(kernel->getRegion(0), folding, config);
    }
    // Whether the kernel's argument i (after begin and end) goes through the frame.
    auto isFramed = [&](LLVM::LLVMFuncOp kernel, size_t i) {
      bool used = kernel.isExternal() || !kernel.getArgument(unsigned(i + 2)).use_empty();
      return used && !constantArgs[kernel.getSymNameAttr()][i];
    };
    // The arguments of `call` of `kernel` that go through the frame.
    auto framed = [&](LLVM::CallOp call, LLVM::LLVMFuncOp kernel) {
      SmallVector<Value> values;
      for (auto [i, v] : llvm::enumerate(call.getArgOperands().drop_front(2)))
        if (isFramed(kernel, i)) values.push_back(v);
      return values;
    };

    llvm::DenseMap<StringAttr, LLVM::LLVMFuncOp> rowsFns;
    auto rowsFnOf = [&](LLVM::LLVMFuncOp kernel, LLVM::LLVMStructType frame) {
      LLVM::LLVMFuncOp &fn = rowsFns[kernel.getSymNameAttr()];
      if (fn) return fn;
      OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
      Location loc = kernel.getLoc();
      fn = LLVM::LLVMFuncOp::create(b, loc, (kernel.getSymName() + "_rows").str(),
                                    LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx), {ptr, i64, i64}),
                                    LLVM::Linkage::Internal);
      b.setInsertionPointToStart(fn.addEntryBlock(b));
      SmallVector<Value> args{fn.getArgument(1), fn.getArgument(2)};
      ArrayRef<Type> params = kernel.getFunctionType().getParams();
      int32_t field = 0;
      for (auto [i, constant] : llvm::enumerate(constantArgs[kernel.getSymNameAttr()])) {
        Type t = params[i + 2];
        if (!isFramed(kernel, i)) {
          args.push_back(constant ? Value(LLVM::ConstantOp::create(b, loc, t, cast<TypedAttr>(constant)))
                                  : Value(LLVM::PoisonOp::create(b, loc, t)));
          continue;
        }
        Value at = LLVM::GEPOp::create(b, loc, ptr, frame, fn.getArgument(0), ArrayRef<LLVM::GEPArg>{0, field++});
        args.push_back(LLVM::LoadOp::create(b, loc, t, at));
      }
      LLVM::CallOp::create(b, loc, kernel, args);
      LLVM::ReturnOp::create(b, loc, ValueRange{});
      return fn;
    };

    for (auto &[caller, calls] : callsIn) {
      // One frame per caller, as large and as aligned as the largest call needs.
      uint64_t size = 8, align = 8;
      struct Framed {
        LLVM::LLVMFuncOp kernel;
        SmallVector<Value> values;
        LLVM::LLVMStructType frame;
      };
      SmallVector<Framed> framedCalls;
      for (LLVM::CallOp call : calls) {
        Framed f;
        f.kernel = symbols.lookup<LLVM::LLVMFuncOp>(call.getCalleeAttr().getAttr());
        f.values = framed(call, f.kernel);
        f.frame = LLVM::LLVMStructType::getLiteral(ctx, llvm::to_vector(ValueRange(f.values).getTypes()));
        size = std::max<uint64_t>(size, layout.getTypeSize(f.frame));
        align = std::max<uint64_t>(align, layout.getTypeABIAlignment(f.frame));
        framedCalls.push_back(std::move(f));
      }
      OpBuilder eb = OpBuilder::atBlockBegin(&caller.getBody().front());
      Location loc = caller.getLoc();
      Value bytes = LLVM::ConstantOp::create(eb, loc, i64, int64_t(size));
      Value frameAddr = LLVM::AllocaOp::create(eb, loc, ptr, IntegerType::get(ctx, 8), bytes, unsigned(align));
      Value context = caller.getArgument(0);

      for (auto [call, f] : llvm::zip(calls, framedCalls)) {
        OpBuilder b(call);
        Location cl = call.getLoc();
        for (auto [i, v] : llvm::enumerate(f.values)) {
          Value at = LLVM::GEPOp::create(b, cl, ptr, f.frame, frameAddr, ArrayRef<LLVM::GEPArg>{0, int32_t(i)});
          // Volatile: LLVM's SLP vectoriser otherwise tries to vectorise every run of
          // these stores, and on the CNN's train step took 0.43 s doing so (0.04 s for
          // the rest of the model). The runtime reads the frame either way.
          LLVM::StoreOp::create(b, cl, v, at, /*alignment=*/0, /*isVolatile=*/true);
        }
        Value rowsFn = LLVM::AddressOfOp::create(b, cl, rowsFnOf(f.kernel, f.frame));
        Value work = LLVM::ConstantOp::create(b, cl, i64, cast<IntegerAttr>(call->getAttr(kParallelRowsAttr)).getInt());
        if (call->hasAttr(kParallelRowsScaledAttr)) work = LLVM::MulOp::create(b, cl, work, call.getOperand(2));
        LLVM::CallOp::create(b, cl, runtime, ValueRange{context, rowsFn, frameAddr, call.getOperand(1), work});
        call.erase();
      }
    }
  }
};

} // namespace
} // namespace dlc
