//===- LaunchesToRuntime.cpp - the dl-gpu-launches-to-runtime pass --------===//
//
// After gpu-kernel-outlining each kernel sits in a gpu.module of its own and the host
// launches it with gpu.launch_func. MLIR's own host lowering would call the mgpu*
// wrappers, which load modules from a global constructor and report errors nowhere
// (notes/TOOLCHAIN.md). dlc's host code calls the runtime instead, like every other
// kernel:
//
//   dlrt_gpu_launch(ctx, kernel, grid_x, grid_y, grid_z, block_x, block_y, block_z,
//                   const int64_t *words, int64_t num_words)
//
// `kernel` indexes the module's kernel table (`dl.gpu_kernels`, in the signature), which
// the runtime resolves once per session; `dl.gpu_words` gives each kernel's parameter
// count, which the runtime checks against the PTX it loads. The kernels move into one gpu.module,
// @dl_kernels, so that a model carries one PTX image per GPU architecture.
//
// `words` are the kernel's parameters in the order convert-gpu-to-nvvm gives them, one
// 64-bit word each: a memref as (allocated pointer, aligned pointer, offset, sizes,
// strides); an index or integer widened to 64 bits; a float's bits in the low half (the
// kernel reads as many bytes as the parameter has, and the words are little-endian).
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "compiler/Conversion/Passes.h"
#include "dialects/DLRT/DLRTOps.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLGPULAUNCHESTORUNTIME
#include "compiler/Conversion/Passes.h.inc"

namespace {

constexpr StringLiteral kKernelModule = "dl_kernels";

/// One 64-bit word per kernel parameter that `v` becomes (see the file comment).
LogicalResult appendWords(OpBuilder &b, Location loc, Value v, SmallVectorImpl<Value> &words) {
  Type t = v.getType();
  Type i64 = b.getI64Type();
  if (isa<MemRefType>(t)) {
    Value aligned = i64Value(b, loc, memref::ExtractAlignedPointerAsIndexOp::create(b, loc, v));
    auto meta = memref::ExtractStridedMetadataOp::create(b, loc, v);
    words.push_back(aligned); // the allocated pointer: kernels never free
    words.push_back(aligned);
    words.push_back(i64Value(b, loc, meta.getOffset()));
    for (Value s : meta.getSizes()) words.push_back(i64Value(b, loc, s));
    for (Value s : meta.getStrides()) words.push_back(i64Value(b, loc, s));
    return success();
  }
  if (t.isIndex()) {
    words.push_back(i64Value(b, loc, v));
    return success();
  }
  if (auto it = dyn_cast<IntegerType>(t)) {
    if (it.getWidth() == 64) words.push_back(v);
    else if (it.getWidth() == 1) words.push_back(arith::ExtUIOp::create(b, loc, i64, v));
    else words.push_back(arith::ExtSIOp::create(b, loc, i64, v));
    return success();
  }
  if (auto ft = dyn_cast<FloatType>(t)) {
    unsigned width = ft.getWidth();
    Value bits = arith::BitcastOp::create(b, loc, b.getIntegerType(width), v);
    words.push_back(width == 64 ? bits : arith::ExtUIOp::create(b, loc, i64, bits).getResult());
    return success();
  }
  return emitError(loc, "internal error: a kernel parameter of type ") << t << " has no GPU calling convention";
}

struct GPULaunchesToRuntimePass : public impl::DLGPULaunchesToRuntimeBase<GPULaunchesToRuntimePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    OpBuilder b(ctx);

    // One module for every kernel; each kernel takes the name of the module it came from
    // (outlining made those unique: <function>_kernel, <function>_kernel_0, ...).
    SmallVector<gpu::GPUModuleOp> outlined = llvm::to_vector(module.getOps<gpu::GPUModuleOp>());
    if (outlined.empty()) {
      // A model whose work is all runtime calls (cuBLAS, cuDNN): an empty table.
      module->setAttr("dl.gpu_kernels", b.getArrayAttr({}));
      module->setAttr("dl.gpu_words", b.getDenseI64ArrayAttr({}));
      return;
    }
    b.setInsertionPointToEnd(module.getBody());
    auto kernels = gpu::GPUModuleOp::create(b, module.getLoc(), kKernelModule);
    SymbolTable kernelSymbols(kernels);
    llvm::StringMap<int64_t> index;
    SmallVector<Attribute> names;
    for (gpu::GPUModuleOp m : outlined) {
      for (auto fn : llvm::to_vector(m.getOps<gpu::GPUFuncOp>())) {
        std::string name = m.getSymName().str();
        if (std::distance(m.getOps<gpu::GPUFuncOp>().begin(), m.getOps<gpu::GPUFuncOp>().end()) > 1)
          name += "_" + fn.getName().str();
        index[(m.getSymName() + "::" + fn.getName()).str()] = int64_t(names.size());
        fn->remove();
        fn.setName(name);
        kernelSymbols.insert(fn);
        names.push_back(b.getStringAttr(name));
      }
    }

    SmallVector<gpu::LaunchFuncOp> launches;
    module.walk([&](gpu::LaunchFuncOp l) { launches.push_back(l); });
    // Each kernel's parameter count, for the runtime to check against the PTX it loads.
    SmallVector<int64_t> wordCounts(names.size(), 0);
    for (gpu::LaunchFuncOp l : launches) {
      std::string key = (l.getKernelModuleName().getValue() + "::" + l.getKernelName().getValue()).str();
      auto it = index.find(key);
      if (it == index.end()) {
        l.emitError("internal error: launch of an unknown kernel ") << key;
        return signalPassFailure();
      }
      if (l.getAsyncToken() || !l.getAsyncDependencies().empty() || l.hasClusterSize()) {
        l.emitError("internal error: async or clustered launches are not lowered");
        return signalPassFailure();
      }
      OpBuilder lb(l);
      Location loc = l.getLoc();
      SmallVector<Value> words;
      for (Value v : l.getKernelOperands())
        if (failed(appendWords(lb, loc, v, words))) return signalPassFailure();
      int64_t &expected = wordCounts[size_t(it->second)];
      if (expected && expected != int64_t(words.size())) {
        l.emitError("internal error: launches of ") << key << " pass " << words.size() << " and " << expected
                                                     << " parameters";
        return signalPassFailure();
      }
      expected = int64_t(words.size());
      SmallVector<Value> args{runtimeContext(l), i64Const(lb, loc, it->second)};
      for (Value v : {l.getGridSizeX(), l.getGridSizeY(), l.getGridSizeZ(), l.getBlockSizeX(), l.getBlockSizeY(),
                      l.getBlockSizeZ()})
        args.push_back(i64Value(lb, loc, v));
      Value array = words.empty() ? Value() : i64Array(lb, loc, words);
      SmallVector<int32_t> kinds(args.size(), int32_t(dlrt::KernelArgKind::In));
      if (array) {
        args.push_back(array);
        kinds.push_back(int32_t(dlrt::KernelArgKind::In));
      } else {
        kinds.push_back(int32_t(dlrt::KernelArgKind::Null));
      }
      args.push_back(i64Const(lb, loc, int64_t(words.size())));
      kinds.push_back(int32_t(dlrt::KernelArgKind::In));
      dlrt::KernelCallOp::create(lb, loc, TypeRange{}, FlatSymbolRefAttr::get(ctx, "dlrt_gpu_launch"), args,
                                 lb.getDenseI32ArrayAttr(kinds), UnitAttr());
      l.erase();
    }
    for (gpu::GPUModuleOp m : outlined) m.erase();
    module->setAttr("dl.gpu_kernels", b.getArrayAttr(names));
    module->setAttr("dl.gpu_words", b.getDenseI64ArrayAttr(wordCounts));
  }
};

} // namespace
} // namespace dlc
