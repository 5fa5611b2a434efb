//===- ObjectEmitter.cpp - LLVM dialect -> LLVM IR -> object code ---------===//
#include "compiler/Target/ObjectEmitter.h"
#include "compiler/Target/EntryGlue.h"
#include "compiler/Target/SinkEntryArgLoads.h"

#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/STLExtras.h"
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

std::string targetCPUName(const CodegenOptions &opts) {
  return opts.cpu == "native" ? llvm::sys::getHostCPUName().str() : opts.cpu;
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
  m->setTargetTriple(tm->getTargetTriple());
  m->setDataLayout(tm->createDataLayout());
  if (opts.optLevel == 0) {
    sinkEntryArgLoads(*m);
    return m;
  }

  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions pto;
  pto.LoopVectorization = true;
  pto.SLPVectorization = true;
  // CalledValuePropagation records which functions each indirect call may reach. A
  // model's kernel calls go through import slots bound at load time, which it cannot
  // resolve, and on a deep model it dominated the whole compile: 16 of the 20 s of the O3
  // pipeline for TinyGpt at 32 layers. It is optional, so the pass manager may skip it.
  llvm::PassInstrumentationCallbacks instrumentation;
  instrumentation.registerShouldRunOptionalPassCallback(
      [](llvm::StringRef pass, llvm::Any) { return pass != "CalledValuePropagationPass"; });
  // LLVM's own instrumentation, so that its options work in dlc: -time-passes,
  // -print-after=<pass>, -print-changed.
  llvm::StandardInstrumentations standard(m->getContext(), /*DebugLogging=*/false);
  standard.registerCallbacks(instrumentation, &mam);
  llvm::PassBuilder pb(tm.get(), pto, std::nullopt, &instrumentation);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cam, mam);
  llvm::OptimizationLevel level = opts.optLevel == 1   ? llvm::OptimizationLevel::O1
                                  : opts.optLevel == 2 ? llvm::OptimizationLevel::O2
                                                       : llvm::OptimizationLevel::O3;
  // Glue sits out the optimisation pipeline, and gets a light one before it: the
  // interprocedural passes still read every call in it (IPSCCP took 0.31 s of TinyGpt-64's
  // compile over the 150k instructions of its train step, 0.09 s over the 29k left).
  llvm::FunctionPassManager light;
  if (llvm::Error e = pb.parsePassPipeline(light, kGluePipeline)) {
    module.emitError("LLVM cannot parse dlc's glue pipeline: ") << llvm::toString(std::move(e));
    return nullptr;
  }
  llvm::SmallVector<llvm::Function *> glue;
  for (llvm::Function &f : *m) {
    if (isEntryGlue(f, opts.glueThreshold)) {
      light.run(f, fam);
      fam.invalidate(f, llvm::PreservedAnalyses::none());
      f.addFnAttr(llvm::Attribute::OptimizeNone);
      f.addFnAttr(llvm::Attribute::NoInline);
      glue.push_back(&f);
    }
  }
  llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(level);
  mpm.run(*m, mam);
  // The arguments the pipeline found unused (DAE, IPSCCP) leave their computations in the
  // glue dead.
  llvm::FunctionPassManager tidy;
  tidy.addPass(llvm::DCEPass());
  for (llvm::Function *f : glue) {
    f->removeFnAttr(llvm::Attribute::OptimizeNone);
    f->removeFnAttr(llvm::Attribute::NoInline);
    fam.invalidate(*f, llvm::PreservedAnalyses::none());
    tidy.run(*f, fam);
  }
  sinkEntryArgLoads(*m);
  return m;
}

mlir::LogicalResult emitMachineCode(llvm::Module &m, const CodegenOptions &opts, bool assembly,
                                    std::string &out, std::string &error) {
  auto tm = makeTargetMachine(opts, error);
  if (!tm) return mlir::failure();
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager pm;
  auto kind = assembly ? llvm::CodeGenFileType::AssemblyFile : llvm::CodeGenFileType::ObjectFile;
  if (tm->addPassesToEmitFile(pm, os, nullptr, kind)) {
    error = "the target cannot emit this file type";
    return mlir::failure();
  }
  pm.run(m);
  out.assign(buffer.begin(), buffer.end());
  return mlir::success();
}

} // namespace dlc
