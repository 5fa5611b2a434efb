//===- Random.cpp - the session's seeded generator ------------------------===//
#include "Random.h"

#include <cmath>

namespace dlrt {

double Generator::normal() {
  if (haveSpare) {
    haveSpare = false;
    return spare;
  }
  double u1 = uniform(), u2 = uniform();
  if (u1 < 1e-300) u1 = 1e-300;
  double r = std::sqrt(-2.0 * std::log(u1)), t = 2.0 * M_PI * u2;
  spare = r * std::sin(t);
  haveSpare = true;
  return r * std::cos(t);
}

} // namespace dlrt
