//===- EmbedGPUCode.cpp - the dl-embed-gpu-code pass ----------------------===//
//
// gpu-module-to-binary leaves @dl_kernels as a gpu.binary holding one PTX text per
// architecture. model.so carries them as constant strings behind one exported function,
//
//   const char *dl_model_gpu_code(int32_t i);   // NUL-terminated PTX, NULL past the end
//
// and the signature names the architectures in the same order with the kernel table the
// host code indexes and each kernel's parameter count (module attribute `dl.gpu`, written
// into the JSON by dl-emit-model-interface). The runtime loads the image of the newest architecture the
// device runs; the driver compiles PTX for the device at load.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLEMBEDGPUCODE
#include "compiler/Conversion/Passes.h.inc"

namespace {

struct EmbedGPUCodePass : public impl::DLEmbedGPUCodeBase<EmbedGPUCodePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    auto binaries = llvm::to_vector(module.getOps<gpu::BinaryOp>());
    auto kernels = module->getAttrOfType<ArrayAttr>("dl.gpu_kernels");
    auto words = module->getAttrOfType<DenseI64ArrayAttr>("dl.gpu_words");
    // A model whose work is all runtime calls (cuBLAS, cuDNN) has no kernels: no images,
    // an empty table, and still the cuda target.
    if (!kernels || !words || binaries.size() != (kernels.empty() ? 0u : 1u)) {
      module.emitError("internal error: expected the kernel table and, with kernels, one gpu.binary");
      return signalPassFailure();
    }
    gpu::BinaryOp binary = binaries.empty() ? gpu::BinaryOp() : binaries.front();
    OpBuilder b(ctx);
    b.setInsertionPointToEnd(module.getBody());
    Location loc = binary ? binary.getLoc() : module.getLoc();
    auto ptr = LLVM::LLVMPointerType::get(ctx);
    auto i32 = IntegerType::get(ctx, 32);

    SmallVector<Attribute> archs;
    SmallVector<LLVM::GlobalOp> images;
    for (Attribute a : binary ? binary.getObjects() : ArrayAttr::get(ctx, {})) {
      auto object = cast<gpu::ObjectAttr>(a);
      auto target = dyn_cast<NVVM::NVVMTargetAttr>(object.getTarget());
      if (!target || object.getFormat() != gpu::CompilationTarget::Assembly) {
        binary.emitError("internal error: expected PTX for NVVM targets, got ") << object;
        return signalPassFailure();
      }
      std::string text = object.getObject().getValue().str();
      text.push_back('\0');
      auto type = LLVM::LLVMArrayType::get(IntegerType::get(ctx, 8), text.size());
      images.push_back(LLVM::GlobalOp::create(b, loc, type, /*isConstant=*/true, LLVM::Linkage::Internal,
                                              ("__dl_ptx_" + target.getChip()).str(), b.getStringAttr(text)));
      archs.push_back(b.getStringAttr(target.getChip()));
    }

    // dl_model_gpu_code(i): a chain of compares, one per image.
    auto fn = LLVM::LLVMFuncOp::create(b, loc, "dl_model_gpu_code", LLVM::LLVMFunctionType::get(ptr, {i32}));
    Block *entry = fn.addEntryBlock(b);
    b.setInsertionPointToStart(entry);
    Value result = LLVM::ZeroOp::create(b, loc, ptr);
    for (auto [i, image] : llvm::enumerate(images)) {
      Value is = LLVM::ICmpOp::create(b, loc, LLVM::ICmpPredicate::eq, entry->getArgument(0),
                                      LLVM::ConstantOp::create(b, loc, i32, int32_t(i)));
      result = LLVM::SelectOp::create(b, loc, is, LLVM::AddressOfOp::create(b, loc, image), result);
    }
    LLVM::ReturnOp::create(b, loc, result);

    module->setAttr("dl.gpu", b.getDictionaryAttr({b.getNamedAttr("archs", b.getArrayAttr(archs)),
                                                   b.getNamedAttr("kernels", kernels),
                                                   b.getNamedAttr("words", words)}));
    module->removeAttr("dl.gpu_kernels");
    module->removeAttr("dl.gpu_words");
    module->removeAttr("gpu.container_module");
    if (binary) binary.erase();
  }
};

} // namespace
} // namespace dlc
