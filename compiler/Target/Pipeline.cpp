//===- Pipeline.cpp - from the dl dialect to the LLVM dialect -------------===//
#include "compiler/Target/Pipeline.h"
#include "compiler/Autodiff/Passes.h"
#include "compiler/Conversion/Passes.h"
#include "dialects/DL/DLDialect.h"
#include "dialects/DLRT/DLRTDialect.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVM.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVM.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Bufferization/Transforms/FuncBufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Index/IR/IndexDialect.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Linalg/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/MemRef/Transforms/AllocationOpInterfaceImpl.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Tensor/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Transforms/Passes.h"

namespace dlc {

void registerDialects(mlir::DialectRegistry &registry) {
  registry.insert<mlir::dl::DLDialect, mlir::dlrt::DLRTDialect, mlir::arith::ArithDialect, mlir::affine::AffineDialect,
                  mlir::bufferization::BufferizationDialect, mlir::cf::ControlFlowDialect,
                  mlir::func::FuncDialect, mlir::index::IndexDialect, mlir::linalg::LinalgDialect,
                  mlir::LLVM::LLVMDialect, mlir::math::MathDialect, mlir::memref::MemRefDialect,
                  mlir::scf::SCFDialect, mlir::tensor::TensorDialect, mlir::vector::VectorDialect,
                  mlir::gpu::GPUDialect, mlir::NVVM::NVVMDialect>();
  mlir::arith::registerBufferizableOpInterfaceExternalModels(registry);
  mlir::linalg::registerBufferizableOpInterfaceExternalModels(registry);
  mlir::tensor::registerBufferizableOpInterfaceExternalModels(registry);
  mlir::scf::registerBufferizableOpInterfaceExternalModels(registry);
  mlir::bufferization::func_ext::registerBufferizableOpInterfaceExternalModels(registry);
  mlir::memref::registerAllocationOpInterfaceExternalModels(registry);
  mlir::registerBuiltinDialectTranslation(registry);
  mlir::registerLLVMDialectTranslation(registry);
  // The GPU target: convert-gpu-to-nvvm takes the kernels' arith, math, memref and cf
  // patterns from these interfaces; gpu-module-to-binary serialises through the NVVM
  // target and the GPU and NVVM translations.
  mlir::arith::registerConvertArithToLLVMInterface(registry);
  mlir::cf::registerConvertControlFlowToLLVMInterface(registry);
  mlir::registerConvertFuncToLLVMInterface(registry);
  mlir::index::registerConvertIndexToLLVMInterface(registry);
  mlir::registerConvertMathToLLVMInterface(registry);
  mlir::registerConvertMemRefToLLVMInterface(registry);
  mlir::ub::registerConvertUBToLLVMInterface(registry);
  mlir::registerConvertNVVMToLLVMInterface(registry);
  mlir::NVVM::registerConvertGpuToNVVMInterface(registry);
  mlir::NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  mlir::registerGPUDialectTranslation(registry);
  mlir::registerNVVMDialectTranslation(registry);
}

void registerPasses() {
  registerDLConversionPasses();
  registerDLAutodiffPasses();
  mlir::registerTransformsPasses();
  mlir::registerConversionPasses();
  mlir::bufferization::registerBufferizationPasses();
  mlir::bufferization::registerBufferizationPipelines();
  mlir::registerLinalgPasses();
  mlir::memref::registerMemRefPasses();
  mlir::registerGPUPasses();
}

void addTrainStepPasses(mlir::PassManager &pm, const std::string &kernels, bool allowInferenceOnly) {
  DLUnrollRecurrentOptions unroll;
  unroll.keepFusedF32 = kernels == "onednn";
  unroll.keepFused = kernels == "linalg"; // the GPU target's too
  pm.addPass(createDLSinkReluBelowMaxPool());
  pm.addPass(createDLUnrollRecurrent(unroll));
  DLAutodiffOptions autodiff;
  autodiff.allowInferenceOnly = allowInferenceOnly;
  pm.addPass(createDLAutodiff(autodiff));
}

// From dl's lowering to bufferized, deallocated code: what both targets share.
// On the CPU, the calls of a `fn` share one function from here on (dl-share-fn-bodies),
// and bufferization decides buffers across the calls (identity layouts at the boundary,
// as at a kernel's).
static std::string tensorsToBuffers(bool shareFnBodies) {
  return std::string("func.func(canonicalize,cse,linalg-fuse-elementwise-ops,canonicalize,"
                     "dl-collapse-loop-dims,canonicalize),") +
         (shareFnBodies ? "dl-share-fn-bodies," : "") +
         "dl-concat-insert-chains,dl-reuse-dead-inputs,dl-unique-empty-tensors,dl-eliminate-empty-tensors,"
         "one-shot-bufferize{unknown-type-conversion=identity-layout-map allow-return-allocs-from-loops" +
         (shareFnBodies ? " bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map}"
                          // A body that wrote an argument's buffer in place returns nothing
                          // for it: the caller reads its own buffer.
                          ",drop-equivalent-buffer-results,"
                        : "},");
}

// buffer-deallocation-pipeline, with dl-split-deallocs before the simplification, which
// takes time quadratic in the buffers one dealloc frees: a block's owned allocations,
// thousands in a train step unrolled over a long recurrence.
static std::string deallocation() {
  return "expand-realloc{emit-deallocs=false},canonicalize,ownership-based-buffer-deallocation,canonicalize,"
         "dl-split-deallocs,buffer-deallocation-simplification,bufferization-lower-deallocations,cse,canonicalize,";
}

// The host code from runtime calls to the LLVM dialect and the model's interface.
static std::string hostToLLVM() {
  return "dlrt-call-to-func,func.func(convert-linalg-to-loops),lower-affine,convert-scf-to-cf,"
         "dl-approximate-math,convert-math-to-llvm,convert-math-to-libm,expand-strided-metadata,lower-affine,"
         // aligned_alloc(64, size): malloc(size + 64) and aligning by hand, the default, made
         // every arena block 64 bytes longer than its tensor, and two halves of a freed
         // tensor no longer fit in its place (ResNet-18's arena at b2: 1.25x its liveness
         // bound, then 1.00x).
         "finalize-memref-to-llvm{use-aligned-alloc=1},convert-arith-to-llvm,convert-index-to-llvm,"
         "convert-func-to-llvm,convert-cf-to-llvm,reconcile-unrealized-casts,"
         "dl-kernel-noalias,dl-parallel-kernel-calls,dl-emit-model-interface";
}

std::string cpuPipeline(const CpuPipelineOptions &opts) {
  // dl-mark-batch-split reads the front end's ops, before lowering fuses and relays them.
  // (The GPU target runs a call whole: its kernels are as wide as the batch already.)
  return "dl-mark-batch-split,dl-lower-to-cpu{kernels=" + opts.kernels +
         " channel-block=" + std::to_string(opts.channelBlock) + "}," + tensorsToBuffers(opts.shareFnBodies) +
         // Ownership-based deallocation clones a buffer a function returns without owning
         // it; shared fn bodies return none (their tensors go into the caller's
         // destinations), and any clone left becomes an allocation and a copy here.
         "dl-expand-strided-copies," + deallocation() + "convert-bufferization-to-memref,"
         // dl-collapse-loop-dims again, on buffers: the generics that write an output
         // buffer, which it left alone on tensors.
         "func.func(dl-free-after-last-use,dl-collapse-loop-dims),dl-profile-marks,dl-outline-kernels" +
         (opts.parallelLoops ? "{parallel-rows=true}," : ",") +
         hostToLLVM();
}

std::string cudaPipeline() {
  std::string archs;
  for (const char *chip : kCudaArchs)
    archs += std::string("nvvm-attach-target{chip=") + chip + " features=+ptx80 O=3},";
  return "dl-lower-to-gpu," + tensorsToBuffers(/*shareFnBodies=*/false) +
         deallocation() + "func.func(dl-free-after-last-use),dl-profile-marks,"
         "func.func(dl-map-to-gpu),gpu-kernel-outlining,dl-gpu-launches-to-runtime,"
         "gpu.module(expand-strided-metadata,lower-affine,convert-scf-to-cf,dl-expand-gpu-math,dl-approximate-math,"
         "dl-gpu-math-to-intrinsics,convert-gpu-to-nvvm,reconcile-unrealized-casts)," +
         archs + "gpu-module-to-binary{format=isa},dl-embed-gpu-code," + hostToLLVM();
}

mlir::LogicalResult lowerToLLVMDialect(mlir::ModuleOp module, const std::string &target, const CpuPipelineOptions &cpu,
                                       llvm::function_ref<void(mlir::PassManager &)> configure) {
  mlir::PassManager pm(module->getName());
  if (configure) configure(pm);
  std::string err;
  llvm::raw_string_ostream os(err);
  if (mlir::failed(mlir::parsePassPipeline(target == "cuda" ? cudaPipeline() : cpuPipeline(cpu), pm, os))) {
    module.emitError("internal error: bad pass pipeline: ") << err;
    return mlir::failure();
  }
  return pm.run(module);
}

} // namespace dlc
