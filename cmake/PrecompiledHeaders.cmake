# Precompiled headers for the compiler's libraries (DLC_PRECOMPILED_HEADERS, on by default).
#
# A compiler file spends most of its time parsing MLIR's headers: a Conversion pass file
# took 27 s of which 17 went to Passes.h, which brings in every dialect a pass depends on.
# Parsed once per library into a clang precompiled header, the Conversion library builds
# in 337 CPU-s instead of 1225 (measured on a 2-core AMD EPYC, cold ccache).
#
# Only with clang: g++'s precompiled headers lose (notes/TOOLCHAIN.md). ccache caches the
# files compiled with one only if the header carries no timestamp (-fno-pch-timestamp)
# and CCACHE_SLOPPINESS has pch_defines,time_macros (set where CMakeLists.txt sets the
# compiler launcher). Building with -DDLC_PRECOMPILED_HEADERS=OFF checks that every file
# still includes what it uses.

# dlc_precompile_headers(<target> PRIVATE <header>...): <target>'s files are compiled with
# the headers parsed once, ahead of each file's own includes.
# dlc_precompile_headers(<target> REUSE_FROM <other>): they use <other>'s precompiled
# header instead (the two must be compiled with the same flags and definitions).
# The arguments after the target are target_precompile_headers' own.
function(dlc_precompile_headers target)
  if(DLC_PRECOMPILED_HEADERS AND CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    target_precompile_headers(${target} ${ARGN})
    target_compile_options(${target} PRIVATE "SHELL:-Xclang -fno-pch-timestamp")
  endif()
endfunction()
