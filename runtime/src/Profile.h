//===- Profile.h - time per op of the dl graph ------------------*- C++ -*-===//
#ifndef DLRT_SRC_PROFILE_H
#define DLRT_SRC_PROFILE_H

#include <chrono>
#include <cstdint>
#include <vector>

namespace dlrt {

/// A session's profile: compiled code marks where each unit (an op of the dl graph as the
/// compiler fused it, named in the signature's "profile") starts running, and one mark
/// after the last; the time from a mark to the next goes to the first one's unit.
class Profile {
public:
  explicit Profile(size_t units) : seconds(units, 0.0), calls(units, 0) {}
  /// Unit `unit` starts now (-1: the entry point is about to return).
  void mark(int64_t unit);
  /// Starts a run: a mark left open by a failed call charges nothing.
  void beginRun() { running = -1; }

  std::vector<double> seconds;
  std::vector<int64_t> calls;

private:
  int64_t running = -1;
  std::chrono::steady_clock::time_point since;
};

} // namespace dlrt

extern "C" {
/// The kernel compiled code calls at each mark (dl-profile-marks); returns at once unless
/// the session profiles.
void dlrt_k_profile(void *ctx, int64_t site, int64_t unit);
}

#endif
