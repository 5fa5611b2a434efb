//===- EmbedWeights.cpp - baking trained weights into model.so ------------===//
#include "compiler/Target/EmbedWeights.h"

// The runtime's own safetensors reader: one definition of what a valid file is.
#include "io/Safetensors.h"

#include "llvm/IR/Constants.h"
#include "llvm/IR/IRBuilder.h"

namespace dlc {

bool readWeightsFor(const std::string &path, const std::vector<WeightSpec> &params, std::vector<uint8_t> &bytes,
                    std::string &error, std::string &warning) {
  dlrt::SafetensorsFile file;
  if (!dlrt::readSafetensors(path, file, error)) return false;
  // The runtime's own check of a weights file against a model's parameters.
  std::vector<dlrt::ExpectedTensor> expected;
  for (const WeightSpec &p : params) {
    dlrt::ExpectedTensor t{p.name, DLRT_F32, p.shape};
    if (!dlrt::parseDtype(p.dtype, t.dtype)) {
      error = "parameter '" + p.name + "' has a dtype (" + p.dtype + ") weights files cannot hold";
      return false;
    }
    expected.push_back(std::move(t));
  }
  std::vector<const dlrt::SafetensorsEntry *> found;
  std::string unexpected;
  if (!dlrt::matchTensors(file, expected, "'" + path + "'", found, unexpected, error)) return false;
  if (!unexpected.empty())
    warning = "'" + path + "': tensors the model does not have, not baked in: " + unexpected;
  bytes = std::move(file.raw);
  return true;
}

mlir::LogicalResult emitWeightsPart(const std::vector<uint8_t> &bytes, const CodegenOptions &opts, CodeKind kind,
                                    std::string &out, std::string &error) {
  llvm::LLVMContext ctx;
  llvm::Module m("weights", ctx);
  if (!setTarget(m, opts, error)) return mlir::failure();
  llvm::Constant *data =
      llvm::ConstantDataArray::getRaw(llvm::StringRef(reinterpret_cast<const char *>(bytes.data()), bytes.size()),
                                      bytes.size(), llvm::Type::getInt8Ty(ctx));
  auto *blob = new llvm::GlobalVariable(m, data->getType(), /*isConstant=*/true, llvm::GlobalValue::InternalLinkage,
                                        data, "__dl_weights");
  blob->setAlignment(llvm::Align(64));
  // const uint8_t *dl_model_weights(uint64_t *size)
  auto *ptr = llvm::PointerType::get(ctx, 0);
  auto *fnType = llvm::FunctionType::get(ptr, {ptr}, false);
  auto *fn = llvm::Function::Create(fnType, llvm::GlobalValue::ExternalLinkage, "dl_model_weights", m);
  fn->setVisibility(llvm::GlobalValue::DefaultVisibility);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", fn));
  b.CreateStore(b.getInt64(bytes.size()), fn->getArg(0));
  b.CreateRet(blob);
  return emitCode(m, opts, kind, out, error);
}

} // namespace dlc
