//===- Random.h - the session's seeded generator ----------------*- C++ -*-===//
#ifndef DLRT_SRC_RANDOM_H
#define DLRT_SRC_RANDOM_H

#include <cstdint>
#include <random>

namespace dlrt {

/// One generator per session: the same seed gives the same stream, bit for bit, on every
/// machine (mt19937_64 is fully specified; the conversions below are our own, not the
/// implementation-defined std:: distributions).
class Generator {
public:
  explicit Generator(uint64_t seed) : engine(seed) {}
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return double(engine() >> 11) * (1.0 / 9007199254740992.0); }
  double uniform(double a, double b) { return a + (b - a) * uniform(); }
  /// Standard normal by Box-Muller (one value per call; the pair's second is kept).
  double normal();

private:
  std::mt19937_64 engine;
  bool haveSpare = false;
  double spare = 0;
};

} // namespace dlrt
#endif
