//===- AtomicFile.cpp - a file replaced whole or not at all ---------------===//
#include "io/AtomicFile.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace dlrt {

AtomicFile::~AtomicFile() {
  if (file) std::fclose(file);
  if (!committed && !tmp.empty()) std::remove(tmp.c_str());
}

bool AtomicFile::open(const std::string &p, std::string &error) {
  path = p;
  tmp = p + ".tmp";
  file = std::fopen(tmp.c_str(), "wb");
  if (!file) {
    error = "cannot write '" + tmp + "': " + std::strerror(errno);
    tmp.clear();
    return false;
  }
  return true;
}

bool AtomicFile::write(const void *data, size_t bytes) {
  ok = ok && (bytes == 0 || std::fwrite(data, 1, bytes, file) == bytes);
  return ok;
}

void AtomicFile::flush() { std::fflush(file); }

bool AtomicFile::commit(std::string &error) {
  // Durable before it replaces the old file: a crash leaves one or the other, whole.
  ok = ok && std::fflush(file) == 0 && ::fsync(fileno(file)) == 0;
  ok = std::fclose(file) == 0 && ok;
  file = nullptr;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot write '" + path + "': " + std::strerror(errno);
    return false;
  }
  committed = true;
  return true;
}

} // namespace dlrt
