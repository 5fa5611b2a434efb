//===- Optimizers.cpp - sgd, adam, adamw ----------------------------------===//
//
// Each optimizer: its attributes (DSL.md's names and defaults), the state it keeps per
// parameter (PyTorch's slot names, which checkpoints use) and the dl op of its update.
//
//===----------------------------------------------------------------------===//
#include "compiler/Layers/LayerRegistry.h"
#include "dialects/DL/DLOps.h"

namespace dlc {

static double hyper(const OptimizerUpdate &u, llvm::StringRef name) {
  return u.hyper.getAs<mlir::FloatAttr>(name).getValueAsDouble();
}

void registerOptimizers(LayerRegistry &r) {
  OptimizerDef sgd{"sgd",
                   {{"lr", AttrType::Float, std::nullopt},
                    {"momentum", AttrType::Float, AttrValue::ofFloat(0)},
                    {"nesterov", AttrType::Bool, AttrValue::ofBool(false)},
                    {"weight_decay", AttrType::Float, AttrValue::ofFloat(0)}},
                   {},
                   {}};
  sgd.slots = [](const std::map<std::string, AttrValue> &a) {
    return a.at("momentum").f != 0 ? std::vector<std::string>{"momentum_buffer"} : std::vector<std::string>{};
  };
  sgd.update = [](const OptimizerUpdate &u) {
    mlir::Value buffer = u.slots.empty() ? mlir::Value() : u.slots[0];
    auto type = u.param.getType();
    llvm::SmallVector<mlir::Type> types{type};
    if (buffer) types.push_back(type);
    auto op = mlir::dl::SgdUpdateOp::create(
        u.b, u.loc, types, u.param, u.grad, buffer, u.lr, u.b.getF64FloatAttr(hyper(u, "momentum")),
        u.b.getBoolAttr(u.hyper.getAs<mlir::BoolAttr>("nesterov").getValue()),
        u.b.getF64FloatAttr(hyper(u, "weight_decay")));
    return llvm::SmallVector<mlir::Value>(op->getResults());
  };
  r.addOptimizer(sgd);

  auto adamLike = [](const std::string &name, double wd, bool decoupled) {
    OptimizerDef d{name,
                   {{"lr", AttrType::Float, AttrValue::ofFloat(1e-3)},
                    {"beta1", AttrType::Float, AttrValue::ofFloat(0.9)},
                    {"beta2", AttrType::Float, AttrValue::ofFloat(0.999)},
                    {"eps", AttrType::Float, AttrValue::ofFloat(1e-8)},
                    {"weight_decay", AttrType::Float, AttrValue::ofFloat(wd)}},
                   {},
                   {}};
    d.slots = [](const std::map<std::string, AttrValue> &) {
      return std::vector<std::string>{"exp_avg", "exp_avg_sq"};
    };
    d.update = [decoupled](const OptimizerUpdate &u) {
      auto f = [&](llvm::StringRef n) { return u.b.getF64FloatAttr(hyper(u, n)); };
      auto op = mlir::dl::AdamUpdateOp::create(u.b, u.loc, u.param.getType(), u.param.getType(), u.param.getType(),
                                               u.param, u.grad, u.slots[0], u.slots[1], u.lr, u.step, f("beta1"),
                                               f("beta2"), f("eps"), f("weight_decay"), u.b.getBoolAttr(decoupled));
      return llvm::SmallVector<mlir::Value>(op->getResults());
    };
    return d;
  };
  r.addOptimizer(adamLike("adam", 0, false));
  r.addOptimizer(adamLike("adamw", 0.01, true));
}

} // namespace dlc
