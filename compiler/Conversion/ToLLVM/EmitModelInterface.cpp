//===- EmitModelInterface.cpp - the symbols model.so exports --------------===//
//
// model.so's contract with the runtime (runtime/include/dlrt/model_abi.h):
//   int32_t     dl_model_abi_version(void);
//   const char *dl_model_signature(void);             // JSON
//   int32_t     dl_model_bind(void *(*resolve)(const char *, void *), void *user);
//   void        dl_entry_<fn>(void *ctx, void **memref_descriptors);
// Runtime kernels are reached through import slots filled by dl_model_bind, never by
// symbol resolution: model.so then loads the same whether libdlrt was linked, dlopened
// with RTLD_LOCAL, or is a static part of the application.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/Support/JSON.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLEMITMODELINTERFACE
#include "compiler/Conversion/Passes.h.inc"

namespace {

LLVM::GlobalOp stringGlobal(OpBuilder &b, Location loc, StringRef name, StringRef value) {
  std::string data = value.str();
  data.push_back('\0');
  auto type = LLVM::LLVMArrayType::get(IntegerType::get(b.getContext(), 8), data.size());
  return LLVM::GlobalOp::create(b, loc, type, /*isConstant=*/true, LLVM::Linkage::Internal, name,
                                b.getStringAttr(data));
}

/// An attribute of the dl.plugins / dl.plugin_calls tables as JSON.
llvm::json::Value toJSON(Attribute a) {
  if (auto b = dyn_cast<BoolAttr>(a)) return b.getValue();
  if (auto i = dyn_cast<IntegerAttr>(a)) return i.getInt();
  if (auto f = dyn_cast<FloatAttr>(a)) return f.getValueAsDouble();
  if (auto s = dyn_cast<StringAttr>(a)) return s.getValue().str();
  if (auto arr = dyn_cast<DenseI64ArrayAttr>(a)) {
    llvm::json::Array out;
    for (int64_t v : arr.asArrayRef()) out.push_back(v);
    return out;
  }
  if (auto arr = dyn_cast<ArrayAttr>(a)) {
    llvm::json::Array out;
    for (Attribute e : arr) out.push_back(toJSON(e));
    return out;
  }
  if (auto d = dyn_cast<DictionaryAttr>(a)) {
    llvm::json::Object out;
    for (NamedAttribute n : d) out[n.getName().getValue()] = toJSON(n.getValue());
    return out;
  }
  return nullptr;
}

/// The scalar fields of `t` in order (a memref descriptor's allocated and aligned pointers,
/// offset, sizes and strides), as extractvalue positions.
void leafPositions(Type t, SmallVectorImpl<int64_t> &prefix, SmallVectorImpl<SmallVector<int64_t>> &out) {
  if (auto s = dyn_cast<LLVM::LLVMStructType>(t)) {
    for (auto [i, e] : llvm::enumerate(s.getBody())) {
      prefix.push_back(int64_t(i));
      leafPositions(e, prefix, out);
      prefix.pop_back();
    }
  } else if (auto a = dyn_cast<LLVM::LLVMArrayType>(t)) {
    for (unsigned i = 0; i < a.getNumElements(); ++i) {
      prefix.push_back(int64_t(i));
      leafPositions(a.getElementType(), prefix, out);
      prefix.pop_back();
    }
  } else {
    out.push_back(SmallVector<int64_t>(prefix.begin(), prefix.end()));
  }
}

/// Makes dl_entry_<graph>(ctx, descriptors) of `graph`'s body, with each of its arguments
/// loaded from the descriptor that `wrapper` (the C interface's, which takes one
/// descriptor pointer per memref after the context) would have passed it from.
LogicalResult moveIntoEntry(OpBuilder &b, LLVM::LLVMFuncOp wrapper, LLVM::LLVMFuncOp graph) {
  MLIRContext *ctx = b.getContext();
  Location loc = graph.getLoc();
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  if (wrapper.getNumArguments() < 1 || graph.getNumArguments() < 1) return failure();
  // Each descriptor's type: what the wrapper loads through its pointer.
  SmallVector<Type> descriptors;
  for (unsigned k = 1; k < wrapper.getNumArguments(); ++k) {
    Value arg = wrapper.getArgument(k);
    auto load = arg.hasOneUse() ? dyn_cast<LLVM::LoadOp>(*arg.getUsers().begin()) : nullptr;
    if (!load || !isa<LLVM::LLVMStructType>(load.getType())) return failure();
    descriptors.push_back(load.getType());
  }
  auto entry = LLVM::LLVMFuncOp::create(b, loc, ("dl_entry_" + graph.getName()).str(),
                                        LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx), {ptr, ptr}));
  OpBuilder::InsertionGuard g(b);
  Block *blk = entry.addEntryBlock(b);
  b.setInsertionPointToStart(blk);
  SmallVector<Value> args{blk->getArgument(0)};
  for (auto [k, type] : llvm::enumerate(descriptors)) {
    Value at = LLVM::GEPOp::create(b, loc, ptr, ptr, blk->getArgument(1), ArrayRef<LLVM::GEPArg>{int32_t(k)});
    Value desc = LLVM::LoadOp::create(b, loc, ptr, at);
    Value whole = LLVM::LoadOp::create(b, loc, type, desc, /*alignment=*/8);
    SmallVector<int64_t> prefix;
    SmallVector<SmallVector<int64_t>> leaves;
    leafPositions(type, prefix, leaves);
    for (ArrayRef<int64_t> pos : leaves) args.push_back(LLVM::ExtractValueOp::create(b, loc, whole, pos));
  }
  Region &body = graph.getBody();
  Block &first = body.front();
  if (args.size() != first.getNumArguments() ||
      !llvm::equal(ValueRange(args).getTypes(), first.getArgumentTypes())) {
    entry.erase();
    return failure();
  }
  for (auto [from, to] : llvm::zip(first.getArguments(), args)) from.replaceAllUsesWith(to);
  Region &into = entry.getBody();
  into.getBlocks().splice(into.end(), body.getBlocks(), std::next(body.begin()), body.end());
  blk->getOperations().splice(blk->end(), first.getOperations());
  return success();
}

struct EmitModelInterfacePass : public impl::DLEmitModelInterfaceBase<EmitModelInterfacePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    OpBuilder b(ctx);
    Location loc = module.getLoc();
    auto ptr = LLVM::LLVMPointerType::get(ctx);
    auto i32 = IntegerType::get(ctx, 32);
    b.setInsertionPointToEnd(module.getBody());

    // dl_model_abi_version and dl_model_signature.
    {
      auto fn = LLVM::LLVMFuncOp::create(b, loc, "dl_model_abi_version", LLVM::LLVMFunctionType::get(i32, {}));
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(fn.addEntryBlock(b));
      LLVM::ReturnOp::create(b, loc, LLVM::ConstantOp::create(b, loc, i32, kModelAbiVersion).getResult());
    }
    auto sigAttr = module->getAttrOfType<StringAttr>("dl.signature");
    if (!sigAttr) {
      module.emitError("module has no dl.signature: it was not produced by dlc's front end");
      return signalPassFailure();
    }
    // The call sites' source locations join the signature: run-time errors name them.
    std::string signature = sigAttr.getValue().str();
    auto sites = module->getAttrOfType<ArrayAttr>("dl.sites");
    auto trainUnavailable = module->getAttrOfType<StringAttr>("dl.train_unavailable");
    // The plugins whose run-time parts the model needs, and what each kernel call passes.
    auto plugins = module->getAttrOfType<ArrayAttr>("dl.plugins");
    auto pluginCalls = module->getAttrOfType<ArrayAttr>("dl.plugin_calls");
    // The GPU target's architectures and kernel table (dl-embed-gpu-code).
    auto gpu = module->getAttrOfType<DictionaryAttr>("dl.gpu");
    {
      llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(signature);
      if (!parsed || !parsed->getAsObject()) {
        llvm::consumeError(parsed.takeError());
        module.emitError("dl.signature is not a JSON object");
        return signalPassFailure();
      }
      llvm::json::Object &root = *parsed->getAsObject();
      if (sites) {
        llvm::json::Array list;
        for (Attribute a : sites) list.push_back(cast<StringAttr>(a).getValue().str());
        root["sites"] = std::move(list);
      }
      // What each profile unit is (dl-profile-marks), for dlrun bench --profile.
      if (auto units = module->getAttrOfType<ArrayAttr>("dl.profile_units")) root["profile"] = toJSON(units);
      root["target"] = gpu ? "cuda" : "cpu";
      // dlc --precision bf16, where the target CPU has bf16 units: the run time's oneDNN
      // kernels take bf16 operands (where the CPU running the model has them too).
      if (auto p = module->getAttrOfType<StringAttr>("dl.precision")) root["precision"] = p.getValue().str();
      if (gpu) root["gpu"] = toJSON(gpu);
      // The symbol along which inference may run on slices of the batch (dl-mark-batch-split).
      if (auto split = module->getAttrOfType<StringAttr>("dl.batch_split")) root["batch_split"] = split.getValue().str();
      if (plugins) {
        root["plugins"] = toJSON(plugins);
        root["plugin_calls"] = pluginCalls ? toJSON(pluginCalls) : llvm::json::Array();
      }
      // Why the model has no train step (dlrun train says so).
      if (trainUnavailable)
        if (llvm::json::Object *train = root.getObject("train"))
          (*train)["unavailable"] = trainUnavailable.getValue().str();
      signature.clear();
      llvm::raw_string_ostream os(signature);
      os << *parsed;
    }
    {
      auto sig = stringGlobal(b, loc, "__dl_signature", signature);
      auto fn = LLVM::LLVMFuncOp::create(b, loc, "dl_model_signature", LLVM::LLVMFunctionType::get(ptr, {}));
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(fn.addEntryBlock(b));
      LLVM::ReturnOp::create(b, loc, LLVM::AddressOfOp::create(b, loc, sig).getResult());
    }

    // Import slots for the runtime's kernels. Heap allocations of the generated code go to
    // the session's arena: malloc and free are imports too.
    auto importName = [](StringRef name) -> std::string {
      if (name == "malloc") return "dlrt_k_alloc";
      if (name == "aligned_alloc") return "dlrt_k_aligned_alloc";
      if (name == "free") return "dlrt_k_free";
      return name.starts_with("dlrt_") ? name.str() : "";
    };
    SmallVector<std::pair<LLVM::LLVMFuncOp, LLVM::GlobalOp>> imports;
    SmallVector<std::string> importNames;
    for (auto fn : llvm::to_vector(module.getOps<LLVM::LLVMFuncOp>())) {
      std::string name = fn.isExternal() ? importName(fn.getName()) : "";
      if (name.empty()) continue;
      importNames.push_back(name);
      auto slot = LLVM::GlobalOp::create(b, loc, ptr, /*isConstant=*/false, LLVM::Linkage::Internal,
                                         "__dl_import_" + name, Attribute());
      {
        OpBuilder::InsertionGuard g(b);
        Block *init = b.createBlock(&slot.getInitializerRegion());
        (void)init;
        LLVM::ReturnOp::create(b, loc, LLVM::ZeroOp::create(b, loc, ptr).getResult());
      }
      imports.push_back({fn, slot});
    }
    // One walk for every kernel's calls (a walk per kernel took seconds on a deep model).
    llvm::DenseMap<StringAttr, std::pair<LLVM::LLVMFuncOp, LLVM::GlobalOp>> slotOf;
    for (auto &[fn, slot] : imports) slotOf[fn.getSymNameAttr()] = {fn, slot};
    SmallVector<LLVM::CallOp> calls;
    Operation *misuse = nullptr;
    module.walk([&](Operation *op) {
      if (auto call = dyn_cast<LLVM::CallOp>(op)) {
        if (auto callee = call.getCalleeAttr(); callee && slotOf.count(callee.getAttr())) calls.push_back(call);
      } else if (auto addr = dyn_cast<LLVM::AddressOfOp>(op)) {
        if (slotOf.count(addr.getGlobalNameAttr().getAttr())) misuse = op;
      }
    });
    if (misuse) {
      misuse->emitError("a runtime kernel used other than by a call");
      return signalPassFailure();
    }
    for (LLVM::CallOp call : calls) {
      auto [fn, slot] = slotOf.lookup(call.getCalleeAttr().getAttr());
      OpBuilder cb(call);
      Value addr = LLVM::AddressOfOp::create(cb, call.getLoc(), slot);
      Value target = LLVM::LoadOp::create(cb, call.getLoc(), ptr, addr);
      SmallVector<Value> args{target};
      args.append(call.getArgOperands().begin(), call.getArgOperands().end());
      auto indirect = LLVM::CallOp::create(cb, call.getLoc(), fn.getFunctionType(), args);
      call.replaceAllUsesWith(indirect.getResults());
      call.erase();
    }

    // dl_model_bind(resolve, user): fills every slot, returns how many stayed empty.
    {
      auto resolverType = LLVM::LLVMFunctionType::get(ptr, {ptr, ptr});
      auto fn = LLVM::LLVMFuncOp::create(b, loc, "dl_model_bind", LLVM::LLVMFunctionType::get(i32, {ptr, ptr}));
      SmallVector<LLVM::GlobalOp> names;
      for (const std::string &n : importNames) names.push_back(stringGlobal(b, loc, "__dl_import_name_" + n, n));
      OpBuilder::InsertionGuard g(b);
      Block *entry = fn.addEntryBlock(b);
      b.setInsertionPointToStart(entry);
      Value missing = LLVM::ConstantOp::create(b, loc, i32, 0);
      Value zero = LLVM::ZeroOp::create(b, loc, ptr);
      for (auto [imp, name] : llvm::zip(imports, names)) {
        Value nameAddr = LLVM::AddressOfOp::create(b, loc, name);
        auto call = LLVM::CallOp::create(b, loc, resolverType,
                                         ValueRange{entry->getArgument(0), nameAddr, entry->getArgument(1)});
        Value fp = call.getResult();
        LLVM::StoreOp::create(b, loc, fp, LLVM::AddressOfOp::create(b, loc, imp.second));
        Value isNull = LLVM::ICmpOp::create(b, loc, LLVM::ICmpPredicate::eq, fp, zero);
        Value inc = LLVM::ZExtOp::create(b, loc, i32, isNull);
        missing = LLVM::AddOp::create(b, loc, missing, inc);
      }
      LLVM::ReturnOp::create(b, loc, missing);
    }
    for (auto &[fn, slot] : imports) fn.erase();

    // The dl.* argument tags have served the signature; LLVM IR has no place for them.
    // Rebuilt once per function: removing them one by one rebuilds every argument's
    // attributes each time (a train step has thousands of arguments).
    for (auto fn : module.getOps<LLVM::LLVMFuncOp>()) {
      SmallVector<DictionaryAttr> kept;
      bool changed = false;
      for (unsigned i = 0; i < fn.getNumArguments(); ++i) {
        DictionaryAttr d = fn.getArgAttrDict(i);
        SmallVector<NamedAttribute> attrs;
        if (d)
          for (NamedAttribute a : d.getValue()) {
            if (a.getName().getValue().starts_with("dl.")) changed = true;
            else attrs.push_back(a);
          }
        kept.push_back(DictionaryAttr::get(module.getContext(), attrs));
      }
      if (changed) fn.setAllArgAttrs(kept);
    }

    // dl_entry_<name>(ctx, descriptors) for every entry function: the graph function's
    // body itself, moved (not copied) into a function that reads its arguments from the
    // descriptors. MLIR's C interface would wrap the graph function in one that loads the
    // descriptors and passes every field on, for LLVM to inline both into dl_entry_*; for
    // a deep model's train step that meant cloning 140,000 instructions (0.45 s of
    // TinyGpt-64's compile) to end where this starts.
    for (auto wrapper : llvm::to_vector(module.getOps<LLVM::LLVMFuncOp>())) {
      StringRef name = wrapper.getName();
      if (!name.consume_front("_mlir_ciface_") || wrapper.isExternal()) continue;
      auto graph = module.lookupSymbol<LLVM::LLVMFuncOp>(name);
      if (!graph || graph.isExternal() || failed(moveIntoEntry(b, wrapper, graph))) {
        wrapper.emitError("internal error: the entry function '") << name << "' is not the C interface's wrapper of a graph function";
        return signalPassFailure();
      }
      wrapper.erase();
      graph.erase();
    }
  }
};

} // namespace
} // namespace dlc
