//===- dlc.cpp - the dlc compiler driver ----------------------------------===//
//
// dlc model.dl -o model.so       compile (CPU)
// dlc model.dl --emit mlir|llvm|asm|dot
// dlc model.dl --list-params
// dlc model.dl -o model.so --plugin libfoo.so   (also DLC_PLUGIN_PATH=dir1:dir2)
// dlc --list-plugins [--plugin ...]
// Exit codes: 0 ok, 1 a diagnosed error in the input, 2 bad usage, 3 internal error.
//
//===----------------------------------------------------------------------===//
#include "compiler/Autodiff/Passes.h"
#include "compiler/Frontend/GraphDot.h"
#include "compiler/Frontend/MLIRGen.h"
#include "compiler/Frontend/Parser.h"
#include "compiler/Frontend/Sema.h"
#include "compiler/Layers/LayerRegistry.h"
#include "compiler/Plugin/PluginLoader.h"
#include "compiler/Target/EmbedWeights.h"
#include "compiler/Target/Linker.h"
#include "compiler/Target/CodegenParts.h"
#include "compiler/Target/ObjectEmitter.h"
#include "compiler/Target/Pipeline.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/Timing.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/Statistic.h"
#include "llvm/CodeGen/CommandFlags.h"
#include "llvm/Pass.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/PrettyStackTrace.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sys/mman.h>
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 // Linux 5.14; older C libraries lack the name
#endif

namespace cl = llvm::cl;

static cl::OptionCategory dlcCat("dlc options");
static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<model.dl>"), cl::cat(dlcCat));
static cl::opt<std::string> outputFile("o", cl::desc("Output model library"), cl::value_desc("model.so"),
                                       cl::cat(dlcCat));
static cl::opt<std::string> emit("emit",
                                 cl::desc("Print a stage instead of linking: mlir, llvm, asm, dot (the model's "
                                          "graph), svg (rendered by Graphviz), ptx"),
                                 cl::value_desc("stage"), cl::cat(dlcCat));
static cl::opt<bool> listParams("list-params", cl::desc("Print every parameter: name, shape, dtype, initialiser"),
                                cl::cat(dlcCat));
static cl::opt<unsigned> optLevel("O", cl::desc("Optimisation level (0-3)"), cl::Prefix, cl::init(3),
                                  cl::cat(dlcCat));
static cl::opt<std::string> target("target", cl::desc("cpu (default) or cuda"), cl::init("cpu"), cl::cat(dlcCat));
static cl::list<std::string> plugins("plugin", cl::desc("Load a layer plugin (its compile-time part); repeatable. "
                                                         "Also DLC_PLUGIN_PATH=dir1:dir2"),
                                     cl::value_desc("libname.so"), cl::cat(dlcCat));
static cl::opt<bool> listPlugins("list-plugins", cl::desc("Print the loaded plugins: name, version, ABI, layers"),
                                 cl::cat(dlcCat));
static cl::opt<std::string> weights("weights", cl::desc("Bake trained weights into the library"), cl::cat(dlcCat));
static cl::opt<std::string> kernels("kernels",
                                    cl::desc("onednn (default): dense, matmul, convolutions, pooling, RNNs, "
                                             "normalisation and softmax call oneDNN; linalg: all generated code"),
                                    cl::init("onednn"), cl::cat(dlcCat));
static cl::opt<std::string> precision("precision",
                                      cl::desc("fp32 (default) or bf16: dense, matmul and convolutions take bf16 "
                                               "operands and accumulate in fp32, where the target CPU has bf16 "
                                               "units (AVX512-BF16 or AMX); elsewhere dlc says so and compiles fp32"),
                                      cl::init("fp32"), cl::cat(dlcCat));
static cl::opt<bool> shareFnBodies("share-fn-bodies",
                                   cl::desc("Compile each fn's body once, for all its calls (default); "
                                            "=false compiles every call anew, for comparison"),
                                   cl::init(true), cl::Hidden, cl::cat(dlcCat));
static cl::opt<unsigned> glueThreshold(
    "glue-threshold",
    cl::desc("Treat an entry function with at least this many LLVM instructions and no loops as glue: "
             "a light IR pipeline instead of -O3, and code generated without optimisation beside the "
             "rest of the module"),
    cl::init(dlc::CodegenOptions().glueThreshold), cl::Hidden, cl::cat(dlcCat));
static cl::opt<bool> parallelLoops(
    "parallel-loops",
    cl::desc("Split generated loop nests by rows over the session's threads where OpenMP's workers spin "
             "(=false: every nest runs whole on the calling thread, and a small model compiles ~0.04 s faster)"),
    cl::init(true), cl::cat(dlcCat));
static cl::opt<bool> verifyEach(
    "verify-each",
    cl::desc("Verify the IR after every pass, not only the result of each pipeline (slower: TinyGpt at 64 "
             "layers spends 1.4-2.6 s of its 7-8 s in the verifier so; the test suite turns it on, also through "
             "DLC_VERIFY_EACH=1)"),
    cl::init(false), cl::Hidden, cl::cat(dlcCat));
static cl::opt<bool> printPipeline("print-pipeline", cl::desc("Print the pass pipeline of --target and exit"),
                                   cl::cat(dlcCat));

namespace {
enum Exit { Ok = 0, InputError = 1, Usage = 2, Internal = 3 };

/// Whether each pass's result is verified (--verify-each, or DLC_VERIFY_EACH=1 as the test
/// suite sets it). Else each pipeline's result is verified once: a pass that broke the IR
/// still stops the compile with an internal error, only later and with less of a pointer
/// to the pass; the verifier after each of the ~40 passes cost a deep model 20-30% of its
/// compile.
bool verifyEachPass() {
  const char *env = std::getenv("DLC_VERIFY_EACH");
  return verifyEach || (env && *env && std::string(env) != "0");
}

/// Verifies the result of a pipeline run without --verify-each.
mlir::LogicalResult verifyResult(mlir::ModuleOp module, const char *what) {
  if (verifyEachPass() || mlir::succeeded(mlir::verify(module))) return mlir::success();
  llvm::errs() << "dlc: internal error: the module does not verify after " << what
               << " (rerun with --verify-each to find the pass)\n";
  return mlir::failure();
}

int usage(const llvm::Twine &msg) {
  llvm::WithColor::error(llvm::errs(), "dlc") << msg << "\n";
  llvm::errs() << "usage: dlc model.dl -o model.so [--target cpu|cuda] [--emit mlir|llvm|asm|dot|svg|ptx] [--list-params] [-O0..-O3] [--precision fp32|bf16] "
                  "[--plugin lib.so]...\n       dlc --list-plugins [--plugin lib.so]...\n";
  return Usage;
}

void printParams(const dlc::ModelGraph &g) {
  size_t w = 4;
  for (const dlc::GraphParam &p : g.params) w = std::max(w, p.name.size());
  std::printf("%-*s  %-16s %-5s %s\n", int(w), "name", "shape", "dtype", "init");
  for (const dlc::GraphParam &p : g.params) {
    std::string shape = "[";
    for (size_t i = 0; i < p.spec.type.shape.size(); ++i) shape += (i ? ", " : "") + p.spec.type.shape[i].str();
    shape += "]";
    std::string init = p.spec.init.str() + (p.spec.buffer ? " (buffer)" : "");
    std::printf("%-*s  %-16s %-5s %s\n", int(w), p.name.c_str(), shape.c_str(), dlc::dtypeName(p.spec.type.dtype),
                init.c_str());
  }
}
/// The model's graph rendered by Graphviz's dot, on stdout.
int renderSvg(const dlc::ModelGraph &g) {
  auto dot = llvm::sys::findProgramByName("dot");
  if (!dot) {
    llvm::WithColor::error(llvm::errs(), "dlc")
        << "--emit svg renders with Graphviz's 'dot', which is not on PATH (Debian: apt install graphviz); "
           "--emit dot prints the graph for it\n";
    return InputError;
  }
  llvm::SmallString<128> in, out;
  if (llvm::sys::fs::createTemporaryFile("dlc-graph", "dot", in) ||
      llvm::sys::fs::createTemporaryFile("dlc-graph", "svg", out)) {
    llvm::errs() << "dlc: cannot create a temporary file for --emit svg\n";
    return Internal;
  }
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(in, ec);
    if (ec) {
      llvm::errs() << "dlc: cannot write '" << in << "': " << ec.message() << "\n";
      return Internal;
    }
    dlc::printModelDot(g, os);
  }
  std::string err;
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, llvm::StringRef(out), std::nullopt};
  int rc = llvm::sys::ExecuteAndWait(*dot, {*dot, "-Tsvg", in}, std::nullopt, redirects, 0, 0, &err);
  auto svg = llvm::MemoryBuffer::getFile(out);
  llvm::sys::fs::remove(in);
  llvm::sys::fs::remove(out);
  if (rc != 0 || !svg) {
    llvm::errs() << "dlc: Graphviz's dot failed (" << rc << ")" << (err.empty() ? "" : ": " + err) << "\n";
    return Internal;
  }
  llvm::outs() << (*svg)->getBuffer();
  return Ok;
}

/// --emit ptx: the PTX images dl-embed-gpu-code put into the lowered module, one per
/// architecture, each under a comment naming it.
int printPTX(mlir::ModuleOp module) {
  bool any = false;
  for (auto g : module.getOps<mlir::LLVM::GlobalOp>()) {
    llvm::StringRef name = g.getSymName();
    if (!name.consume_front("__dl_ptx_")) continue;
    auto text = llvm::dyn_cast_or_null<mlir::StringAttr>(g.getValueOrNull());
    if (!text) continue;
    llvm::outs() << "// dlc: PTX for " << name << "\n" << text.getValue().rtrim('\0') << "\n";
    any = true;
  }
  if (!any) llvm::outs() << "// dlc: the model has no GPU kernels\n";
  return Ok;
}

} // namespace

/// Whether dlc is built with AddressSanitizer (LeakSanitizer checks the exit).
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DLC_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define DLC_SANITIZED 1
#endif
#ifdef DLC_SANITIZED
static constexpr bool kSanitized = true;
#else
static constexpr bool kSanitized = false;
#endif

/// --mcpu: LLVM's code-generation option -mcpu (registered in main); "native" where it is
/// not given.
static std::string targetCPU() {
  std::string cpu = llvm::codegen::getMCPU();
  return cpu.empty() ? "native" : cpu;
}

/// The CPU pipeline the options ask for. Channel blocks are the target CPU's vector of
/// floats: oneDNN's direct convolutions read nChw16c with AVX-512 and nChw8c with AVX2,
/// and each family's kernels reorder the other's blocks on every call.
static dlc::CpuPipelineOptions cpuPipelineOptions() {
  dlc::CpuPipelineOptions opts;
  opts.kernels = kernels;
  opts.shareFnBodies = shareFnBodies;
  opts.parallelLoops = parallelLoops;
  dlc::CodegenOptions cpu;
  cpu.cpu = targetCPU();
  opts.channelBlock = dlc::targetHasAnyFeature(cpu, {"avx512f"}) ? 16 : 8;
  return opts;
}

/// Faults in the first 32 MB of the heap at once. A compile's IR is millions of small
/// objects on fresh pages, and each first touch of a page is a fault: TinyGpt's compile
/// (a 31 MB heap) took 5,900 of them, about 8 us each on a virtual machine, ~45 ms in all;
/// one madvise(MADV_POPULATE_WRITE) over 32 MB takes 6 ms. tcmalloc keeps the block it
/// frees and carves the compile's objects out of it; with another allocator (sanitizer
/// builds) the block would only go back to the system, so this is for tcmalloc alone.
/// Kernels before 5.14 lack MADV_POPULATE_WRITE: then the pages fault as before.
static void warmHeap() {
#ifdef DLC_WITH_TCMALLOC
  constexpr size_t kBytes = size_t(32) << 20, kPage = 4096;
  char *block = static_cast<char *>(std::malloc(kBytes));
  if (!block) return;
  uintptr_t begin = (reinterpret_cast<uintptr_t>(block) + kPage - 1) & ~uintptr_t(kPage - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(block) + kBytes) & ~uintptr_t(kPage - 1);
  (void)madvise(reinterpret_cast<void *>(begin), end - begin, MADV_POPULATE_WRITE);
  std::free(block);
#endif
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  llvm::setBugReportMsg("dlc: internal compiler error. Please report it with the .dl file and the "
                        "command line (https://github.com/dlc/dlc/issues).\n");
  // Passes first: --mlir-print-ir-after=<pass> resolves names while options are parsed.
  dlc::registerPasses();
  mlir::registerPassManagerCLOptions();
  mlir::registerDefaultTimingManagerCLOptions();
  mlir::registerMLIRContextCLOptions();
  mlir::registerAsmPrinterCLOptions();
  // --mcpu is LLVM's code-generation option -mcpu. lld, which links model.so inside dlc
  // (Linker.cpp), registers LLVM's code-generation options when it first links, and an
  // option registered twice is a fatal error: dlc registers them first (their
  // registration is once per process), and lld finds them there.
  static llvm::codegen::RegisterCodeGenFlags codegenFlags;
  if (cl::Option *cpu = cl::getRegisteredOptions().lookup("mcpu")) {
    cpu->setDescription("CPU to generate code for (default: this machine)");
    cpu->addCategory(dlcCat);
  }
  cl::SetVersionPrinter([](llvm::raw_ostream &os) { os << "dlc " DLC_VERSION "\n"; });
  std::string cliErr;
  llvm::raw_string_ostream cliErrs(cliErr);
  // --help lists dlc's own options; MLIR's and LLVM's (--mlir-timing, -time-passes,
  // --mlir-print-ir-after=...) still work and are listed by --help-hidden.
  for (auto &[name, opt] : cl::getRegisteredOptions())
    if (!llvm::is_contained(opt->Categories, &dlcCat) && !name.starts_with("help") && name != "version" &&
        opt->getOptionHiddenFlag() == cl::NotHidden)
      opt->setHiddenFlag(cl::Hidden);
  if (!cl::ParseCommandLineOptions(argc, argv,
                                   "dlc: deep-learning model compiler\n\n  --help-hidden also lists MLIR's and "
                                   "LLVM's options (--mlir-timing: where compile time goes)\n",
                                   &cliErrs))
    return usage(llvm::StringRef(cliErr).trim());
  warmHeap(); // for a compile, not --version or --help

  if (printPipeline) {
    llvm::outs() << (target == "cuda" ? dlc::cudaPipeline() : dlc::cpuPipeline(cpuPipelineOptions())) << "\n";
    return Ok;
  }
  // Plugins first: their layers join the registry the front end resolves calls in.
  dlc::PluginLoader pluginLoader(dlc::LayerRegistry::instance());
  {
    std::string err;
    const char *envPath = std::getenv("DLC_PLUGIN_PATH");
    bool ok = true;
    for (const std::string &p : plugins)
      if (ok && !pluginLoader.load(p, err)) ok = false;
    if (ok && envPath && !pluginLoader.loadPathList(envPath, err)) {
      err += " (from DLC_PLUGIN_PATH)";
      ok = false;
    }
    if (!ok) {
      llvm::WithColor::error(llvm::errs(), "dlc") << err << "\n";
      return InputError;
    }
  }
  if (listPlugins) {
    if (pluginLoader.plugins().empty()) llvm::outs() << "no plugins loaded (--plugin PATH, DLC_PLUGIN_PATH)\n";
    for (const auto &p : pluginLoader.plugins()) {
      llvm::outs() << p->info.name << " " << p->info.major << "." << p->info.minor << "  ABI " << p->info.abi << "  "
                   << p->info.path << "\n  run-time part: " << p->info.runtimeFile << "\n  layers:";
      for (const std::string &l : p->layers) {
        const dlc::LayerDef *d = dlc::LayerRegistry::instance().lookup(l);
        llvm::outs() << " " << l << " (" << (d->plugin.runsKernel() ? "kernel" : "linalg")
                     << (d->plugin.hasGradient() ? ", gradient" : ", no gradient") << ")";
      }
      llvm::outs() << "\n";
    }
    return Ok;
  }
  if (inputFile.empty()) return usage("no input file");
  if (optLevel > 3) return usage("-O takes 0 to 3");
  if (!emit.empty() && emit != "mlir" && emit != "llvm" && emit != "asm" && emit != "dot" && emit != "svg" &&
      emit != "ptx")
    return usage("--emit takes mlir, llvm, asm, dot, svg or ptx, not '" + emit + "'");
  if (kernels != "onednn" && kernels != "linalg") return usage("--kernels takes onednn or linalg, not '" + kernels + "'");
  if (target != "cpu" && target != "cuda") return usage("--target takes cpu or cuda, not '" + target + "'");
  if (emit == "ptx" && target != "cuda") return usage("--emit ptx needs --target cuda");
  if (precision != "fp32" && precision != "bf16") return usage("--precision takes fp32 or bf16, not '" + precision + "'");
  dlc::CodegenOptions cg;
  cg.optLevel = optLevel;
  cg.cpu = targetCPU();
  cg.glueThreshold = glueThreshold;
  if (!dlc::targetCPUIsKnown(cg))
    return usage("--mcpu: '" + cg.cpu + "' is not a CPU LLVM knows for this machine (llc-22 -mcpu=help lists them)");

  auto file = llvm::MemoryBuffer::getFile(inputFile, /*IsText=*/true);
  if (!file) {
    llvm::WithColor::error(llvm::errs(), "dlc") << "cannot read '" << inputFile << "': " << file.getError().message() << "\n";
    return InputError;
  }
  std::string src = (*file)->getBuffer().str();

  // --mlir-timing reports the whole compile, not only the pass pipelines: each phase is a
  // scope of one timing manager, and each pass manager nests its passes under its phase.
  mlir::DefaultTimingManager timing;
  mlir::applyDefaultTimingManagerCLOptions(timing);
  mlir::TimingScope rootTimer = timing.getRootScope();
  mlir::TimingScope phase = rootTimer.nest("Set up (dialects)");

  mlir::DialectRegistry registry;
  dlc::registerDialects(registry);
  mlir::MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  llvm::SourceMgr sm;
  sm.AddNewSourceBuffer(std::move(*file), llvm::SMLoc());
  mlir::SourceMgrDiagnosticHandler printer(sm, &ctx);
  unsigned errors = 0;
  mlir::ScopedDiagnosticHandler counter(&ctx, [&](mlir::Diagnostic &d) {
    if (d.getSeverity() == mlir::DiagnosticSeverity::Error) ++errors;
    return mlir::failure(); // let the printer show it
  });

  dlc::Diagnostics diags(ctx, inputFile);
  phase = rootTimer.nest("Parse");
  auto ast = dlc::parseModel(src, diags);
  if (!ast || errors) return InputError;
  phase = rootTimer.nest("Analyse (sema, unroll)");
  auto graph = dlc::analyze(*ast, diags);
  if (!graph || errors) return InputError;
  if (listParams) {
    printParams(*graph);
    return Ok;
  }
  if (emit == "dot") {
    dlc::printModelDot(*graph, llvm::outs());
    return Ok;
  }
  if (emit == "svg") return renderSvg(*graph);
  // --weights: checked now, against the parameters' names, dtypes and shapes, so that a
  // file for another model fails before any code is generated.
  std::vector<uint8_t> bakedWeights;
  if (!weights.empty()) {
    std::vector<dlc::WeightSpec> specs;
    for (const dlc::GraphParam &p : graph->params) {
      dlc::WeightSpec w{p.name, dlc::dtypeName(p.spec.type.dtype), {}};
      for (const dlc::SymExpr &d : p.spec.type.shape) w.shape.push_back(d.constant().value_or(-1));
      specs.push_back(std::move(w));
    }
    std::string err, warning;
    if (!dlc::readWeightsFor(weights, specs, bakedWeights, err, warning)) {
      llvm::WithColor::error(llvm::errs(), "dlc") << err << "\n";
      return InputError;
    }
    if (!warning.empty()) llvm::WithColor::warning(llvm::errs(), "dlc") << warning << "\n";
  }

  phase = rootTimer.nest("Generate the dl module");
  auto module = dlc::emitModule(*graph, diags);
  if (!module || errors) return InputError;
  if (mlir::failed(mlir::verify(*module))) {
    llvm::errs() << "dlc: internal error: the generated dl module does not verify\n";
    return Internal;
  }
  // --precision bf16 is a request to the run time's oneDNN kernels, carried by the
  // signature; the generated code stays fp32. Where nothing would honour it, say so.
  if (precision == "bf16") {
    std::string why;
    if (target == "cuda") why = "the cuda target computes in fp32";
    else if (kernels == "linalg") why = "--kernels linalg generates every op, in fp32";
    else if (!dlc::targetHasAnyFeature(cg, {"avx512bf16", "amx-bf16"}))
      why = "the target CPU (" + dlc::targetCPUName(cg) + ") has no bf16 units (AVX512-BF16 or AMX)";
    if (why.empty()) (*module)->setAttr("dl.precision", mlir::StringAttr::get(&ctx, "bf16"));
    else llvm::WithColor::warning(llvm::errs(), "dlc") << "--precision bf16: " << why << "; compiling fp32\n";
  }
  {
    // The train step's backward pass and update, on the dl graph (so --emit mlir shows
    // them). A built-in op still without a gradient leaves an inference-only model.so.
    phase = rootTimer.nest("Train step (dl passes)");
    mlir::PassManager pm(&ctx);
    (void)mlir::applyPassManagerCLOptions(pm);
    pm.enableTiming(phase);
    pm.enableVerifier(verifyEachPass());
    // The GPU target runs every op through its linalg lowering.
    dlc::addTrainStepPasses(pm, target == "cuda" ? std::string("linalg") : std::string(kernels), /*allowInferenceOnly=*/true);
    if (mlir::failed(pm.run(*module))) return errors ? InputError : Internal;
    if (mlir::failed(verifyResult(*module, "the train step's dl passes"))) return Internal;
  }
  if (emit == "mlir") {
    module->print(llvm::outs());
    llvm::outs() << "\n";
    return Ok;
  }

  phase = rootTimer.nest("Lower to the LLVM dialect");
  if (mlir::failed(dlc::lowerToLLVMDialect(*module, target, cpuPipelineOptions(), [&](mlir::PassManager &pm) {
        (void)mlir::applyPassManagerCLOptions(pm);
        pm.enableTiming(phase);
        pm.enableVerifier(verifyEachPass());
      })))
    return errors ? InputError : Internal;
  if (mlir::failed(verifyResult(*module, "the lowering to the LLVM dialect"))) return Internal;

  if (emit == "ptx") return printPTX(*module);

  phase = rootTimer.nest("LLVM IR: translate, interprocedural -O" + std::to_string(optLevel));
  llvm::LLVMContext llctx;
  auto llmod = dlc::toLLVMIR(*module, llctx, cg);
  if (!llmod) return Internal;
  phase = rootTimer.nest("Optimise (-O" + std::to_string(optLevel) + ") and generate machine code, in parts");
  std::vector<std::string> code;
  std::string err;
  dlc::CodeKind kind = emit == "asm"    ? dlc::CodeKind::Assembly
                       : emit == "llvm" ? dlc::CodeKind::LLVMIR
                                        : dlc::CodeKind::Object;
  if (mlir::failed(dlc::emitCodeParts(*llmod, cg, kind, code, err)) ||
      (!weights.empty() && mlir::failed(dlc::emitWeightsPart(bakedWeights, cg, kind, code.emplace_back(), err)))) {
    llvm::errs() << "dlc: internal error: " << err << "\n";
    return Internal;
  }
  if (kind != dlc::CodeKind::Object) {
    for (const std::string &part : code) llvm::outs() << part;
    return Ok;
  }
  std::string out = outputFile;
  if (out.empty()) {
    llvm::SmallString<128> p(inputFile);
    llvm::sys::path::replace_extension(p, "so");
    out = std::string(llvm::sys::path::filename(p));
  }
  // Asked before the link: lld resets LLVM's options to their defaults when it links.
  bool reportsAtExit = timing.isEnabled() || llvm::TimePassesIsEnabled || llvm::AreStatisticsEnabled();
  phase = rootTimer.nest("Link");
  if (!dlc::linkSharedLibrary(code, out, err)) {
    llvm::errs() << "dlc: " << err << "\n";
    return Internal;
  }
  // model.so is written. Freeing the compile's IR (the MLIR and LLVM modules and contexts,
  // millions of objects) only to exit took 7-8 ms of TinyGpt's compile; like clang, which
  // leaves its AST and IR to the exit (-disable-free), dlc exits here. Reports that print
  // as their objects go (--mlir-timing, -time-passes, -stats) take the normal way out, and
  // so do sanitizer builds, whose leak check runs at the exit.
  if (!reportsAtExit && !kSanitized) {
    llvm::outs().flush();
    llvm::errs().flush();
    std::fflush(nullptr);
    std::_Exit(Ok);
  }
  return Ok;
}
