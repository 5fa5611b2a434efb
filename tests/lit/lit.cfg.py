import os
import lit.formats

config.name = "dlc"
config.test_format = lit.formats.ShTest(True)
config.suffixes = [".mlir", ".dl"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.dlc_bin, "..", "tests", "lit-out")
config.excludes = ["inputs", "lit.cfg.py", "lit.site.cfg.py.in"]
config.environment["PATH"] = os.pathsep.join([config.dlc_bin, "/usr/lib/llvm-22/bin", config.environment.get("PATH", os.environ.get("PATH", ""))])
config.substitutions.append(("FileCheck", config.filecheck))
config.substitutions.append(("%samples", os.path.join(config.dlc_src, "samples")))
