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

/// Precision, recall, F1 and support of each of `classes` classes from the true and the
/// predicted class of every position evaluated; a class never predicted (or never present)
/// scores 0. Counted per class, not from a confusion matrix: a language model's classes are
/// its vocabulary, tens of thousands, whose matrix would not fit in memory.
struct ClassScores {
  std::vector<double> precision, recall, f1;
  std::vector<int64_t> support;
  ClassScores() = default;
  ClassScores(const std::vector<int64_t> &truth, const std::vector<int64_t> &predicted, int64_t classes);
  size_t classes() const { return support.size(); }
  /// The mean of a score over the classes (its macro average).
  static double macro(const std::vector<double> &score);
};

/// The most classes whose confusion matrix dlrun train keeps (and draws in the report);
/// above it the per-class scores alone.
constexpr int64_t kConfusionClasses = 100;

/// The confusion matrix (rows: true class, columns: predicted) of `classes` classes, at
/// most kConfusionClasses.
std::vector<std::vector<int64_t>> confusionMatrix(const std::vector<int64_t> &truth, const std::vector<int64_t> &predicted,
                                                  int64_t classes);

struct ReportData {
  std::string model;    // the model's name
  std::string settings; // optimizer, batch, seed, ... as one line
  std::vector<EpochRecord> epochs;
  /// For a classification loss, on `evaluatedOn` with the final weights: the per-class
  /// scores and, up to kConfusionClasses classes, the confusion matrix.
  ClassScores scores;
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
