// RUN: dlc-opt %s --pass-pipeline='builtin.module(func.func(dl-map-to-gpu))' | FileCheck %s

// An elementwise loop nest: one thread per element, the dims linearised (innermost
// fastest) over blocks of 256 threads, a guard for the tail.
// CHECK-LABEL: func.func @elementwise
// CHECK: arith.muli
// CHECK: %[[N:.*]] = arith.muli
// CHECK: %[[GRID:.*]] = arith.ceildivsi %[[N]], %c256
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %[[GRID]], {{.*}} = %c1{{.*}}, {{.*}} = %c1{{.*}}) threads({{.*}}) in ({{.*}} = %c256
// CHECK: arith.cmpi ult
// CHECK: scf.if
// CHECK: arith.remui
// CHECK: math.exp
// CHECK: memref.store
// CHECK-NOT: memref.load
// CHECK: return
func.func @elementwise(%ctx: !llvm.ptr, %a: memref<?x64xf32>, %b: memref<?x64xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel"]} ins(%a : memref<?x64xf32>) outs(%b : memref<?x64xf32>) {
  ^bb0(%x: f32, %y: f32):
    %e = math.exp %x : f32
    linalg.yield %e : f32
  }
  return
}

// A full reduction into a 0-d buffer and the rank-0 generic that reads the sum: one
// one-thread launch for both (the host never reads device memory). The learning rate
// read from a 0-d argument is recomputed inside the kernel that uses it.
// CHECK-LABEL: func.func @serial
// CHECK-NOT: memref.load
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %c1{{.*}}, {{.*}} = %c1{{.*}}, {{.*}} = %c1{{.*}}) threads({{.*}}) in ({{.*}} = %c1{{.*}}, {{.*}} = %c1{{.*}}, {{.*}} = %c1
// CHECK: scf.for
// CHECK: memref.load %arg3[]
// CHECK: arith.negf
// CHECK: memref.store
// CHECK-NEXT: gpu.terminator
// CHECK-NOT: memref.load
// CHECK: return
func.func @serial(%ctx: !llvm.ptr, %a: memref<?xf32>, %out: memref<f32>, %lr: memref<f32>) {
  %s = memref.alloc() : memref<f32>
  linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> ()>], iterator_types = ["reduction"]}
      ins(%a : memref<?xf32>) outs(%s : memref<f32>) {
  ^bb0(%x: f32, %acc: f32):
    %t = arith.addf %x, %acc : f32
    linalg.yield %t : f32
  }
  %r = memref.load %lr[] : memref<f32>
  %neg = arith.negf %r : f32
  linalg.generic {indexing_maps = [affine_map<() -> ()>, affine_map<() -> ()>], iterator_types = []}
      ins(%s : memref<f32>) outs(%out : memref<f32>) {
  ^bb0(%x: f32, %y: f32):
    %t = arith.mulf %x, %neg : f32
    linalg.yield %t : f32
  }
  memref.dealloc %s : memref<f32>
  return
}
