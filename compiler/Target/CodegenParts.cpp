//===- CodegenParts.cpp - a model's machine code, in parts ----------------===//
//
// Code generation works one function at a time, and so does most of LLVM's IR
// optimisation: a module can be cut into parts that are optimised and code-generated side
// by side, one per hardware thread, and linked together (LLVM's own parallel code
// generation, splitCodeGen, does the same for LTO). What of -O3 needs the whole module,
// constants and unused arguments propagated from the entries into the kernels, toLLVMIR
// has run before the cut; after it a part's calls into another are calls the pipeline
// cannot see through, which costs nothing here: kernels are leaves, called from glue
// that sits out the pipeline anyway. The parts reach each other's symbols, so the
// module's local symbols become hidden globals first: still invisible outside model.so,
// and resolved by the static linker. Each part is read back from bitcode into an LLVM
// context of its own (contexts are not shared between threads), lazily, so that it only
// materialises the functions it keeps.
//
// A deep model's entry functions are long straight-line glue (EntryGlue.h). TinyGpt at
// 64 layers has a 28,000-instruction train step in one basic block with 2,700 calls, and
// code generation at -O3 took 1.8 s on it (instruction selection 0.76 s, the greedy
// register allocator 0.71 s), three quarters of all code generation. At level None (fast
// instruction selection and the local register allocator) it takes 0.39 s, and what the
// optimising code generator added to such glue did not show in the step's time (171 ms
// against 174 at batch 4): there are no loops, every value that lives across a call is
// spilled either way, and the entry runs once per step. So glue goes in a part of its
// own at level None, and the rest is spread over the other parts at the module's level.
//
//===----------------------------------------------------------------------===//
#include "compiler/Target/CodegenParts.h"
#include "compiler/Target/EntryGlue.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Analysis/LoopInfo.h"
#include "llvm/Bitcode/BitcodeReader.h"
#include "llvm/Bitcode/BitcodeWriter.h"
#include "llvm/IR/Dominators.h"
#include "llvm/IR/Function.h"
#include "llvm/Pass.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <thread>

namespace dlc {

namespace {

/// What optimising and generating code for `f` at -O3 costs, roughly, in units of about
/// 10 us of a Zen 5 core: 3.5 ms for any function, 0.01 ms per instruction outside loops
/// and 0.4 ms per instruction inside one (vectorised, interleaved, unrolled, with its
/// remainder loops). A least-squares fit over the 204 functions of five sample models,
/// each compiled alone: it follows their times with a correlation of 0.84, where their
/// instruction counts alone reach 0.26, and cut the CNN's kernels into two parts of 47
/// and 204 ms.
unsigned long codegenCost(llvm::Function &f) {
  llvm::DominatorTree dominators(f);
  llvm::LoopInfo loops(dominators);
  unsigned long outside = 0, inside = 0;
  for (llvm::BasicBlock &b : f) (loops.getLoopFor(&b) ? inside : outside) += b.size();
  return 350 + outside + 40 * inside;
}

/// The least optimised code (codegenCost) worth a part of its own: the module is cut into
/// at most one part per this much. A part costs about 5 ms by itself (reading the
/// module's bitcode, the pass pipelines' set-up).
constexpr unsigned long kMinPartCost = 1000;

/// Glue, when code generation optimises: that goes in a part at level None.
bool isGlue(const llvm::Function &f, const CodegenOptions &opts) {
  return opts.optLevel > 0 && isMarkedEntryGlue(f);
}

/// Optimises `m` and emits it as `kind`.
mlir::LogicalResult emitModule(llvm::Module &m, const CodegenOptions &irOpts, const CodegenOptions &codeOpts,
                               CodeKind kind, std::string &out, std::string &error) {
  if (mlir::failed(optimiseModule(m, irOpts, error))) return mlir::failure();
  return emitCode(m, codeOpts, kind, out, error);
}

/// Makes each local symbol of `m` a hidden global, named if it had no name, so that one
/// part can reach what another defines.
void externaliseLocals(llvm::Module &m) {
  unsigned unnamed = 0;
  for (llvm::GlobalValue &g : m.global_values()) {
    if (!g.hasLocalLinkage()) continue;
    if (!g.hasName()) g.setName("__dlc_local_" + llvm::Twine(unnamed++));
    g.setLinkage(llvm::GlobalValue::ExternalLinkage);
    g.setVisibility(llvm::GlobalValue::HiddenVisibility);
  }
}

struct Part {
  llvm::StringSet<> functions; // the definitions it keeps
  bool globals = false;        // whether it keeps the global variables' definitions
  unsigned long weight = 0;
  CodegenOptions irOpts;       // the module's: its glue sits the IR pipeline out
  CodegenOptions opts;         // code generation's

  llvm::LLVMContext context;
  std::unique_ptr<llvm::Module> module;
  std::string code, error;
  bool ok = false;

  /// Reads the module back (lazily: only the functions it keeps are materialised) and
  /// turns everything else into declarations.
  bool load(llvm::MemoryBufferRef bitcode) {
    auto lazy = llvm::getLazyBitcodeModule(bitcode, context);
    if (!lazy) {
      error = "cannot read back the module's bitcode: " + llvm::toString(lazy.takeError());
      return false;
    }
    module = std::move(*lazy);
    for (llvm::Function &f : *module)
      if (!f.isDeclaration() && !functions.contains(f.getName())) f.deleteBody();
    if (!globals)
      for (llvm::GlobalVariable &g : module->globals())
        if (g.hasInitializer()) {
          g.setInitializer(nullptr);
          g.setLinkage(llvm::GlobalValue::ExternalLinkage);
          g.setComdat(nullptr);
        }
    if (llvm::Error e = module->materializeAll()) {
      error = "cannot read back the module's bitcode: " + llvm::toString(std::move(e));
      return false;
    }
    return true;
  }

  void run(CodeKind kind) {
    ok = mlir::succeeded(emitModule(*module, irOpts, opts, kind, code, error));
    module.reset();
  }
};

/// How many parts code generation runs in: one per hardware thread, up to 4.
unsigned partCount() { return std::clamp(std::thread::hardware_concurrency(), 1u, 4u); }

} // namespace

mlir::LogicalResult emitCodeParts(llvm::Module &m, const CodegenOptions &opts, CodeKind kind,
                                  std::vector<std::string> &parts, std::string &error) {
  // What each function costs to optimise and generate code for (glue goes in a part of
  // its own, whatever it costs).
  struct Work {
    unsigned long weight;
    llvm::Function *f;
    bool glue;
  };
  std::vector<Work> work;
  unsigned long optimisedWeight = 0;
  bool anyGlue = false;
  for (llvm::Function &f : m) {
    if (f.isDeclaration()) continue;
    bool glue = isGlue(f, opts);
    anyGlue |= glue;
    unsigned long w = glue ? 0 : codegenCost(f);
    work.push_back({w, &f, glue});
    if (!glue) optimisedWeight += w;
  }
  // The optimised code spread over the hardware threads, as far as there is enough of it,
  // and glue in a part of its own besides, even on one hardware thread: it is its level,
  // not a thread, that saves most of the time. (Glue with only one optimised part beside
  // it left the second core idle for the kernels: TinyGpt's with --parallel-loops.)
  unsigned optimised = std::clamp<unsigned long>(optimisedWeight / kMinPartCost, 1, partCount());
  unsigned n = optimised + (anyGlue ? 1 : 0);
  if (n < 2 || !m.aliases().empty() || !m.ifuncs().empty()) {
    parts.emplace_back();
    return emitModule(m, opts, opts, kind, parts.back(), error);
  }

  // Glue in the last part at level None; the rest spread over the others, the heaviest
  // first, each to the lightest part so far.
  std::vector<std::unique_ptr<Part>> split;
  for (unsigned i = 0; i < n; ++i) {
    split.push_back(std::make_unique<Part>());
    split.back()->irOpts = opts;
    split.back()->opts = opts;
  }
  split[0]->globals = true;
  if (anyGlue) {
    split.back()->opts.optLevel = 0;
    for (Work &w : work)
      if (w.glue) split.back()->functions.insert(w.f->getName());
  }
  llvm::sort(work, [](const Work &a, const Work &b) { return a.weight > b.weight; });
  for (Work &w : work) {
    if (w.glue) continue;
    Part *lightest = split[0].get();
    for (unsigned i = 1; i < optimised; ++i)
      if (split[i]->weight < lightest->weight) lightest = split[i].get();
    lightest->functions.insert(w.f->getName());
    lightest->weight += w.weight;
  }
  llvm::erase_if(split, [](auto &p) { return p->functions.empty() && !p->globals; });
  n = split.size();

  externaliseLocals(m);
  llvm::SmallVector<char, 0> bitcode;
  {
    llvm::raw_svector_ostream os(bitcode);
    llvm::WriteBitcodeToFile(m, os);
  }
  llvm::MemoryBufferRef buffer(llvm::StringRef(bitcode.data(), bitcode.size()), "model");
  auto generate = [&](Part &p) {
    if (p.load(buffer)) p.run(kind);
  };
  // Each part in its own LLVM context, on its own thread: contexts are not shared
  // between threads. LLVM's pass timers (-time-passes) are global: then they take turns.
  if (llvm::TimePassesIsEnabled) {
    for (auto &p : split) generate(*p);
  } else {
    std::vector<std::thread> threads;
    for (unsigned i = 1; i < n; ++i) threads.emplace_back(generate, std::ref(*split[i]));
    generate(*split[0]);
    for (std::thread &t : threads) t.join();
  }
  for (auto [i, p] : llvm::enumerate(split)) {
    if (!p->ok) {
      error = p->error;
      return mlir::failure();
    }
    if (kind != CodeKind::Object) {
      // Which part is which, for the reader of --emit=asm or --emit=llvm.
      std::string header = std::string(kind == CodeKind::Assembly ? "#" : ";") + " dlc: code part " +
                           std::to_string(i + 1) + " of " + std::to_string(n) +
                           ", code generation level " + std::to_string(p->opts.optLevel) + ": ";
      if (p->opts.optLevel == 0) {
        llvm::SmallVector<llvm::StringRef> names;
        for (auto &f : p->functions) names.push_back(f.getKey());
        llvm::sort(names);
        header += llvm::join(names, ", ");
      } else {
        header += std::to_string(p->functions.size()) + " functions";
      }
      p->code = header + "\n" + p->code;
    }
    parts.push_back(std::move(p->code));
  }
  return mlir::success();
}

} // namespace dlc
