"""How plugins fail: each a clear message, an exit code of 1, and neither dlc nor the
application embedding dlrt crashing. Uses the test plugins of tests/plugins (built into
<build>/test-plugins) and the shipped ones (<build>/lib/dlc-plugins). A kernel's error
through the C API, with the session usable after it, is in tests/unit/RuntimeApiTest.cpp."""
import os
import shutil
import subprocess

import numpy as np

import harness as h

LIB = os.path.join(h.BIN, "..", "lib")
SHIPPED = os.path.join(LIB, "dlc-plugins")
TEST = os.path.join(h.BIN, "..", "test-plugins")
DLC = os.path.join(h.BIN, "dlc")
ENV = {k: v for k, v in os.environ.items() if k not in ("DLC_PLUGIN_PATH", "DLRT_PLUGIN_PATH")}


def dlc(args, env=None):
    return subprocess.run([DLC] + args, capture_output=True, text=True, env={**ENV, **(env or {})})


def expect_error(what, r, *needles, code=1):
    text = r.stderr + r.stdout
    h.check(what + ": exit %d" % code, r.returncode == code, "exit %d, output:\n%s" % (r.returncode, text))
    for n in needles:
        h.check(what + ": says %r" % n, n in text, text)


def write(wd, name, text):
    p = os.path.join(wd, name)
    with open(p, "w") as f:
        f.write(text)
    return p


CHECKED = """
model Checked {
  input x: f32[B, 4]
  y = assert_positive(x)
  output y
}
"""
TRAINED_THROUGH = """
model T {
  input x: f32[B, 4]
  input label: i64[B]
  a = dense(x, 4)
  y = assert_positive(a)
  output y
  train {
    loss = cross_entropy(y, label)
    optimizer = sgd(lr = 0.1)
  }
}
"""
RMS = """
model R {
  input x: f32[B, 8]
  y = rms_norm(x)
  output y
}
"""


def check_compile_time():
    wd = h.workdir()
    checks = os.path.join(TEST, "libchecks.so")
    rms = os.path.join(SHIPPED, "librms_norm.so")
    r = dlc([write(wd, "m.dl", RMS), "-o", os.path.join(wd, "m.so")])
    expect_error("unknown op without the plugin", r, "unknown op 'rms_norm'", "--plugin PATH or DLC_PLUGIN_PATH")
    r = dlc([write(wd, "typo.dl", RMS.replace("rms_norm(x)", "rms_nrm(x)")), "--plugin", rms, "--emit", "mlir"])
    expect_error("a typo of a plugin layer", r, "typo.dl:4:7", "did you mean 'rms_norm' from plugin 'rms_norm'?")
    r = dlc([write(wd, "m.dl", RMS), "--plugin", os.path.join(wd, "nothere.so")])
    expect_error("missing plugin file", r, "nothere.so", "no such file")
    r = dlc([write(wd, "m.dl", RMS)], env={"DLC_PLUGIN_PATH": os.path.join(wd, "nothere.so")})
    expect_error("missing DLC_PLUGIN_PATH entry", r, "nothere.so", "from DLC_PLUGIN_PATH")
    r = dlc(["--list-plugins", "--plugin", write(wd, "text.so", "not a library\n")])
    expect_error("a text file", r, "text.so", "cannot load it")
    r = dlc(["--list-plugins", "--plugin", os.path.join(LIB, "libdlrt.so")])
    expect_error("a library that is not a plugin", r, "not a dlc plugin")
    r = dlc(["--list-plugins", "--plugin", os.path.join(SHIPPED, "librms_norm_rt.so")])
    expect_error("a run-time part given to dlc", r, "run-time part")
    r = dlc(["--list-plugins", "--plugin", os.path.join(TEST, "libold_sdk.so")])
    expect_error("another SDK version", r, "SDK version 999", "rebuild it against this dlc")
    r = dlc(["--list-plugins", "--plugin", os.path.join(TEST, "libdup_relu.so")])
    expect_error("a built-in's name", r, "layer 'relu' is already defined by dlc (a built-in layer)")
    r = dlc(["--list-plugins", "--plugin", rms, "--plugin", os.path.join(TEST, "libdup_rms.so")])
    expect_error("two plugins, one name", r, "layer 'rms_norm' is already defined by plugin 'rms_norm'")
    # The shape rule's located errors.
    r = dlc([write(wd, "int.dl", RMS.replace("f32[B, 8]", "i64[B, 8]")), "--plugin", rms, "--emit", "mlir"])
    expect_error("shape rule: dtype", r, "int.dl:4:7", "rms_norm takes f32, got i64")
    r = dlc([write(wd, "eps.dl", RMS.replace("rms_norm(x)", "rms_norm(x, eps = 0)")), "--plugin", rms,
             "--emit", "mlir"])
    expect_error("shape rule: attribute", r, "eps.dl:4:7", "eps must be > 0")
    r = dlc([write(wd, "attr.dl", RMS.replace("rms_norm(x)", "rms_norm(x, epsilon = 1e-5)")), "--plugin", rms,
             "--emit", "mlir"])
    expect_error("unknown attribute", r, "attr.dl:4:", "no attribute 'epsilon'")
    # Training through a layer without a gradient; inference still compiles.
    r = dlc([write(wd, "t.dl", TRAINED_THROUGH), "--plugin", checks, "-o", os.path.join(wd, "t.so")])
    expect_error("no gradient", r, "t.dl:6:7",
                 "layer 'assert_positive' (from plugin 'checks') is on the training path but has no gradient")
    r = dlc([write(wd, "c.dl", CHECKED), "--plugin", checks, "-o", os.path.join(wd, "c.so")])
    h.check("inference through a layer without a gradient compiles", r.returncode == 0, r.stderr)
    # --list-plugins and DLC_PLUGIN_PATH with a folder.
    r = dlc(["--list-plugins"], env={"DLC_PLUGIN_PATH": SHIPPED})
    h.check("DLC_PLUGIN_PATH folder: lists rms_norm and mish",
            r.returncode == 0 and "rms_norm 1.0" in r.stdout and "mish (linalg, gradient)" in r.stdout, r.stdout)


def check_run_time():
    wd = h.workdir()
    rms = os.path.join(SHIPPED, "librms_norm.so")
    so = os.path.join(wd, "r.so")
    r = dlc([write(wd, "r.dl", RMS), "--plugin", rms, "-o", so])
    h.check("compiles with rms_norm", r.returncode == 0, r.stderr)
    x = os.path.join(wd, "x.npy")
    np.save(x, np.ones((2, 8), np.float32))
    run = lambda env=None: subprocess.run([os.path.join(h.BIN, "dlrun"), "infer", so, "--input", "x=" + x,
                                           "--out-dir", wd], capture_output=True, text=True,
                                          env={**ENV, **(env or {})})
    expect_error("run-time part missing", run(), "needs plugin 'rms_norm' 1.0", "librms_norm_rt.so", wd,
                 "DLRT_PLUGIN_PATH")
    r = run({"DLRT_PLUGIN_PATH": SHIPPED})
    h.check("found through DLRT_PLUGIN_PATH", r.returncode == 0, r.stderr)
    shutil.copy(os.path.join(SHIPPED, "librms_norm_rt.so"), wd)
    r = run()
    h.check("found beside the model", r.returncode == 0, r.stderr)

    for name, needles in (("skewed_abi", ["plugin kernel ABI 999", "rebuild the plugin"]),
                          ("skewed_version", ["is version 1.1", "built against 1.2"])):
        src = "model S {\n  input x: f32[B, 4]\n  y = %s_id(x)\n  output y\n}\n" % name
        so2 = os.path.join(wd, name + ".so")
        r = dlc([write(wd, name + ".dl", src), "--plugin", os.path.join(TEST, "lib%s.so" % name), "-o", so2])
        h.check(name + ": compiles", r.returncode == 0, r.stderr)
        r = subprocess.run([os.path.join(h.BIN, "dlrun"), "info", so2], capture_output=True, text=True,
                           env={**ENV, "DLRT_PLUGIN_PATH": TEST})
        expect_error(name + " at load time", r, *needles)


check_compile_time()
check_run_time()
h.finish()
