"""dlc against PyTorch (eager and jit-optimised) and ONNX Runtime, side by side in one run,
on the workloads of BENCHMARKS.md at 1 and 2 threads. Prints a table (medians, p90, the
ratio of each peer's median to dlc's, max abs error against PyTorch eager) and writes
results/latest.json and results/latest.svg. Single-thread cases run every system pinned to
the same CPU. Run through run.sh."""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import harness  # noqa: E402
import models  # noqa: E402

WORKLOADS = {
    # name: (sample, model class, input builder, batch sizes)
    "mlp": ("mlp784", models.Mlp784, lambda b, r: {"x": r.randn(b, 784).astype(np.float32)}, (1, 64)),
    "cnn": ("cnn", models.Cnn, lambda b, r: {"image": r.randn(b, 1, 28, 28).astype(np.float32)}, (1, 64)),
    "resnet18": ("resnet18", models.ResNet18, lambda b, r: {"image": r.randn(b, 3, 224, 224).astype(np.float32)}, (1, 16)),
    "gpt": ("gpt", models.TinyGpt, lambda b, r: {"tokens": r.randint(0, 256, (b, 64)).astype(np.int64)}, (1,)),
    "lstm": ("lstm", models.SeqClassifier, lambda b, r: {"x": r.randn(b, 50, 32).astype(np.float32)}, (1, 32)),
}


def best(old, new):
    """The (median, p90) pair with the lower median; None stands for no measurement."""
    return new if old is None or (new is not None and new[0] < old[0]) else old


def timeit(fn, seconds):
    for _ in range(10):
        fn()
    times, start = [], time.perf_counter()
    while len(times) < 2000:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
        if len(times) >= 20 and time.perf_counter() - start > seconds:
            break
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.9)]


def dlc_bench(bin_dir, so, batch, threads, seconds):
    r = subprocess.run([os.path.join(bin_dir, "dlrun"), "bench", so, "--batch", str(batch), "--threads", str(threads),
                        "--seconds", str(seconds)], capture_output=True, text=True, check=True)
    m = re.search(r"p50 ([0-9.]+)\s+p90 ([0-9.]+)", r.stdout)
    return float(m.group(1)), float(m.group(2))


def ort_bench(onnx_path, inputs, threads, seconds, wd):
    spec = {"model": onnx_path, "threads": threads, "seconds": seconds, "inputs": [],
            "output_file": os.path.join(wd, "ort_out.bin")}
    for name, a in inputs.items():
        f = os.path.join(wd, "ort_%s.bin" % name)
        a.tofile(f)
        spec["inputs"].append({"name": name, "dtype": "int64" if a.dtype == np.int64 else "float32",
                               "dims": list(a.shape), "file": f})
    sf = os.path.join(wd, "spec.json")
    with open(sf, "w") as f:
        json.dump(spec, f)
    env = dict(os.environ)
    lib_dir = os.environ.get("DLC_BENCH_ORT_LIB_DIR")  # run.sh --isa avx2: ONNX Runtime held to AVX2
    if lib_dir:
        # Ahead of the binding's RUNPATH ($ORIGIN), which LD_LIBRARY_PATH precedes.
        env["LD_LIBRARY_PATH"] = lib_dir + os.pathsep + env.get("LD_LIBRARY_PATH", "")
    r = subprocess.run(["node", os.path.join(HERE, "ort_bench.js"), sf], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        return None, r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "failed"
    res = json.loads(r.stdout)
    return (res["p50"], res["p90"], np.fromfile(spec["output_file"], dtype=np.float32)), None


def chart(rows, path):
    """Bars: best peer's median / dlc's median per case (above 1: dlc faster)."""
    w, bh, left = 760, 18, 190
    h = 40 + bh * len(rows) + 30
    top = max([r["speedup"] for r in rows if r["speedup"]] + [1.5])
    scale = (w - left - 40) / top
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">' % (w, h),
           '<text x="10" y="18" font-size="13">dlc speed-up over the best peer (median latency; &gt;1 = dlc faster)</text>']
    for i, r in enumerate(rows):
        y = 30 + i * bh
        s = r["speedup"] or 0
        colour = "#2a7" if s >= 1.2 else "#da3" if s >= 1.0 else "#c33"
        out.append('<text x="10" y="%d">%s b%d t%d</text>' % (y + 12, r["workload"], r["batch"], r["threads"]))
        out.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>' % (left, y + 2, s * scale, bh - 4, colour))
        out.append('<text x="%.1f" y="%d">%.2fx</text>' % (left + s * scale + 4, y + 12, s))
    for mark in (1.0, 1.2):
        x = left + mark * scale
        out.append('<line x1="%.1f" y1="26" x2="%.1f" y2="%d" stroke="#555" stroke-dasharray="3,3"/>' % (x, x, h - 20))
        out.append('<text x="%.1f" y="%d">%.1f</text>' % (x - 8, h - 6, mark))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out))


# Train steps (BENCHMARKS.md): forward, cross-entropy, backward and the sample's optimizer.
TRAIN_CASES = {"mlp": 64, "cnn": 64, "gpt": 16, "lstm": 32, "resnet18": 16}


def torch_optimizer(sample, params):
    """The optimizer of the sample's train block, as torch.optim."""
    if sample == "gpt":
        return torch.optim.AdamW(params, lr=3e-4, weight_decay=0.01)
    if sample == "resnet18":
        return torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-4)
    return torch.optim.Adam(params, lr=1e-3)


def bf16_model(args, source, wd, name):
    """With --precision bf16, the sample compiled so (in wd, as name_bf16.so); else None."""
    if args.precision != "bf16":
        return None
    out = os.path.join(wd, name + "_bf16.so")
    r = subprocess.run([os.path.join(args.bin, "dlc"), source, "-o", out, "--precision", "bf16"], capture_output=True,
                       text=True, check=True)
    if r.stderr:
        print(r.stderr.strip(), flush=True)
    return out


def dlc_train_bench(bin_dir, so, batch, threads, seconds):
    """(p50, p90) of dlrun bench --train and its arena line; None and the reason where the
    model has no train step."""
    r = subprocess.run([os.path.join(bin_dir, "dlrun"), "bench", so, "--batch", str(batch), "--threads", str(threads),
                        "--seconds", str(seconds), "--train"], capture_output=True, text=True)
    if r.returncode != 0:
        return None, (r.stderr.strip().splitlines() or ["failed"])[-1]
    m = re.search(r"p50 ([0-9.]+)\s+p90 ([0-9.]+)", r.stdout)
    arena = re.search(r"arena: (.*)", r.stdout)
    return (float(m.group(1)), float(m.group(2))), arena.group(1) if arena else ""


def train_main(args, rng, machine):
    rows = []
    all_cpus = os.sched_getaffinity(0)
    for wname in args.cases.split(","):
        if wname not in TRAIN_CASES:
            continue
        sample, cls, make, _ = WORKLOADS[wname]
        batch = TRAIN_CASES[wname]
        wd = tempfile.mkdtemp(prefix="dlc-bench-")
        so = harness.compile_model(os.path.join(ROOT, "samples", sample, sample + ".dl"), wd, sample)
        so16 = bf16_model(args, os.path.join(ROOT, "samples", sample, sample + ".dl"), wd, sample)
        ref = cls()
        ref.train()
        opt = torch_optimizer(sample, ref.parameters())
        inputs = make(batch, rng)
        tin = tuple(torch.from_numpy(v) for v in inputs.values())
        probe = ref(*tin)
        classes = probe.shape[-1]
        labels = torch.from_numpy(rng.randint(0, classes, probe.shape[:-1]).astype(np.int64))

        def step():
            opt.zero_grad(set_to_none=True)
            out = ref(*tin)
            F_loss = torch.nn.functional.cross_entropy(out.reshape(-1, classes), labels.reshape(-1))
            F_loss.backward()
            opt.step()

        for threads in [int(t) for t in args.threads.split(",")]:
            torch.set_num_threads(threads)
            os.sched_setaffinity(0, {min(all_cpus)} if threads == 1 else all_cpus)
            row = {"workload": wname + " train", "batch": batch, "threads": threads, "dlc": None, "torch": None,
                   "dlc_bf16": None}
            note = ""
            for _ in range(args.rounds):
                got, note = dlc_train_bench(args.bin, so, batch, threads, args.seconds)
                row["dlc"] = best(row["dlc"], got)
                if so16:
                    row["dlc_bf16"] = best(row["dlc_bf16"], dlc_train_bench(args.bin, so16, batch, threads, args.seconds)[0])
                row["torch"] = best(row["torch"], timeit(step, args.seconds))
            row["arena"] = note
            row["speedup"] = row["torch"][0] / row["dlc"][0] if row["dlc"] else None
            rows.append(row)
            fmt = lambda v: "%9.3f %9.3f" % v if v else "%9s %9s" % ("-", "-")
            print("%-14s b%-3d t%d | dlc %s | torch eager %s | eager/dlc %s | %s"
                  % (row["workload"], batch, threads, fmt(row["dlc"]), fmt(row["torch"]),
                     "%5.2fx" % row["speedup"] if row["speedup"] else "    -", note), end="", flush=True)
            if so16 and row["dlc_bf16"]:
                row["bf16_speedup"] = row["torch"][0] / row["dlc_bf16"][0]
                print(" | bf16 %9.3f: eager/bf16 %5.2fx" % (row["dlc_bf16"][0], row["bf16_speedup"]), end="")
            print(flush=True)
    os.sched_setaffinity(0, all_cpus)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    name = results_name(args, "latest_train") + ".json"
    with open(os.path.join(HERE, "results", name), "w") as f:
        json.dump({"unit": "ms per train step (median, p90); best round of %d" % args.rounds,
                   "machine": machine, "rows": rows}, f, indent=1)
    print("wrote benchmarks/results/" + name)


def describe_machine(isa):
    """One line naming the CPU and what each system was allowed to use (results name it too)."""
    model = flags = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1].split()
    widest = "avx512f" if "avx512f" in flags else "avx2" if "avx2" in flags else "sse"
    if isa == "avx2":
        ort = "its AVX2 kernels (patched checks, ort_avx2.py)" if os.environ.get("DLC_BENCH_ORT_LIB_DIR") else "native"
        held = ("all held to AVX2: dlc %s, oneDNN %s, PyTorch %s, ONNX Runtime %s"
                % (os.environ.get("DLC_FLAGS", "").strip(), os.environ.get("ONEDNN_MAX_CPU_ISA"),
                   os.environ.get("ATEN_CPU_CAPABILITY"), ort))
    else:
        held = "each system on the CPU's widest set"
    return "CPU: %s (%d CPUs, widest vector set %s, amx %s); %s" % (
        model, os.cpu_count(), widest, "yes" if "amx_tile" in flags else "no", held)


def results_name(args, stem):
    return stem + ("-avx2" if args.isa == "avx2" else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--cases", default=",".join(WORKLOADS))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--seconds", type=float, default=1.0, help="time budget per measurement")
    ap.add_argument("--rounds", type=int, default=3,
                    help="interleaved rounds over the systems; each keeps its best median (these VMs "
                         "drift by 20-50%% over minutes, so one round can flatter or wrong anyone)")
    ap.add_argument("--train", action="store_true", help="time train steps against PyTorch eager instead")
    ap.add_argument("--quick", action="store_true", help="one round of 0.3 s per measurement")
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                    help="bf16: also time dlc --precision bf16 (its own columns: time, speed-up against fp32 dlc "
                         "and the best peer, error against PyTorch fp32)")
    ap.add_argument("--isa", choices=("native", "avx2"), default="native",
                    help="avx2: label and file the results as the AVX2 table (run.sh sets up the caps)")
    args = ap.parse_args()
    if args.isa == "avx2" and os.environ.get("ATEN_CPU_CAPABILITY") != "avx2":
        sys.exit("run.py: --isa avx2 goes through run.sh, which caps every system before they start")
    machine = describe_machine(args.isa)
    print(machine, flush=True)
    if args.quick:
        args.rounds, args.seconds = 1, 0.3
    harness.BIN = args.bin
    rng = np.random.RandomState(0)
    torch.manual_seed(0)
    if args.train:
        return train_main(args, rng, machine)
    rows = []
    all_cpus = os.sched_getaffinity(0)
    for wname in args.cases.split(","):
        sample, cls, make, batches = WORKLOADS[wname]
        ref = cls()
        models.randomise_batch_norms(ref)
        ref.eval()
        wd = tempfile.mkdtemp(prefix="dlc-bench-")
        t0 = time.perf_counter()
        so, weights = harness.compile_with_weights(os.path.join(ROOT, "samples", sample, sample + ".dl"), ref, wd)
        compile_s = time.perf_counter() - t0
        so16 = bf16_model(args, os.path.join(ROOT, "samples", sample, sample + ".dl"), wd, sample)
        example = make(batches[0], rng)
        onnx_path = os.path.join(wd, "model.onnx")
        names = list(example)
        torch.onnx.export(ref, tuple(torch.from_numpy(v) for v in example.values()), onnx_path, opset_version=17,
                          input_names=names, output_names=["logits"],
                          dynamic_axes={**{n: {0: "B"} for n in names}, "logits": {0: "B"}})
        try:
            jit = torch.jit.optimize_for_inference(torch.jit.trace(ref, tuple(torch.from_numpy(v) for v in example.values())))
        except Exception:  # noqa: BLE001 - some modules do not trace; the table shows '-'
            jit = None
        for batch in batches:
            inputs = make(batch, rng)
            tin = tuple(torch.from_numpy(v) for v in inputs.values())
            with torch.no_grad():
                want = ref(*tin).numpy()
            got = harness.infer(so, inputs, weights=weights)["logits"]
            dlc_err = float(np.abs(got - want).max())
            err16 = float(np.abs(harness.infer(so16, inputs, weights=weights)["logits"] - want).max()) if so16 else None
            for threads in [int(t) for t in args.threads.split(",")]:
                torch.set_num_threads(threads)
                # One thread: every system on the same CPU (the child processes inherit the
                # mask). The vCPUs of these VMs differ: the CNN at batch 1 runs in 21 us on
                # one and 28 on the other, and an unpinned process lands on either.
                os.sched_setaffinity(0, {min(all_cpus)} if threads == 1 else all_cpus)
                row = {"workload": wname, "batch": batch, "threads": threads, "dlc_err": dlc_err,
                       "compile_s": compile_s}
                for k in ("dlc", "torch", "jit", "ort", "dlc_bf16"):
                    row[k] = None
                row["ort_err"] = None
                for _ in range(args.rounds):
                    row["dlc"] = best(row["dlc"], dlc_bench(args.bin, so, batch, threads, args.seconds))
                    if so16:
                        row["dlc_bf16"] = best(row["dlc_bf16"], dlc_bench(args.bin, so16, batch, threads, args.seconds))
                    with torch.no_grad():
                        row["torch"] = best(row["torch"], timeit(lambda: ref(*tin), args.seconds))
                        if jit is not None:
                            row["jit"] = best(row["jit"], timeit(lambda: jit(*tin), args.seconds))
                    ort, err = ort_bench(onnx_path, inputs, threads, args.seconds, wd)
                    row["ort"] = best(row["ort"], ort[:2] if ort else None)
                    if ort:
                        row["ort_err"] = float(np.abs(ort[2].reshape(want.shape) - want).max())
                    if err:
                        row["ort_note"] = err
                peers = [row[k][0] for k in ("torch", "jit", "ort") if row[k]]
                row["best_peer"] = min(peers)
                row["speedup"] = row["best_peer"] / row["dlc"][0]
                rows.append(row)
                fmt = lambda v: "%8.3f %8.3f" % v if v else "%8s %8s" % ("-", "-")
                print("%-9s b%-3d t%d | dlc %s | torch %s | jit %s | ort %s | best/dlc %5.2fx | err dlc %.1e ort %s"
                      % (wname, batch, threads, fmt(row["dlc"]), fmt(row["torch"]), fmt(row["jit"]), fmt(row["ort"]),
                         row["speedup"], dlc_err, "%.1e" % row["ort_err"] if row["ort_err"] is not None else "-"),
                      end="", flush=True)
                if so16:
                    row.update(bf16_err=err16, bf16_rel_err=err16 / float(np.abs(want).max()),
                               bf16_speedup=row["best_peer"] / row["dlc_bf16"][0])
                    print(" | bf16 %8.3f: %4.2fx fp32 dlc, best/bf16 %5.2fx, err %.1e (%.1e of max |out|)"
                          % (row["dlc_bf16"][0], row["dlc"][0] / row["dlc_bf16"][0], row["bf16_speedup"], err16,
                             row["bf16_rel_err"]), end="")
                print(flush=True)
    os.sched_setaffinity(0, all_cpus)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    name = results_name(args, "latest")
    with open(os.path.join(HERE, "results", name + ".json"), "w") as f:
        json.dump({"unit": "ms (median, p90); best round of %d" % args.rounds, "machine": machine, "rows": rows}, f,
                  indent=1)
    chart(rows, os.path.join(HERE, "results", name + ".svg"))
    print("wrote benchmarks/results/%s.json and %s.svg" % (name, name))


if __name__ == "__main__":
    main()
