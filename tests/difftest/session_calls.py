#!/usr/bin/env python3
"""Runs inference calls one after another in ONE runtime session, through dlrt's C API
(ctypes), as an application does: a batch of one, then a larger one, then one again. The
difftest's other runs start a fresh dlrun per call; this one hunts what a session carries
from one call to the next (kernel caches and primitives keyed by shape, the arena planned
per set of shapes, the thread policy learned on earlier calls) computing a later call with
another shape wrongly.

  session_calls.py PLAN.json

PLAN: {"model": .so, "weights": .safetensors, "threads": N, "lib": folder of libdlrt.so,
"plugins": folder, "calls": [{"inputs": {name: .npy}, "out": folder, "kind": "infer"}, ...],
"save": .safetensors or absent}. Each call's outputs go to its folder as <output name>.npy;
a call of kind "train" or "eval" (a train or eval step: every input, labels too) adds
loss.npy and, where the loss takes labels, predictions.npy; a call's "lr", where given, is
set (dlrt_set_lr) before it; with "over_input": true its first output that fits is written
over its largest float input (computing in place). "save": the weights after the last
call. Exit 1 with the failing call's message on stderr. Runs apart from PyTorch (its own
oneDNN and OpenMP stay out of this process).
"""
import ctypes as C
import json
import os
import sys

import numpy as np

DTYPES = {0: np.float32, 1: np.int64, 2: np.int32, 5: np.bool_}  # dlrt_dtype -> numpy


class Tensor(C.Structure):
    _fields_ = [("dtype", C.c_int), ("rank", C.c_int32), ("dims", C.POINTER(C.c_int64)),
                ("data", C.c_void_p), ("memory", C.c_int)]


class ValueInfo(C.Structure):
    _fields_ = [("name", C.c_char_p), ("dtype", C.c_int), ("rank", C.c_int32),
                ("dims", C.POINTER(C.c_char_p)), ("train_only", C.c_int32), ("buffer", C.c_int32)]


class StepResults(C.Structure):
    _fields_ = [("loss", C.POINTER(C.c_float)), ("predictions", C.POINTER(Tensor)), ("outputs", C.POINTER(Tensor)),
                ("num_outputs", C.c_int32)]


class SessionOptions(C.Structure):
    _fields_ = [("num_threads", C.c_int32), ("seed", C.c_uint64), ("device", C.c_int32)]


def main():
    with open(sys.argv[1]) as f:
        plan = json.load(f)
    rt = C.CDLL(os.path.join(plan["lib"], "libdlrt.so"))
    rt.dlrt_status_message.restype = C.c_char_p
    rt.dlrt_status_message.argtypes = [C.c_void_p]
    rt.dlrt_status_free.argtypes = [C.c_void_p]
    for fn in ("dlrt_model_load", "dlrt_add_plugin_dir", "dlrt_session_create", "dlrt_model_input",
               "dlrt_model_output", "dlrt_load_weights", "dlrt_output_shapes", "dlrt_infer", "dlrt_train_step",
               "dlrt_eval_step", "dlrt_save_weights", "dlrt_set_lr"):
        getattr(rt, fn).restype = C.c_void_p
    rt.dlrt_model_num_inputs.argtypes = rt.dlrt_model_num_outputs.argtypes = [C.c_void_p]
    rt.dlrt_model_input.argtypes = rt.dlrt_model_output.argtypes = [C.c_void_p, C.c_int32, C.POINTER(ValueInfo)]
    rt.dlrt_session_create.argtypes = [C.c_void_p, C.POINTER(SessionOptions), C.POINTER(C.c_void_p)]
    rt.dlrt_load_weights.argtypes = [C.c_void_p, C.c_char_p, C.POINTER(C.c_char_p)]
    rt.dlrt_output_shapes.argtypes = [C.c_void_p, C.POINTER(Tensor), C.c_int32, C.POINTER(C.c_int64), C.c_size_t]
    rt.dlrt_infer.argtypes = [C.c_void_p, C.POINTER(Tensor), C.c_int32, C.POINTER(Tensor), C.c_int32]
    rt.dlrt_train_step.argtypes = rt.dlrt_eval_step.argtypes = [C.c_void_p, C.POINTER(Tensor), C.c_int32,
                                                                C.POINTER(StepResults)]
    rt.dlrt_model_label_input.argtypes = [C.c_void_p]
    rt.dlrt_save_weights.argtypes = [C.c_void_p, C.c_char_p]
    rt.dlrt_set_lr.argtypes = [C.c_void_p, C.c_double]
    rt.dlrt_get_lr.argtypes = [C.c_void_p]
    rt.dlrt_get_lr.restype = C.c_double

    def check(status, what):
        if status:
            msg = rt.dlrt_status_message(status).decode()
            rt.dlrt_status_free(status)
            sys.exit("%s: %s" % (what, msg))

    check(rt.dlrt_add_plugin_dir(plan["plugins"].encode()), "plugin folder")
    model = C.c_void_p()
    check(rt.dlrt_model_load(plan["model"].encode(), C.byref(model)), "load")
    inputs, every, outputs = [], [], []  # what inference takes; what the train and eval steps take
    for i in range(rt.dlrt_model_num_inputs(model)):
        info = ValueInfo()
        check(rt.dlrt_model_input(model, i, C.byref(info)), "input %d" % i)
        every.append(info.name.decode())
        if not info.train_only:
            inputs.append(info.name.decode())
    label = rt.dlrt_model_label_input(model)
    for i in range(rt.dlrt_model_num_outputs(model)):
        info = ValueInfo()
        check(rt.dlrt_model_output(model, i, C.byref(info)), "output %d" % i)
        outputs.append((info.name.decode(), info.dtype, info.rank))
    options = SessionOptions(plan["threads"], 0, 0)
    session = C.c_void_p()
    check(rt.dlrt_session_create(model, C.byref(options), C.byref(session)), "session")
    warnings = C.c_char_p()
    check(rt.dlrt_load_weights(session, plan["weights"].encode(), C.byref(warnings)), "weights")

    def tensor(a, keep):
        a = np.ascontiguousarray(a)
        dims = (C.c_int64 * max(1, a.ndim))(*a.shape)
        keep += [a, dims]
        code = {np.dtype(v): k for k, v in DTYPES.items()}[a.dtype]
        return Tensor(code, a.ndim, dims, a.ctypes.data, 0)

    for n, call in enumerate(plan["calls"]):
        kind = call.get("kind", "infer")
        if "lr" in call:
            check(rt.dlrt_set_lr(session, call["lr"]), "call %d: set the learning rate" % n)
            if rt.dlrt_get_lr(session) != call["lr"]:
                sys.exit("call %d: dlrt_get_lr gives %r after dlrt_set_lr(%r)" % (n, rt.dlrt_get_lr(session), call["lr"]))
        keep = []
        arrays = {name: np.load(path) for name, path in call["inputs"].items()}
        args = (Tensor * max(1, len(inputs)))(*[tensor(arrays[name], keep) for name in inputs])
        dims = (C.c_int64 * (sum(r for _, _, r in outputs) or 1))()
        check(rt.dlrt_output_shapes(session, args, len(inputs), dims, len(dims)), "call %d: output shapes" % n)
        results, at = [], 0
        for name, dtype, rank in outputs:
            results.append((name, np.zeros(tuple(dims[at:at + rank]), DTYPES[dtype])))
            at += rank
        # "over_input": the first output that fits is written over the largest float
        # input's buffer (an application computing in place), and read back from there.
        over = None
        if call.get("over_input"):
            floats = [arrays[name] for name in (inputs if kind == "infer" else every)
                      if arrays[name].dtype == np.float32]
            host = max(floats, key=lambda a: a.nbytes, default=None)
            fits = [i for i, (_, a) in enumerate(results) if host is not None and 0 < a.nbytes <= host.nbytes]
            over = (fits[0], host) if fits else None

        def out_tensor(i, a):
            t = tensor(a, keep)
            if over and over[0] == i:
                t.data = over[1].ctypes.data
            return t
        outs = (Tensor * len(results))(*[out_tensor(i, a) for i, (_, a) in enumerate(results)])
        if kind == "infer":
            check(rt.dlrt_infer(session, args, len(inputs), outs, len(results)), "call %d" % n)
        else:
            # A train or eval step: every input, the loss, the outputs as the step computed
            # them, and the predicted classes where the loss takes labels.
            args = (Tensor * len(every))(*[tensor(arrays[name], keep) for name in every])
            loss = C.c_float(np.nan)
            step = StepResults(C.pointer(loss), None, C.cast(outs, C.POINTER(Tensor)), len(results))
            if label >= 0:
                results.append(("predictions", np.full(arrays[every[label]].shape, -7, np.int64)))
                step.predictions = C.pointer(tensor(results[-1][1], keep))
            fn = rt.dlrt_train_step if kind == "train" else rt.dlrt_eval_step
            check(fn(session, args, len(every), C.byref(step)), "call %d (%s step)" % (n, kind))
            results.append(("loss", np.array(loss.value, np.float32)))
        if over:
            i, host = over
            name, a = results[i]
            results[i] = (name, np.frombuffer(host.tobytes()[:a.nbytes], a.dtype).reshape(a.shape))
        os.makedirs(call["out"], exist_ok=True)
        for name, a in results:
            np.save(os.path.join(call["out"], name + ".npy"), a)
    if plan.get("save"):
        check(rt.dlrt_save_weights(session, plan["save"].encode()), "save")


if __name__ == "__main__":
    main()
