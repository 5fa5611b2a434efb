//===- TensorType.cpp - dtypes and symbolic shapes of the front end -------===//
#include "compiler/Layers/TensorType.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

namespace dlc {

std::optional<DType> parseDType(const std::string &s) {
  if (s == "f32") return DType::F32;
  if (s == "i64") return DType::I64;
  if (s == "i32") return DType::I32;
  if (s == "bf16") return DType::BF16;
  if (s == "f16") return DType::F16;
  if (s == "bool") return DType::Bool;
  return std::nullopt;
}

const char *dtypeName(DType d) {
  switch (d) {
  case DType::F32: return "f32";
  case DType::I64: return "i64";
  case DType::I32: return "i32";
  case DType::BF16: return "bf16";
  case DType::F16: return "f16";
  case DType::Bool: return "bool";
  }
  return "?";
}

bool isFloat(DType d) { return d == DType::F32 || d == DType::BF16 || d == DType::F16; }
bool isInteger(DType d) { return d == DType::I64 || d == DType::I32; }

size_t dtypeSize(DType d) {
  switch (d) {
  case DType::F32: case DType::I32: return 4;
  case DType::I64: return 8;
  case DType::BF16: case DType::F16: return 2;
  case DType::Bool: return 1;
  }
  return 0;
}

mlir::Type toMLIR(DType d, mlir::MLIRContext *ctx) {
  mlir::Builder b(ctx);
  switch (d) {
  case DType::F32: return b.getF32Type();
  case DType::I64: return b.getI64Type();
  case DType::I32: return b.getI32Type();
  case DType::BF16: return b.getBF16Type();
  case DType::F16: return b.getF16Type();
  case DType::Bool: return b.getI1Type();
  }
  return {};
}

std::string TensorType::str() const {
  std::string s = std::string(dtypeName(dtype)) + "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += shape[i].str();
  }
  return s + "]";
}

SymExpr TensorType::numel() const {
  SymExpr n(int64_t(1));
  for (const SymExpr &d : shape) n = n * d;
  return n;
}

static int category(DType d) { return d == DType::Bool ? 0 : isInteger(d) ? 1 : 2; }

static DType widest(DType a, DType b) {
  if (a == b) return a;
  if (category(a) != category(b)) return category(a) > category(b) ? a : b;
  if (isFloat(a)) {
    // f16 with bf16 promotes to f32, as in torch.
    if (a == DType::F32 || b == DType::F32) return DType::F32;
    return DType::F32;
  }
  return (a == DType::I64 || b == DType::I64) ? DType::I64 : DType::I32;
}

DType promote(DType a, bool aWeak, DType b, bool bWeak) {
  if (aWeak == bWeak) return widest(a, b);
  DType strong = aWeak ? b : a, weak = aWeak ? a : b;
  if (category(weak) <= category(strong)) return strong;
  return category(weak) == 2 ? DType::F32 : DType::I64;
}

} // namespace dlc
