// Test names here are sentences, many with a ": " late in them, after which Catch2's
// console reporter indents the name's continuation lines. An indent at or past its width
// (80 columns by default) printed lines of "-" without end whenever such a test warned or
// failed: the kernel test of filters in 16 x 16 blocks, which warns on a CPU without
// AVX-512 (or capped at AVX2), ran until killed instead of passing. Wide enough for every
// name (unit.reporter.wraps_long_names runs that test so).
#define CATCH_CONFIG_CONSOLE_WIDTH 400
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
