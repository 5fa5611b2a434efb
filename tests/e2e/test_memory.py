"""Memory: intermediate tensors live from their producer to their last reader
(dl-free-after-last-use), and the runtime's arena packs them by those lifetimes. The
lower bound dlrun prints is the most bytes alive at once; the arena stays within 1.25x of
it for inference and the train step of every sample, and TinyGpt's inference arena does not
grow with depth (64 layers within 1.25x of 4). From 4 layers on the blocks share one
function body, whose inputs are read-only to it (one more buffer than 2 layers unrolled
need, whatever the depth): 192 KiB at 2 layers, 256 at 4 and at 64."""
import os
import re

import harness as h

SAMPLES = [("mlp", 64), ("mlp784", 64), ("cnn", 64), ("gpt", 4), ("lstm", 8), ("resnet18", 2)]


def arena(so, batch, train=False):
    args = ["bench", so, "--batch", str(batch), "--seconds", "0.05", "--threads", "1"] + (["--train"] if train else [])
    out = h.dlrun(args).stdout
    m = re.search(r"arena: ([0-9.]+) (KiB|MiB) planned by liveness \(lower bound: ([0-9.]+) (KiB|MiB)", out)
    scale = {"KiB": 1 << 10, "MiB": 1 << 20}
    return float(m.group(1)) * scale[m.group(2)], float(m.group(3)) * scale[m.group(4)]


wd = h.workdir()
for name, batch in SAMPLES:
    so = h.compile_model(os.path.join(h.SRC, "samples", name, name + ".dl"), wd, name)
    for train in (False, True):
        got, bound = arena(so, batch, train)
        what = "%s %s b%d" % (name, "train step" if train else "inference", batch)
        print("%s: arena %.1f KiB, lower bound %.1f KiB (%.2fx)" % (what, got / 1024, bound / 1024, got / bound))
        h.check("%s: arena within 1.25x of the liveness bound" % what, got <= 1.25 * bound)

# TinyGpt at depth 2 and 64, inference only (the samples' text without its train block).
src = open(os.path.join(h.SRC, "samples", "gpt", "gpt.dl")).read()
src = re.sub(r"\n  train \{.*?\n  \}\n", "\n", src, flags=re.S).replace("  input targets: i64[B, T]\n", "")
arenas = {}
for layers in (2, 4, 64):
    so = h.compile_model(src.replace("L = 2", "L = %d" % layers), wd, "gpt%d" % layers)
    arenas[layers] = arena(so, 1)[0]
print("TinyGpt inference arena: %.1f KiB at 2 layers, %.1f KiB at 4, %.1f KiB at 64"
      % (arenas[2] / 1024, arenas[4] / 1024, arenas[64] / 1024))
h.check("TinyGpt's arena at 64 layers within 1.25x of its arena at 4", arenas[64] <= 1.25 * arenas[4])
h.check("TinyGpt's arena at 64 layers within 1.5x of its arena at 2", arenas[64] <= 1.5 * arenas[2])
h.finish()
