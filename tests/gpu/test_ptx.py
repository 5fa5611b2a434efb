"""The CUDA target without a GPU: every op (tests/gpu/models, forward, gradient and
optimizer through each model's train step), the samples and a linalg plugin compile with
--target cuda, and each PTX image they carry is accepted by ptxas for its architecture
(sm_80, sm_90). A plugin layer with only a CPU kernel is an error naming the layer.

ptxas comes from the CUDA toolkit (CUDA_HOME, /usr/local/cuda or PATH); where there is
none, the PTX is still generated and checked for its kernels, and the ptxas part is
skipped with a line saying so."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

BIN = os.environ.get("DLC_BIN", "build/bin")
SOURCE = os.environ.get("DLC_SOURCE", ".")
PLUGINS = os.environ.get("DLC_PLUGIN_DIR", os.path.join(BIN, "..", "lib", "dlc-plugins"))
DLC = os.path.join(BIN, "dlc")

MODELS = sorted(os.path.join(SOURCE, "tests/gpu/models", f)
                for f in os.listdir(os.path.join(SOURCE, "tests/gpu/models")) if f.endswith(".dl"))
SAMPLES = [os.path.join(SOURCE, "samples", s) for s in
           ("mlp/mlp.dl", "mlp784/mlp784.dl", "cnn/cnn.dl", "gpt/gpt.dl", "lstm/lstm.dl",
            "resnet18/resnet18.dl", "train_digits/cnn.dl")]

failures = []


def fail(what, detail=""):
    failures.append(what)
    print("FAIL %s%s" % (what, ("\n" + detail) if detail else ""))


def find_ptxas():
    for d in (os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if d and os.path.exists(os.path.join(d, "bin", "ptxas")):
            return os.path.join(d, "bin", "ptxas")
    return shutil.which("ptxas")


def split_images(text):
    """{arch: ptx} from dlc --emit ptx's output."""
    images, arch, lines = {}, None, []
    for line in text.splitlines():
        m = re.match(r"// dlc: PTX for (sm_\d+)$", line)
        if m:
            if arch:
                images[arch] = "\n".join(lines) + "\n"
            arch, lines = m.group(1), []
        elif arch:
            lines.append(line)
    if arch:
        images[arch] = "\n".join(lines) + "\n"
    return images


def check_model(path, ptxas, wd, extra=()):
    """--emit ptx for one model; each image through ptxas."""
    name = os.path.relpath(path, SOURCE)
    r = subprocess.run([DLC, path, "--target", "cuda", "--emit", "ptx", *extra], capture_output=True, text=True)
    if r.returncode != 0:
        fail(name + ": dlc --target cuda --emit ptx", r.stderr[-3000:])
        return
    images = split_images(r.stdout)
    if sorted(images) != ["sm_80", "sm_90"]:
        fail(name + ": expected PTX for sm_80 and sm_90, got %s" % sorted(images))
        return
    entries = re.findall(r"\.visible \.entry (\w+)\(", images["sm_90"])
    if not entries:
        fail(name + ": no kernels in the PTX")
        return
    # Whatever the kernels call must be in the image: no libdevice or runtime symbol left
    # for a link step the driver does not make.
    undefined = re.findall(r"\.extern \.func[^;]*?(\w+)\s*\(", images["sm_90"])
    if undefined:
        fail(name + ": the PTX calls functions it does not define: %s" % sorted(set(undefined)))
    if not ptxas:
        print("ok   %s: %d kernels (ptxas not checked)" % (name, len(entries)))
        return
    for arch, ptx in images.items():
        f = os.path.join(wd, "%s.%s.ptx" % (os.path.basename(path), arch))
        with open(f, "w") as out:
            out.write(ptx)
        r = subprocess.run([ptxas, "--gpu-name", arch, f, "-o", os.devnull], capture_output=True, text=True)
        if r.returncode != 0:
            fail("%s: ptxas --gpu-name %s" % (name, arch), r.stderr[-3000:])
            return
    print("ok   %s: %d kernels, ptxas accepts sm_80 and sm_90" % (name, len(entries)))


def main():
    ptxas = find_ptxas()
    if not ptxas:
        print("SKIP ptxas: no CUDA toolkit here (CUDA_HOME, /usr/local/cuda, PATH); PTX is generated, not assembled")
    with tempfile.TemporaryDirectory() as wd:
        for path in MODELS + SAMPLES:
            check_model(path, ptxas, wd)

        # A plugin layer lowered to linalg runs on the GPU; one with a CPU kernel is an error.
        mish = os.path.join(wd, "mish.dl")
        with open(mish, "w") as f:
            f.write("model M {\n  input x: f32[B, 8]\n  output y = dense(x, 4) |> mish\n"
                    "  train {\n    loss = mean(y)\n    optimizer = sgd(lr = 0.1)\n  }\n}\n")
        check_model(mish, ptxas, wd, ("--plugin", os.path.join(PLUGINS, "libmish.so")))
        rms = os.path.join(wd, "rms.dl")
        with open(rms, "w") as f:
            f.write("model R {\n  input x: f32[B, 8]\n  output y = rms_norm(x)\n}\n")
        r = subprocess.run([DLC, rms, "--target", "cuda", "-o", os.path.join(wd, "rms.so"),
                            "--plugin", os.path.join(PLUGINS, "librms_norm.so")], capture_output=True, text=True)
        if r.returncode != 1 or "rms_norm" not in r.stderr or "CPU kernel" not in r.stderr or "rms.dl:3" not in r.stderr:
            fail("a kernel-only plugin layer under --target cuda: expected exit 1 naming the layer and its place",
                 "exit %d\n%s" % (r.returncode, r.stderr))
        else:
            print("ok   kernel-only plugin refused: " + r.stderr.strip().splitlines()[0])

        r = subprocess.run([DLC, MODELS[0], "--emit", "ptx"], capture_output=True, text=True)
        if r.returncode != 2 or "--target cuda" not in r.stderr:
            fail("--emit ptx without --target cuda: expected a usage error", r.stderr)

    if failures:
        print("%d failed" % len(failures))
        sys.exit(1)
    print("all passed")


if __name__ == "__main__":
    main()
