//===- Report.cpp - dlrun train --report: one self-contained HTML file ---===//
//
// Line charts and the confusion matrix are drawn as inline SVG by hand (a few hundred
// bytes each), so that the file opens anywhere, offline, and can be mailed as it is.
//
//===----------------------------------------------------------------------===//
#include "Report.h"
#include "io/AtomicFile.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace dlrun {

ClassScores::ClassScores(const std::vector<int64_t> &truth, const std::vector<int64_t> &predicted, int64_t classes) {
  std::vector<int64_t> hits(size_t(classes), 0), guesses(size_t(classes), 0);
  support.assign(size_t(classes), 0);
  for (size_t k = 0; k < truth.size(); ++k) {
    ++support[size_t(truth[k])];
    ++guesses[size_t(predicted[k])];
    if (truth[k] == predicted[k]) ++hits[size_t(truth[k])];
  }
  for (size_t c = 0; c < size_t(classes); ++c) {
    double p = guesses[c] ? double(hits[c]) / double(guesses[c]) : 0, r = support[c] ? double(hits[c]) / double(support[c]) : 0;
    precision.push_back(p);
    recall.push_back(r);
    f1.push_back(p + r > 0 ? 2 * p * r / (p + r) : 0);
  }
}

double ClassScores::macro(const std::vector<double> &score) {
  double total = 0;
  for (double x : score) total += x;
  return score.empty() ? 0 : total / double(score.size());
}

std::vector<std::vector<int64_t>> confusionMatrix(const std::vector<int64_t> &truth, const std::vector<int64_t> &predicted,
                                                  int64_t classes) {
  std::vector<std::vector<int64_t>> cm(size_t(classes), std::vector<int64_t>(size_t(classes), 0));
  for (size_t k = 0; k < truth.size(); ++k) ++cm[size_t(truth[k])][size_t(predicted[k])];
  return cm;
}

namespace {

std::string escape(const std::string &s) {
  std::string out;
  for (char c : s) {
    switch (c) {
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '&': out += "&amp;"; break;
    case '"': out += "&quot;"; break;
    default: out += c;
    }
  }
  return out;
}

std::string fmt(const char *f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

/// Tick values covering [lo, hi]: 1, 2 or 5 times a power of ten apart, at most 6.
std::vector<double> ticks(double lo, double hi) {
  double span = hi - lo;
  if (!(span > 0)) return {lo};
  double unit = std::pow(10.0, std::floor(std::log10(span / 5)));
  double step = unit;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (span / (unit * m) <= 6) {
      step = unit * m;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) t.push_back(std::abs(v) < step * 1e-9 ? 0 : v);
  return t;
}

struct Series {
  std::string name, color;
  std::vector<std::pair<double, double>> points; // finite values only
};

/// A line chart of `series` against the epoch, with axes, ticks and a legend.
std::string lineChart(const std::string &title, const std::string &yLabel, const std::vector<Series> &series) {
  const double W = 520, H = 300, left = 60, right = 16, top = 30, bottom = 44;
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const Series &s : series)
    for (auto [x, y] : s.points) {
      x0 = std::min(x0, x), x1 = std::max(x1, x);
      y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  std::ostringstream o;
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H << "' viewBox='0 0 " << W << " "
    << H << "' role='img' aria-label='" << escape(title) << "'>";
  o << "<text x='" << left << "' y='18' class='title'>" << escape(title) << "</text>";
  if (!std::isfinite(x0)) {
    o << "<text x='" << W / 2 << "' y='" << H / 2 << "' text-anchor='middle'>no values</text></svg>";
    return o.str();
  }
  if (x1 - x0 < 1) x0 -= 0.5, x1 += 0.5;
  double pad = (y1 - y0) * 0.08;
  if (!(pad > 0)) pad = std::max(std::abs(y0) * 0.1, 1e-3);
  y0 -= pad, y1 += pad;
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * (W - left - right); };
  auto py = [&](double y) { return top + (y1 - y) / (y1 - y0) * (H - top - bottom); };
  o << "<rect x='" << left << "' y='" << top << "' width='" << W - left - right << "' height='" << H - top - bottom
    << "' class='plot'/>";
  for (double t : ticks(y0, y1)) {
    o << "<line x1='" << left << "' x2='" << W - right << "' y1='" << py(t) << "' y2='" << py(t) << "' class='grid'/>";
    o << "<text x='" << left - 6 << "' y='" << py(t) + 4 << "' text-anchor='end'>" << fmt("%g", t) << "</text>";
  }
  for (double t : ticks(x0, x1)) {
    if (t != std::floor(t)) continue; // epochs are whole
    o << "<line y1='" << top << "' y2='" << H - bottom << "' x1='" << px(t) << "' x2='" << px(t) << "' class='grid'/>";
    o << "<text x='" << px(t) << "' y='" << H - bottom + 16 << "' text-anchor='middle'>" << fmt("%g", t) << "</text>";
  }
  o << "<text x='" << (left + W - right) / 2 << "' y='" << H - 6 << "' text-anchor='middle'>epoch</text>";
  o << "<text transform='translate(14 " << (top + H - bottom) / 2 << ") rotate(-90)' text-anchor='middle'>"
    << escape(yLabel) << "</text>";
  // The legend in the title's row, right-aligned, clear of the curves.
  double legendWidth = 0;
  for (const Series &s : series)
    if (!s.points.empty()) legendWidth += 18 + 7 * double(s.name.size()) + 16;
  double legendX = W - right - legendWidth;
  for (const Series &s : series) {
    if (s.points.empty()) continue;
    o << "<polyline fill='none' stroke='" << s.color << "' stroke-width='2' points='";
    for (auto [x, y] : s.points) o << fmt("%.1f", px(x)) << "," << fmt("%.1f", py(y)) << " ";
    o << "'/>";
    for (auto [x, y] : s.points)
      o << "<circle cx='" << fmt("%.1f", px(x)) << "' cy='" << fmt("%.1f", py(y)) << "' r='3' fill='" << s.color
        << "'><title>" << escape(s.name) << ", epoch " << fmt("%g", x) << ": " << fmt("%.4f", y) << "</title></circle>";
    o << "<rect x='" << legendX << "' y='" << 12 << "' width='14' height='4' fill='" << s.color << "'/>";
    o << "<text x='" << legendX + 18 << "' y='" << 18 << "'>" << escape(s.name) << "</text>";
    legendX += 18 + 7 * double(s.name.size()) + 16;
  }
  o << "</svg>";
  return o.str();
}

/// The confusion matrix as a grid: each cell shaded by its share of the true class's row,
/// with its count where the grid is small enough to read.
std::string confusionChart(const std::vector<std::vector<int64_t>> &cm) {
  size_t n = cm.size();
  double cell = n <= 10 ? 40 : n <= 20 ? 24 : std::max(4.0, 480.0 / double(n));
  double left = 60, top = 50, size = cell * double(n);
  double W = left + size + 20, H = top + size + 20;
  std::ostringstream o;
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H << "' viewBox='0 0 " << W << " "
    << H << "' role='img' aria-label='confusion matrix'>";
  o << "<text x='" << left + size / 2 << "' y='16' text-anchor='middle'>predicted class</text>";
  o << "<text transform='translate(14 " << top + size / 2 << ") rotate(-90)' text-anchor='middle'>true class</text>";
  bool labels = n <= 20;
  for (size_t r = 0; r < n; ++r) {
    int64_t rowTotal = 0;
    for (int64_t v : cm[r]) rowTotal += v;
    if (labels) {
      o << "<text x='" << left - 6 << "' y='" << top + cell * (double(r) + 0.5) + 4 << "' text-anchor='end'>" << r
        << "</text>";
      o << "<text x='" << left + cell * (double(r) + 0.5) << "' y='" << top - 8 << "' text-anchor='middle'>" << r
        << "</text>";
    }
    for (size_t c = 0; c < n; ++c) {
      double share = rowTotal ? double(cm[r][c]) / double(rowTotal) : 0;
      // White to dark blue; the diagonal (right answers) in the same scale.
      int red = int(255 - share * (255 - 8)), green = int(255 - share * (255 - 69)), blue = int(255 - share * (255 - 148));
      char fill[16];
      std::snprintf(fill, sizeof fill, "#%02x%02x%02x", red, green, blue);
      o << "<rect x='" << left + cell * double(c) << "' y='" << top + cell * double(r) << "' width='" << cell
        << "' height='" << cell << "' fill='" << fill << "' stroke='#ddd'><title>true " << r << ", predicted " << c
        << ": " << cm[r][c] << "</title></rect>";
      if (labels && cm[r][c])
        o << "<text x='" << left + cell * (double(c) + 0.5) << "' y='" << top + cell * (double(r) + 0.5) + 4
          << "' text-anchor='middle' style='fill:" << (share > 0.5 ? "#fff" : "#222") << "' class='cell'>" << cm[r][c]
          << "</text>";
    }
  }
  o << "</svg>";
  return o.str();
}

Series seriesOf(const std::vector<EpochRecord> &epochs, const std::string &name, const std::string &color,
                double EpochRecord::*field) {
  Series s{name, color, {}};
  for (const EpochRecord &e : epochs)
    if (std::isfinite(e.*field)) s.points.push_back({double(e.epoch), e.*field});
  return s;
}

std::string html(const ReportData &d) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>Training report: " << escape(d.model)
    << "</title>\n<style>\n"
       "body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1120px}\n"
       "h1{font-size:22px}h2{font-size:17px;margin-top:28px}\n"
       "svg text{font-size:12px;fill:#333}svg text.title{font-size:14px;font-weight:600}svg text.cell{font-size:11px}\n"
       ".plot{fill:#fafafa;stroke:#999}.grid{stroke:#e4e4e4}\n"
       ".charts{display:flex;flex-wrap:wrap;gap:16px}\n"
       "table{border-collapse:collapse;font-size:13px}td,th{padding:3px 10px;text-align:right;border-bottom:1px solid #eee}\n"
       "</style></head><body>\n";
  o << "<h1>Training report: " << escape(d.model) << "</h1>\n<p>" << escape(d.settings) << "</p>\n";
  if (!d.epochs.empty()) {
    const EpochRecord &last = d.epochs.back();
    o << "<p>" << d.epochs.size() << " epoch record(s), " << last.step << " steps. Last: train loss "
      << fmt("%.4f", last.trainLoss);
    if (std::isfinite(last.trainAcc)) o << ", accuracy " << fmt("%.4f", last.trainAcc);
    if (std::isfinite(last.valLoss)) o << "; validation loss " << fmt("%.4f", last.valLoss);
    if (std::isfinite(last.valAcc)) o << ", accuracy " << fmt("%.4f", last.valAcc);
    o << ".</p>\n";
  }
  o << "<h2>Curves</h2>\n<div class='charts'>\n";
  o << lineChart("Loss", "loss",
                 {seriesOf(d.epochs, "train", "#1f77b4", &EpochRecord::trainLoss),
                  seriesOf(d.epochs, "validation", "#ff7f0e", &EpochRecord::valLoss)})
    << "\n";
  bool accuracy = std::any_of(d.epochs.begin(), d.epochs.end(), [](const EpochRecord &e) { return std::isfinite(e.trainAcc); });
  if (accuracy)
    o << lineChart("Accuracy", "accuracy",
                   {seriesOf(d.epochs, "train", "#1f77b4", &EpochRecord::trainAcc),
                    seriesOf(d.epochs, "validation", "#ff7f0e", &EpochRecord::valAcc)})
      << "\n";
  o << "</div>\n";
  o << "<h2>Epochs</h2>\n<table><tr><th>epoch</th><th>step</th><th>train loss</th><th>train acc</th><th>val loss</th>"
       "<th>val acc</th><th>lr</th><th>seconds</th></tr>\n";
  auto cellOf = [](double v, const char *f) { return std::isfinite(v) ? fmt(f, v) : std::string("&ndash;"); };
  for (const EpochRecord &e : d.epochs)
    o << "<tr><td>" << e.epoch << "</td><td>" << e.step << "</td><td>" << cellOf(e.trainLoss, "%.4f") << "</td><td>"
      << cellOf(e.trainAcc, "%.4f") << "</td><td>" << cellOf(e.valLoss, "%.4f") << "</td><td>"
      << cellOf(e.valAcc, "%.4f") << "</td><td>" << cellOf(e.lr, "%g") << "</td><td>" << cellOf(e.seconds, "%.1f")
      << "</td></tr>\n";
  o << "</table>\n";
  if (d.scores.classes()) {
    const ClassScores &s = d.scores;
    o << "<h2>Classes (final weights on the " << escape(d.evaluatedOn) << ")</h2>\n<p>loss "
      << fmt("%.4f", d.finalLoss) << ", accuracy " << fmt("%.4f", d.finalAcc) << "</p>\n";
    o << "<div class='charts'><div><table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>"
         "<th>support</th></tr>\n";
    for (size_t c = 0; c < s.classes(); ++c)
      o << "<tr><td>" << c << "</td><td>" << fmt("%.4f", s.precision[c]) << "</td><td>" << fmt("%.4f", s.recall[c])
        << "</td><td>" << fmt("%.4f", s.f1[c]) << "</td><td>" << s.support[c] << "</td></tr>\n";
    o << "<tr><th>macro</th><th>" << fmt("%.4f", ClassScores::macro(s.precision)) << "</th><th>"
      << fmt("%.4f", ClassScores::macro(s.recall)) << "</th><th>" << fmt("%.4f", ClassScores::macro(s.f1))
      << "</th><th></th></tr>\n";
    o << "</table></div>\n<div>";
    if (!d.confusion.empty()) o << confusionChart(d.confusion);
    else o << "<p>" << s.classes() << " classes: no confusion matrix above " << kConfusionClasses << ".</p>";
    o << "</div></div>\n";
  }
  o << "<p style='color:#888;font-size:12px'>Written by dlrun train.</p>\n</body></html>\n";
  return o.str();
}

} // namespace

bool writeReport(const std::string &path, const ReportData &data, std::string &err) {
  std::string text = html(data);
  dlrt::AtomicFile f;
  if (!f.open(path, err)) return false;
  f.write(text.data(), text.size());
  return f.commit(err); // reports a failed write too
}

} // namespace dlrun
