//===- AtomicFile.h - a file replaced whole or not at all -------*- C++ -*-===//
#ifndef DLRT_SRC_IO_ATOMICFILE_H
#define DLRT_SRC_IO_ATOMICFILE_H

#include <cstdio>
#include <string>

namespace dlrt {

/// A file written as PATH.tmp in the same folder and renamed over PATH once complete and
/// durable (flushed and fsynced): a crash in between leaves the previous file, or none,
/// never half of one. Checkpoints, weights and reports are written this way.
class AtomicFile {
public:
  AtomicFile() = default;
  AtomicFile(const AtomicFile &) = delete;
  AtomicFile &operator=(const AtomicFile &) = delete;
  /// Removes the temporary file unless commit() succeeded.
  ~AtomicFile();

  bool open(const std::string &path, std::string &error);
  bool write(const void *data, size_t bytes);
  /// Makes what was written so far reach the file (for a test that stops mid-write).
  void flush();
  /// Flushes, fsyncs, closes and renames over the path; false with `error` on any failure,
  /// the earlier writes' included.
  bool commit(std::string &error);

private:
  std::string path, tmp;
  std::FILE *file = nullptr;
  bool ok = true, committed = false;
};

} // namespace dlrt
#endif
