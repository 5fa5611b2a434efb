"""Exports scikit-learn's digits for samples/train_digits: an 80/20 split stratified by
class with random_state 0, pixels / 16. Writes OUT/{x,y}_{train,test}.npy (f32 and i64).
Run with Debian's /usr/bin/python3 (scikit-learn, NumPy)."""
import os
import sys

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

out = sys.argv[1] if len(sys.argv) > 1 else "."
os.makedirs(out, exist_ok=True)
d = load_digits()
x = (d.data / 16.0).astype(np.float32)
y = d.target.astype(np.int64)
xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
for name, a in [("x_train", xtr), ("y_train", ytr), ("x_test", xte), ("y_test", yte)]:
    np.save(os.path.join(out, name + ".npy"), a)
print("digits: %d train, %d test samples -> %s" % (len(ytr), len(yte), out))
