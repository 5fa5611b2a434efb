// RUN: dlc-opt %s --dl-profile-marks | FileCheck %s

// A mark starts each run of work that the locations name differently: a layer's ops
// (named by the front end), fused ones (both names), unnamed work by what it is. A mark
// is a runtime call like the others (context, site -1, then the unit). The
// dense's fill and kernel call share one mark; one more closes the last before return.
// Bookkeeping (allocations, constants) starts nothing. A private helper gets no marks.
// CHECK: module attributes {dl.profile_units = ["dense at m.dl:3:5", "relu at m.dl:3:20 + add at m.dl:4:9", "copy at m.dl:9:1"]}
// CHECK-LABEL: func.func @infer
// CHECK:      %[[BUF:.*]] = memref.alloc
// CHECK-NEXT: arith.constant 0.0
// CHECK-NEXT: %[[SU0:.*]] = arith.constant -1 : i64
// CHECK-NEXT: %[[U0:.*]] = arith.constant 0 : i64
// CHECK-NEXT: dlrt.call @dlrt_k_profile(%arg0, %[[SU0]], %[[U0]])
// CHECK-NEXT: linalg.fill
// CHECK-NEXT: arith.constant 0 : i64
// CHECK-NEXT: dlrt.call @dlrt_k_dense
// CHECK-NEXT: %[[SU1:.*]] = arith.constant -1 : i64
// CHECK-NEXT: %[[U1:.*]] = arith.constant 1 : i64
// CHECK-NEXT: dlrt.call @dlrt_k_profile(%arg0, %[[SU1]], %[[U1]])
// CHECK-NEXT: linalg.generic
// CHECK:      %[[SU2:.*]] = arith.constant -1 : i64
// CHECK-NEXT: %[[U2:.*]] = arith.constant 2 : i64
// CHECK-NEXT: dlrt.call @dlrt_k_profile(%arg0, %[[SU2]], %[[U2]])
// CHECK-NEXT: memref.copy
// CHECK-NEXT: memref.dealloc
// CHECK-NEXT: %[[SEND:.*]] = arith.constant -1 : i64
// CHECK-NEXT: %[[END:.*]] = arith.constant -1 : i64
// CHECK-NEXT: dlrt.call @dlrt_k_profile(%arg0, %[[SEND]], %[[END]])
// CHECK-NEXT: return
// CHECK-LABEL: func.func private @helper
// CHECK-NOT:  dlrt_k_profile
#dense = loc("dense"("m.dl":3:5))
#relu = loc("relu"("m.dl":3:20))
#add = loc("add"("m.dl":4:9))
#map = affine_map<(d0) -> (d0)>
func.func @infer(%ctx: !llvm.ptr, %x: memref<4xf32>, %out: memref<4xf32>) {
  %buf = memref.alloc() : memref<4xf32>
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%buf : memref<4xf32>) loc(#dense)
  %site = arith.constant 0 : i64
  dlrt.call @dlrt_k_dense(%ctx, %site, %x, %buf) {arg_kinds = array<i32: 0, 0, 0, 3>} : (!llvm.ptr, i64, memref<4xf32>, memref<4xf32>) -> () loc(#dense)
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%x : memref<4xf32>) outs(%buf : memref<4xf32>) {
  ^bb0(%a: f32, %b: f32):
    %m = arith.maximumf %a, %zero : f32
    %s = arith.addf %m, %b : f32
    linalg.yield %s : f32
  } loc(fused[#relu, #add])
  memref.copy %buf, %out : memref<4xf32> to memref<4xf32> loc("m.dl":9:1)
  memref.dealloc %buf : memref<4xf32>
  return
}
func.func private @helper(%ctx: !llvm.ptr, %x: memref<4xf32>, %y: memref<4xf32>) {
  memref.copy %x, %y : memref<4xf32> to memref<4xf32>
  return
}
