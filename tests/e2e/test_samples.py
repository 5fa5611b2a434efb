"""The benchmark workloads in samples/ compile and match PyTorch with shared weights, at
two batch sizes from one model.so."""
import os

import numpy as np
import torch

import harness as h
import models

torch.manual_seed(0)
rng = np.random.RandomState(5)
cases = [
    ("mlp784", models.Mlp784(), lambda b: {"x": rng.randn(b, 784).astype(np.float32)}, (1, 64)),
    ("cnn", models.Cnn(), lambda b: {"image": rng.randn(b, 1, 28, 28).astype(np.float32)}, (1, 16)),
    ("lstm", models.SeqClassifier(), lambda b: {"x": rng.randn(b, 50, 32).astype(np.float32)}, (1, 8)),
    ("gpt", models.TinyGpt(), lambda b: {"tokens": rng.randint(0, 256, size=(b, 64)).astype(np.int64)}, (1, 3)),
    ("resnet18", models.ResNet18(), lambda b: {"image": rng.randn(b, 3, 224, 224).astype(np.float32)}, (1, 2)),
]
for name, ref, make, batches in cases:
    models.randomise_batch_norms(ref)
    ref.eval()
    wd = h.workdir()
    so, weights = h.compile_with_weights(os.path.join(h.SRC, "samples", name, name + ".dl"), ref, wd)
    for b in batches:
        inputs = make(b)
        with torch.no_grad():
            want = ref(*[torch.from_numpy(v) for v in inputs.values()]).numpy()
        got = h.infer(so, inputs, weights=weights)["logits"]
        h.check_close("%s b%d" % (name, b), got, want)
h.finish()
