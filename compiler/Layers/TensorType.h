//===- TensorType.h - dtypes and symbolic shapes of the front end -*- C++ -*-===//
#ifndef DLC_LAYERS_TENSORTYPE_H
#define DLC_LAYERS_TENSORTYPE_H

#include "compiler/Basic/SymExpr.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir {
class Type;
class MLIRContext;
} // namespace mlir

namespace dlc {

enum class DType { F32, I64, I32, BF16, F16, Bool };

std::optional<DType> parseDType(const std::string &s);
const char *dtypeName(DType d);
bool isFloat(DType d);
bool isInteger(DType d); // i32, i64 (not bool)
size_t dtypeSize(DType d);
mlir::Type toMLIR(DType d, mlir::MLIRContext *ctx);

/// A tensor's dtype and shape, each dim a constant or an expression of symbolic dims.
struct TensorType {
  DType dtype = DType::F32;
  std::vector<SymExpr> shape;

  size_t rank() const { return shape.size(); }
  std::string str() const; // f32[B, 64]
  /// The element count, as an expression.
  SymExpr numel() const;
};

/// torch.result_type for two operands; a weak operand (a Python-style literal) only
/// decides the category (bool < int < float), not the width.
DType promote(DType a, bool aWeak, DType b, bool bWeak);

} // namespace dlc
#endif
