"""dlc on the GPU against PyTorch eager on the same GPU (TF32 off), on the samples of
BENCHMARKS.md: inference at the harness's batch sizes and one train step, medians of
dlrun bench --device cuda and of timed PyTorch calls (synchronised), and the ratio
(PyTorch / dlc: above 1, dlc is faster). Also checks that two runs of the same inference
on the GPU give bit-equal outputs.

  --collect: compile the sample models here (prepare.sh; DLC_COLLECT keeps them)."""
import os
import re
import subprocess
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import harness as h  # noqa: E402
import models  # noqa: E402

CASES = [
    # sample, reference class, input builder, inference batches, train batch
    ("mlp784", models.Mlp784, lambda b, r: {"x": r.randn(b, 784).astype(np.float32)}, (1, 64), 64),
    ("cnn", models.Cnn, lambda b, r: {"image": r.randn(b, 1, 28, 28).astype(np.float32)}, (1, 64), 64),
    ("lstm", models.SeqClassifier, lambda b, r: {"x": r.randn(b, 50, 32).astype(np.float32)}, (1, 32), 32),
    ("gpt", models.TinyGpt, lambda b, r: {"tokens": r.randint(0, 256, (b, 64)).astype(np.int64)}, (1,), 16),
    ("resnet18", models.ResNet18, lambda b, r: {"image": r.randn(b, 3, 224, 224).astype(np.float32)}, (1, 16), 16),
]


def torch_time(fn, seconds=0.5):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times, start = [], time.perf_counter()
    while len(times) < 200 and (len(times) < 10 or time.perf_counter() - start < seconds):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2]


def dlc_time(so, batch, train):
    args = ["bench", so, "--batch", str(batch), "--seconds", "0.5"] + (["--train"] if train else [])
    r = h.dlrun(args, check=False)
    m = re.search(r"p50 ([0-9.]+)", r.stdout)
    if r.returncode != 0 or not m:
        print("FAIL dlrun %s: %s" % (" ".join(args), r.stderr.strip()[-400:]))
        return None
    return float(m.group(1))


def main():
    collect = "--collect" in sys.argv
    wd = h.workdir()
    rng = np.random.RandomState(0)
    sos = {name: h.compile_model(os.path.join(h.SRC, "samples", name, name + ".dl"), wd, name)
           for name, *_ in CASES}
    if collect:
        return
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    failures = 0
    print("%-10s %-6s %10s %12s %8s" % ("sample", "case", "dlc ms", "torch ms", "ratio"))
    for name, cls, make, batches, train_batch in CASES:
        ref = cls().to(dev)
        models.randomise_batch_norms(ref)
        for b in batches:
            ref.eval()
            inputs = make(b, rng)
            tin = [torch.from_numpy(v).to(dev) for v in inputs.values()]
            with torch.no_grad():
                t = torch_time(lambda: ref(*tin))
            d = dlc_time(sos[name], b, False)
            failures += d is None
            print("%-10s b%-5d %10s %12.3f %8s" % (name, b, "%.3f" % d if d else "-", t,
                                                  "%.2fx" % (t / d) if d else "-"), flush=True)
        ref.train()
        # The sample's optimizer (its train block).
        opt = (torch.optim.AdamW(ref.parameters(), lr=3e-4, weight_decay=0.01) if name == "gpt" else
               torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4) if name == "resnet18" else
               torch.optim.Adam(ref.parameters(), lr=1e-3))
        inputs = make(train_batch, rng)
        tin = [torch.from_numpy(v).to(dev) for v in inputs.values()]
        out = ref(*tin)
        classes = out.shape[-1]
        labels = torch.randint(0, classes, out.shape[:-1], device=dev)

        def step():
            opt.zero_grad(set_to_none=True)
            o = ref(*tin)
            torch.nn.functional.cross_entropy(o.reshape(-1, classes), labels.reshape(-1)).backward()
            opt.step()

        t = torch_time(step)
        d = dlc_time(sos[name], train_batch, True)
        failures += d is None
        print("%-10s t%-5d %10s %12.3f %8s" % (name, train_batch, "%.3f" % d if d else "-", t,
                                              "%.2fx" % (t / d) if d else "-"), flush=True)

    # Reruns: the same inputs twice on the GPU give the same bits.
    for name, cls, make, batches, _ in CASES[:3]:
        inputs = make(batches[-1], rng)
        a = h.infer(sos[name], inputs)
        b = h.infer(sos[name], inputs)
        same = all(np.array_equal(a[k].view(np.uint8), b[k].view(np.uint8)) for k in a)
        print("%s rerun bit-equal: %s" % (name, same))
        failures += not same
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
