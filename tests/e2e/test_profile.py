"""dlrun bench --profile: time per op of the dl graph, sorted. Every op of a model shows
up under its source position (fused ones joined by '+', the backward pass and the
optimizer's update named as such in a train step), once per run, the longest first, and
the shares add up to the whole. On the CPU this checks the compiler's marks and the
runtime's accounting; no figure is compared with a time."""
import os
import re

import harness as h

SRC = """model Profiled {
  input x: f32[B, 16]
  input y: i64[B]
  h = dense(x, 32) |> gelu
  z = dense(h, 32) |> relu
  out = dense(h + z, 4)
  output out
  train {
    loss = cross_entropy(out, y)
    optimizer = adam(lr = 1e-3)
  }
}
"""

ROW = re.compile(r"^\s*([0-9.]+)\s+([0-9.]+)%\s+([0-9.]+)\s+(.+)$")


def profile(so, extra):
    out = h.dlrun(["bench", so, "--batch", "8", "--seconds", "0.1", "--threads", "1", "--profile"] + extra).stdout
    head = re.search(r"profile: (\d+) runs; ([0-9.]+) ms per run in (\d+) ops", out)
    h.check("bench --profile prints its summary line", head is not None, out)
    rows = []
    for line in out.split("profile:", 1)[-1].splitlines()[2:]:
        m = ROW.match(line)
        if m:
            rows.append((float(m.group(1)), float(m.group(2)), float(m.group(3)), m.group(4)))
    if head:
        h.check("one row per op (%s)" % head.group(3), len(rows) == int(head.group(3)), out)
    return rows, out


wd = h.workdir()
so = h.compile_model(SRC, wd, "profiled")
where = lambda line, col: "profiled.dl:%d:%d" % (line, col)

for train in (False, True):
    what = "train step" if train else "inference"
    rows, out = profile(so, ["--train"] if train else [])
    names = [r[3].replace(wd + "/", "") for r in rows]
    print("%s:\n%s" % (what, out.split("profile:", 1)[-1]))
    h.check("%s: sorted by time, longest first" % what, all(a[0] >= b[0] for a, b in zip(rows, rows[1:])), out)
    h.check("%s: the shares add up to 100%%" % what, abs(sum(r[1] for r in rows) - 100.0) < 0.5, out)
    h.check("%s: each op runs once per run" % what, all(r[2] == 1 for r in rows), out)
    expect = [
        # In inference gelu is a post-op of its dense layer's kernel: one op, both names.
        # The train step keeps gelu's input for its gradient: two ops.
        ("dense at %s\ngelu at %s" if train else "dense at %s + gelu at %s") % (where(4, 7), where(4, 23)),
        "dense at %s" % where(5, 7),
        "dense at %s" % where(6, 9),
    ]
    # linalg's elementwise fusion keeps the consumer's location only: in inference relu
    # runs inside the residual add's loop and is charged to the add.
    expect.append("relu at %s" % where(5, 23) if train else "add at %s" % where(6, 17))
    if train:
        expect += ["cross_entropy at %s" % where(9, 12), "cross_entropy backward at %s" % where(9, 12),
                   "dense backward at %s" % where(6, 9), "relu backward at %s" % where(5, 23),
                   "adam update at %s" % where(8, 3)]
    for e in "\n".join(expect).split("\n"):
        h.check("%s: profile names '%s'" % (what, e), e in names, "\n".join(names))
    h.check("%s: no backward or update in inference" % what,
            train or not any("backward" in n or "update" in n for n in names), "\n".join(names))

# A CNN: convolutions, pooling and the classifier each get their time.
cnn = h.compile_model(os.path.join(h.SRC, "samples", "cnn", "cnn.dl"), wd, "cnn")
rows, out = profile(cnn, [])
names = " | ".join(r[3] for r in rows)
for op in ("conv2d at ", "max_pool2d at ", "dense at "):
    h.check("cnn: profile names %s..." % op, op in names, names)
h.finish()
