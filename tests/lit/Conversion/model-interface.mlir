// RUN: dlc-opt %s --dl-lower-to-cpu --canonicalize --eliminate-empty-tensors --one-shot-bufferize="unknown-type-conversion=identity-layout-map" --buffer-deallocation-pipeline --dlrt-call-to-func --convert-linalg-to-loops --lower-affine --convert-scf-to-cf --expand-strided-metadata --finalize-memref-to-llvm --convert-arith-to-llvm --convert-index-to-llvm --convert-func-to-llvm --convert-cf-to-llvm --reconcile-unrealized-casts --dl-emit-model-interface | FileCheck %s

// The exported interface: ABI version, signature, import binding, entry wrapper; runtime
// kernels are called through import slots, never by symbol.
// CHECK-DAG: llvm.mlir.global internal @__dl_import_dlrt_k_dense_f32()
// CHECK-DAG: llvm.func @dl_model_abi_version() -> i32
// CHECK-DAG: llvm.func @dl_model_signature() -> !llvm.ptr
// CHECK-DAG: llvm.func @dl_model_bind(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr) -> i32
// CHECK-DAG: llvm.func @dl_entry_infer(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
// CHECK-NOT: llvm.func @dlrt_k_dense_f32
module attributes {dl.signature = "{\22model\22:\22M\22}"} {
  func.func @infer(%x: tensor<?x8xf32> {dl.input = "x"}, %w: tensor<4x8xf32> {dl.param = "d.weight"}) -> (tensor<?x4xf32> {dl.output = "y"}) {
    %0 = dl.dense %x, %w : tensor<?x8xf32>, tensor<4x8xf32> -> tensor<?x4xf32>
    return %0 : tensor<?x4xf32>
  }
}
