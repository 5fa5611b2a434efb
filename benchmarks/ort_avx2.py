"""ONNX Runtime held to its AVX2 kernels, for the harness's AVX2 table on a CPU with AVX-512.

dlc and PyTorch can be capped at AVX2 (`-mcpu=x86-64-v3`, ONEDNN_MAX_CPU_ISA, ATEN_CPU_CAPABILITY),
but ONNX Runtime has no such switch: its kernel library (MLAS) picks its GEMM, convolution,
pooling and activation kernels once, from CPUID and XCR0, and ORT's own CPU-feature table and
the cpuinfo library it bundles read the same registers. A CPU cannot be told to hide AVX-512
without CPUID faulting, which the VMs these runs see do not offer. So this writes a copy of
the library in which the three places that test for AVX-512 answer "absent", exactly as they
would on an AVX2-only CPU; everything else in the library is untouched, and it takes the same
AVX2/FMA3 paths it takes there.

The places are those of onnxruntime-node 1.30's libonnxruntime.so.1 (the harness's pinned
peer), identified by its sha256; another build is refused rather than patched blindly. To
find them in another build: `objdump -d` the library and look at its three `xgetbv` sites;
each is followed by a test of XCR0's AVX-512 state bits (0xe0 or 0xe6) and of CPUID leaf 7's
AVX512F bit (0x10000).

    python3 ort_avx2.py            # prints the directory to put first on LD_LIBRARY_PATH
"""
import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "node_modules", "onnxruntime-node", "bin", "napi-v6", "linux", "x64", "libonnxruntime.so.1")
OUT_DIR = os.path.join(HERE, "node_modules", ".ort-avx2")
SHA256 = "ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23"

# (file offset, bytes there, bytes written, what the change does). The library's text segment
# is loaded at its file offset, so these are also the addresses objdump shows.
PATCHES = [
    (0x16ABD1B, b"\x74\x0e", b"\xeb\x0e",
     "MLAS_PLATFORM: `je` after `test $0x10000` (CPUID.7 AVX512F) becomes `jmp`, so the AVX-512 kernels "
     "are never selected and the FMA3 (AVX2) ones chosen just before stay"),
    (0x17EB4EF, b"\x74\x6f", b"\x66\x90",
     "CPUIDInfo: the branch taken when XCR0 enables AVX-512 state becomes a no-op, so HasAVX512f() and "
     "HasAVX512Skylake() are false"),
    (0x1CC77C3, b"\x41\x0f\x94\xc1", b"\x0f\x1f\x40\x00",
     "cpuinfo: `sete %r9b` for XCR0's AVX-512 state becomes a no-op (r9 was zeroed), so cpuinfo reports no "
     "AVX-512"),
]


def main():
    if not os.path.exists(SOURCE):
        sys.exit("ort_avx2: %s is missing (run.sh installs onnxruntime-node first)" % SOURCE)
    data = bytearray(open(SOURCE, "rb").read())
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        sys.exit("ort_avx2: %s is not the onnxruntime-node 1.30 library this knows (sha256 %s, expected %s); "
                 "find its AVX-512 checks as this file's header says, or measure on an AVX2-only CPU"
                 % (SOURCE, digest, SHA256))
    for offset, old, new, _ in PATCHES:
        if data[offset:offset + len(old)] != old:
            sys.exit("ort_avx2: unexpected bytes at 0x%x" % offset)
        data[offset:offset + len(old)] = new
    os.makedirs(OUT_DIR, exist_ok=True)
    target = os.path.join(OUT_DIR, "libonnxruntime.so.1")
    tmp = target + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, target)
    print(OUT_DIR)


if __name__ == "__main__":
    main()
