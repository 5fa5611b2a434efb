//===- EmbedWeights.cpp - baking trained weights into model.so ------------===//
#include "compiler/Target/EmbedWeights.h"

// The runtime's own safetensors reader: one definition of what a valid file is.
#include "io/Safetensors.h"

#include "llvm/IR/Constants.h"
#include "llvm/IR/IRBuilder.h"

#include <map>

namespace dlc {

static std::string shapeText(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool readWeightsFor(const std::string &path, const std::vector<WeightSpec> &params, std::vector<uint8_t> &bytes,
                    std::string &error, std::string &warning) {
  dlrt::SafetensorsFile file;
  if (!dlrt::readSafetensors(path, file, error)) return false;
  std::map<std::string, const dlrt::SafetensorsEntry *> byName;
  for (const dlrt::SafetensorsEntry &e : file.entries) byName[e.name] = &e;
  std::string missing;
  for (const WeightSpec &p : params) {
    auto it = byName.find(p.name);
    if (it == byName.end()) {
      missing += (missing.empty() ? "" : ", ") + p.name;
      continue;
    }
    const dlrt::SafetensorsEntry &e = *it->second;
    if (p.dtype != dlrt_dtype_name(e.dtype) || p.shape != e.shape) {
      error = "'" + path + "': tensor '" + p.name + "' is " + dlrt_dtype_name(e.dtype) + shapeText(e.shape) +
              " but the model's parameter is " + p.dtype + shapeText(p.shape);
      return false;
    }
    byName.erase(it);
  }
  if (!missing.empty()) {
    error = "'" + path + "' lacks parameters: " + missing;
    return false;
  }
  for (const auto &kv : byName) warning += (warning.empty() ? "" : ", ") + kv.first;
  if (!warning.empty()) warning = "'" + path + "': tensors the model does not have, not baked in: " + warning;
  bytes = std::move(file.raw);
  return true;
}

void embedWeights(llvm::Module &m, const std::vector<uint8_t> &bytes) {
  llvm::LLVMContext &ctx = m.getContext();
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
}

} // namespace dlc
