//===- Report.h - dlrun train's metrics and its HTML report ------*- C++ -*-===//
#ifndef DLRT_TOOLS_DLRUN_REPORT_H
#define DLRT_TOOLS_DLRUN_REPORT_H

#include <cstdint>
#include <string>
#include <vector>

namespace dlrun {

/// One epoch's line of the log (NaN where a figure does not apply: no validation data,
/// no classification loss).
struct EpochRecord {
  int64_t epoch = 0, step = 0;
  double trainLoss = 0, trainAcc = 0, valLoss = 0, valAcc = 0, lr = 0, seconds = 0;
};

/// Precision, recall, F1 and support per class from a confusion matrix (rows: true class,
/// columns: predicted); a class never predicted (or never present) scores 0.
struct ClassScores {
  std::vector<double> precision, recall, f1;
  std::vector<int64_t> support;
  explicit ClassScores(const std::vector<std::vector<int64_t>> &confusion);
};

struct ReportData {
  std::string model;    // the model's name
  std::string settings; // optimizer, batch, seed, ... as one line
  std::vector<EpochRecord> epochs;
  /// For a classification loss: the confusion matrix of the final weights on `evaluatedOn`.
  std::vector<std::vector<int64_t>> confusion;
  std::string evaluatedOn;
  double finalLoss = 0, finalAcc = 0;
};

/// Writes one self-contained HTML file (inline SVG and CSS, nothing fetched): the loss and
/// accuracy curves of training and validation, the per-class scores and the confusion
/// matrix. Written to a temporary file in the same folder and renamed, as checkpoints
/// are. False with `err` set when it cannot be written.
bool writeReport(const std::string &path, const ReportData &data, std::string &err);

} // namespace dlrun
#endif
