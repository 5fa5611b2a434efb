// The f64 exp and log that dl-expand-gpu-math writes for kernels, run on the host
// against libm's: the largest relative error over exp on [-740, 700], log on
// [1e-320, 1e308] and log near 1, then IEEE's special values.
// RUN: dlc-opt %s --dl-expand-gpu-math | mlir-opt --convert-scf-to-cf --convert-math-to-llvm \
// RUN:   --convert-arith-to-llvm --convert-func-to-llvm --convert-cf-to-llvm --reconcile-unrealized-casts \
// RUN: | mlir-runner -e main --entry-point-result=void \
// RUN:   -shared-libs=/usr/lib/llvm-22/lib/libmlir_c_runner_utils.so,/usr/lib/llvm-22/lib/libmlir_runner_utils.so \
// RUN: | FileCheck %s
// Within 2 ulp (2^-52 = 2.2e-16 relative): the printed maxima are below 4.5e-16.
// CHECK: {{[0-4]\.[0-9]+e-16$}}
// CHECK-NEXT: {{[0-4]\.[0-9]+e-16$}}
// CHECK-NEXT: {{[0-4]\.[0-9]+e-16$}}
// exp(-inf) exp(inf) exp(nan) log(0) log(-1) log(inf) log(nan) log(4.9e-324) exp(709.7) libm's exp(709.7)
// CHECK-NEXT: 0infnan-infnaninfnan-744.441.65498e+3081.65498e+308
func.func private @exp(f64) -> f64
func.func private @log(f64) -> f64
func.func private @printF64(f64)
func.func private @printI64(i64)
func.func private @printNewline()

// Max relative error of the expanded exp and log against libm's over wide ranges.
func.func @main() {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant 200000 : index
  %zero = arith.constant 0.0 : f64
  %tiny = arith.constant 1.0e-300 : f64
  %e = scf.for %i = %c0 to %n step %c1 iter_args(%m = %zero) -> f64 {
    %ii = arith.index_cast %i : index to i64
    %fi = arith.sitofp %ii : i64 to f64
    %step = arith.constant 0.0072 : f64
    %lo = arith.constant -740.0 : f64
    %x = arith.addf %lo, %fi : f64
    %x2 = arith.mulf %fi, %step : f64
    %x3 = arith.addf %lo, %x2 : f64
    %a = math.exp %x3 : f64
    %b = func.call @exp(%x3) : (f64) -> f64
    %d = arith.subf %a, %b : f64
    %ad = math.absf %d : f64
    %ab = math.absf %b : f64
    %den = arith.maximumf %ab, %tiny : f64
    %r = arith.divf %ad, %den : f64
    %mm = arith.maximumf %m, %r : f64
    scf.yield %mm : f64
  }
  func.call @printF64(%e) : (f64) -> ()
  func.call @printNewline() : () -> ()
  %l = scf.for %i = %c0 to %n step %c1 iter_args(%m = %zero) -> f64 {
    %ii = arith.index_cast %i : index to i64
    %fi = arith.sitofp %ii : i64 to f64
    // x = 10^(-320 + i * 0.00314): 1e-320 .. 1e308
    %k = arith.constant 0.00314 : f64
    %p0 = arith.mulf %fi, %k : f64
    %m320 = arith.constant -320.0 : f64
    %p = arith.addf %p0, %m320 : f64
    %ln10 = arith.constant 2.302585092994046 : f64
    %q = arith.mulf %p, %ln10 : f64
    %x = func.call @exp(%q) : (f64) -> f64
    %a = math.log %x : f64
    %b = func.call @log(%x) : (f64) -> f64
    %d = arith.subf %a, %b : f64
    %ad = math.absf %d : f64
    %ab = math.absf %b : f64
    %den = arith.maximumf %ab, %tiny : f64
    %r = arith.divf %ad, %den : f64
    %mm = arith.maximumf %m, %r : f64
    scf.yield %mm : f64
  }
  func.call @printF64(%l) : (f64) -> ()
  func.call @printNewline() : () -> ()
  // Near 1: log(1 + i 1e-9), absolute error scaled by 1 (relative to |log| ~ 1e-9..2e-4).
  %l1 = scf.for %i = %c1 to %n step %c1 iter_args(%m = %zero) -> f64 {
    %ii = arith.index_cast %i : index to i64
    %fi = arith.sitofp %ii : i64 to f64
    %k = arith.constant 1.0e-9 : f64
    %one = arith.constant 1.0 : f64
    %d0 = arith.mulf %fi, %k : f64
    %x = arith.addf %one, %d0 : f64
    %a = math.log %x : f64
    %b = func.call @log(%x) : (f64) -> f64
    %d = arith.subf %a, %b : f64
    %ad = math.absf %d : f64
    %ab = math.absf %b : f64
    %r = arith.divf %ad, %ab : f64
    %mm = arith.maximumf %m, %r : f64
    scf.yield %mm : f64
  }
  func.call @printF64(%l1) : (f64) -> ()
  func.call @printNewline() : () -> ()
  // Specials: exp(-inf), exp(inf), exp(nan), log(0), log(-1), log(inf), log(nan), log(5e-324)
  %ninf = arith.constant 0xFFF0000000000000 : f64
  %pinf = arith.constant 0x7FF0000000000000 : f64
  %nan = arith.constant 0x7FF8000000000000 : f64
  %m1 = arith.constant -1.0 : f64
  %den = arith.constant 4.9406564584124654e-324 : f64
  %s1 = math.exp %ninf : f64
  %s2 = math.exp %pinf : f64
  %s3 = math.exp %nan : f64
  %s4 = math.log %zero : f64
  %s5 = math.log %m1 : f64
  %s6 = math.log %pinf : f64
  %s7 = math.log %nan : f64
  %s8 = math.log %den : f64
  %big = arith.constant 709.7 : f64
  %s9 = math.exp %big : f64
  %s10 = func.call @exp(%big) : (f64) -> f64
  func.call @printF64(%s1) : (f64) -> ()
  func.call @printF64(%s2) : (f64) -> ()
  func.call @printF64(%s3) : (f64) -> ()
  func.call @printF64(%s4) : (f64) -> ()
  func.call @printF64(%s5) : (f64) -> ()
  func.call @printF64(%s6) : (f64) -> ()
  func.call @printF64(%s7) : (f64) -> ()
  func.call @printF64(%s8) : (f64) -> ()
  func.call @printF64(%s9) : (f64) -> ()
  func.call @printF64(%s10) : (f64) -> ()
  func.call @printNewline() : () -> ()
  return
}
