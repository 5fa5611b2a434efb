//===- ObjectEmitter.cpp - LLVM dialect -> LLVM IR -> object code ---------===//
#include "compiler/Target/ObjectEmitter.h"
#include "compiler/Target/EntryGlue.h"
#include "compiler/Target/SinkEntryArgLoads.h"

#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Passes/StandardInstrumentations.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Transforms/Scalar/DCE.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/SubtargetFeature.h"
#include "llvm/TargetParser/Host.h"

#include <optional>

namespace dlc {

static std::unique_ptr<llvm::TargetMachine> makeTargetMachine(const CodegenOptions &opts,
                                                              std::string &error) {
  static bool initialised = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)initialised;
  llvm::Triple triple(llvm::sys::getProcessTriple());
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target) return nullptr;
  std::string cpu = targetCPUName(opts);
  std::string features;
  if (opts.cpu == "native") {
    llvm::SubtargetFeatures f;
    for (auto &kv : llvm::sys::getHostCPUFeatures()) f.AddFeature(kv.first(), kv.second);
    features = f.getString();
  }
  llvm::TargetOptions to;
  auto level = opts.optLevel == 0 ? llvm::CodeGenOptLevel::None
               : opts.optLevel == 1 ? llvm::CodeGenOptLevel::Less
               : opts.optLevel == 2 ? llvm::CodeGenOptLevel::Default
                                    : llvm::CodeGenOptLevel::Aggressive;
  return std::unique_ptr<llvm::TargetMachine>(
      target->createTargetMachine(triple, cpu, features, to, llvm::Reloc::PIC_, std::nullopt, level));
}

/// Kernels vectorised at the width of the target's registers. LLVM's X86 tuning keeps
/// AVX-512 CPUs at 256-bit vectors unless a function asks for 512 (the frequency some
/// older Intel cores drop to for 512-bit work); a model's oneDNN primitives and runtime
/// kernels run 512-bit vectors on such a CPU anyway. TinyGpt's train step at b16 on one
/// Sapphire Rapids core, side by side: GELU's gradient 0.65-0.69 -> 0.54-0.55 ms, the
/// cross-entropy 0.24 -> 0.19, the predictions 0.053 -> 0.032; the step 21.1-21.3 ->
/// 20.2 ms. (AVX2 targets are unchanged: 256 bits is their width.)
static void preferWidestVectors(llvm::Module &m, llvm::TargetMachine &tm) {
  if (!tm.getMCSubtargetInfo()->checkFeatures("+avx512f")) return;
  for (llvm::Function &f : m)
    if (!f.isDeclaration()) f.addFnAttr("prefer-vector-width", "512");
}

static void applyTarget(llvm::Module &m, llvm::TargetMachine &tm) {
  m.setTargetTriple(tm.getTargetTriple());
  m.setDataLayout(tm.createDataLayout());
}

bool setTarget(llvm::Module &m, const CodegenOptions &opts, std::string &error) {
  auto tm = makeTargetMachine(opts, error);
  if (tm) applyTarget(m, *tm);
  return tm != nullptr;
}

std::string targetCPUName(const CodegenOptions &opts) {
  return opts.cpu == "native" ? llvm::sys::getHostCPUName().str() : opts.cpu;
}

bool targetCPUIsKnown(const CodegenOptions &opts) {
  if (opts.cpu == "native") return true;
  // Asked of a subtarget for the generic CPU: one for an unknown CPU warns as it is made.
  CodegenOptions generic = opts;
  generic.cpu = "generic";
  std::string error;
  auto tm = makeTargetMachine(generic, error);
  return tm && tm->getMCSubtargetInfo()->isCPUStringValid(opts.cpu);
}

bool targetHasAnyFeature(const CodegenOptions &opts, llvm::ArrayRef<llvm::StringRef> features) {
  std::string error;
  auto tm = makeTargetMachine(opts, error);
  return tm && llvm::any_of(features, [&](llvm::StringRef f) {
           return tm->getMCSubtargetInfo()->checkFeatures(("+" + f).str());
         });
}

/// What glue gets instead of the optimisation pipeline. The entries come out of the LLVM
/// dialect as descriptors loaded, taken apart and packed again for every use; folding
/// those, and the loads repeated between calls, takes TinyGpt-64's train step from
/// 149,800 instructions to 28,700 (-O3: 28,300, and 0.75 s more of the compile).
static constexpr const char *kGluePipeline =
    "early-cse<memssa>,instcombine<max-iterations=1;no-verify-fixpoint>,dce";

/// What of -O3 needs the whole module, run on it before it is cut into parts that are
/// optimised side by side: the function cleanup -O3 starts with, then constants and
/// unused arguments propagated across calls (the kernels' static shapes, strides and
/// offsets reach their loops: without them nothing vectorises). Then kernels that came
/// out the same (TinyGpt's AdamW update has six identical kernels, one per group of
/// parameters) are merged, so that each is optimised and code-generated once:
/// TinyGpt's compile 0.63-0.76 -> 0.52-0.67 s, alternating on one Zen 5 machine. What
/// follows in -O3 sees one function at a time, or calls within a part; the kernels are
/// leaves that only glue and entries call.
static constexpr const char *kWholeModulePipeline =
    "function(simplifycfg,sroa<modify-cfg>,early-cse<>),ipsccp<func-spec>,globalopt,deadargelim,mergefunc";

namespace {

/// LLVM's pass builder with its analyses and dlc's instrumentation, for one module.
class PassPipeline {
public:
  PassPipeline(llvm::TargetMachine &tm, llvm::LLVMContext &ctx) : standard(ctx, /*DebugLogging=*/false) {
    llvm::PipelineTuningOptions pto;
    pto.LoopVectorization = true;
    pto.SLPVectorization = true;
    // CalledValuePropagation records which functions each indirect call may reach. A
    // model's kernel calls go through import slots bound at load time, which it cannot
    // resolve, and on a deep model it dominated the whole compile: 16 of the 20 s of the
    // O3 pipeline for TinyGpt at 32 layers. It is optional, so the pass manager may skip it.
    instrumentation.registerShouldRunOptionalPassCallback(
        [](llvm::StringRef pass, llvm::Any) { return pass != "CalledValuePropagationPass"; });
    // LLVM's own instrumentation, so that its options work in dlc: -time-passes,
    // -print-after=<pass>, -print-changed.
    standard.registerCallbacks(instrumentation, &mam);
    builder.emplace(&tm, pto, std::nullopt, &instrumentation);
    builder->registerModuleAnalyses(mam);
    builder->registerCGSCCAnalyses(cam);
    builder->registerFunctionAnalyses(fam);
    builder->registerLoopAnalyses(lam);
    builder->crossRegisterProxies(lam, fam, cam, mam);
  }

  /// Runs the textual pipeline `text` on `m`.
  bool runModule(llvm::Module &m, llvm::StringRef text, std::string &error) {
    llvm::ModulePassManager mpm;
    if (llvm::Error e = builder->parsePassPipeline(mpm, text)) {
      error = "LLVM cannot parse dlc's pipeline '" + text.str() + "': " + llvm::toString(std::move(e));
      return false;
    }
    mpm.run(m, mam);
    return true;
  }

  /// Glue sits out the pipelines that run on the whole module (toLLVMIR) or on a part
  /// (optimiseModule): the interprocedural passes still read every call in it.
  void setGlueAside(llvm::ArrayRef<llvm::Function *> glue, bool aside) {
    for (llvm::Function *f : glue) {
      if (aside) {
        f->addFnAttr(llvm::Attribute::OptimizeNone);
        f->addFnAttr(llvm::Attribute::NoInline);
      } else {
        f->removeFnAttr(llvm::Attribute::OptimizeNone);
        f->removeFnAttr(llvm::Attribute::NoInline);
      }
      fam.invalidate(*f, llvm::PreservedAnalyses::none());
    }
  }

  /// The arguments an interprocedural pass found unused (DAE, IPSCCP) leave their
  /// computations in the glue dead.
  void tidyGlue(llvm::ArrayRef<llvm::Function *> glue) {
    llvm::FunctionPassManager tidy;
    tidy.addPass(llvm::DCEPass());
    for (llvm::Function *f : glue) tidy.run(*f, fam);
  }

  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassInstrumentationCallbacks instrumentation;
  llvm::StandardInstrumentations standard;
  std::optional<llvm::PassBuilder> builder;
};

llvm::SmallVector<llvm::Function *> markedGlue(llvm::Module &m) {
  llvm::SmallVector<llvm::Function *> glue;
  for (llvm::Function &f : m)
    if (!f.isDeclaration() && isMarkedEntryGlue(f)) glue.push_back(&f);
  return glue;
}

} // namespace

std::unique_ptr<llvm::Module> toLLVMIR(mlir::ModuleOp module, llvm::LLVMContext &ctx,
                                       const CodegenOptions &opts) {
  std::unique_ptr<llvm::Module> m = mlir::translateModuleToLLVMIR(module, ctx);
  if (!m) return nullptr;
  std::string error;
  auto tm = makeTargetMachine(opts, error);
  if (!tm) {
    module.emitError("cannot create an LLVM target: ") << error;
    return nullptr;
  }
  applyTarget(*m, *tm);
  preferWidestVectors(*m, *tm);
  if (opts.optLevel == 0) return m;

  PassPipeline pipeline(*tm, ctx);
  // Glue gets a light pipeline first: the interprocedural passes read every call in it
  // (IPSCCP took 0.31 s of TinyGpt-64's compile over the 150k instructions of its train
  // step, 0.09 s over the 29k left).
  llvm::FunctionPassManager light;
  if (llvm::Error e = pipeline.builder->parsePassPipeline(light, kGluePipeline)) {
    module.emitError("LLVM cannot parse dlc's glue pipeline: ") << llvm::toString(std::move(e));
    return nullptr;
  }
  llvm::SmallVector<llvm::Function *> glue;
  for (llvm::Function &f : *m) {
    if (isEntryGlue(f, opts.glueThreshold)) {
      light.run(f, pipeline.fam);
      pipeline.fam.invalidate(f, llvm::PreservedAnalyses::none());
      markEntryGlue(f);
      glue.push_back(&f);
    }
  }
  pipeline.setGlueAside(glue, true);
  bool ok = pipeline.runModule(*m, kWholeModulePipeline, error);
  pipeline.setGlueAside(glue, false);
  if (!ok) {
    module.emitError(error);
    return nullptr;
  }
  pipeline.tidyGlue(glue);
  return m;
}

mlir::LogicalResult optimiseModule(llvm::Module &m, const CodegenOptions &opts, std::string &error) {
  bool optimisable = llvm::any_of(m, [](const llvm::Function &f) { return !f.isDeclaration() && !isMarkedEntryGlue(f); });
  if (opts.optLevel > 0 && optimisable) {
    auto tm = makeTargetMachine(opts, error);
    if (!tm) return mlir::failure();
    PassPipeline pipeline(*tm, m.getContext());
    llvm::OptimizationLevel level = opts.optLevel == 1   ? llvm::OptimizationLevel::O1
                                    : opts.optLevel == 2 ? llvm::OptimizationLevel::O2
                                                         : llvm::OptimizationLevel::O3;
    llvm::SmallVector<llvm::Function *> glue = markedGlue(m);
    pipeline.setGlueAside(glue, true);
    llvm::ModulePassManager mpm = pipeline.builder->buildPerModuleDefaultPipeline(level);
    mpm.run(m, pipeline.mam);
    pipeline.setGlueAside(glue, false);
    pipeline.tidyGlue(glue);
  }
  sinkEntryArgLoads(m);
  return mlir::success();
}

mlir::LogicalResult emitCode(llvm::Module &m, const CodegenOptions &opts, CodeKind kind, std::string &out,
                             std::string &error) {
  if (kind == CodeKind::LLVMIR) {
    llvm::raw_string_ostream os(out);
    m.print(os, nullptr);
    return mlir::success();
  }
  auto tm = makeTargetMachine(opts, error);
  if (!tm) return mlir::failure();
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager pm;
  auto fileType = kind == CodeKind::Assembly ? llvm::CodeGenFileType::AssemblyFile : llvm::CodeGenFileType::ObjectFile;
  if (tm->addPassesToEmitFile(pm, os, nullptr, fileType)) {
    error = "the target cannot emit this file type";
    return mlir::failure();
  }
  pm.run(m);
  out.assign(buffer.begin(), buffer.end());
  return mlir::success();
}

} // namespace dlc
