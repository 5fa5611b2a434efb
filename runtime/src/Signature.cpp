//===- Signature.cpp - a model's signature, read from its JSON ------------===//
#include "Signature.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include <cctype>
#include <cstdint>

namespace dlrt {

static bool parseValues(const nlohmann::json &arr, std::vector<ValueSpec> &out, std::string &error) {
  if (!arr.is_array()) {
    error = "signature: expected an array";
    return false;
  }
  for (const auto &v : arr) {
    ValueSpec s;
    s.name = v.value("name", "");
    if (!parseDtype(v.value("dtype", ""), s.dtype)) {
      error = "signature: bad dtype for '" + s.name + "'";
      return false;
    }
    for (const auto &d : v.at("shape")) s.dims.push_back(d.get<std::string>());
    s.trainOnly = v.value("train_only", false);
    s.buffer = v.value("buffer", false);
    if (v.contains("init")) {
      s.initKind = v["init"].value("kind", "zeros");
      s.initA = v["init"].value("a", 0.0);
      s.initB = v["init"].value("b", 0.0);
    }
    out.push_back(std::move(s));
  }
  for (ValueSpec &s : out)
    for (const std::string &d : s.dims) s.dimPtrs.push_back(d.c_str());
  return true;
}

bool parseSignature(const std::string &json, Signature &out, std::string &error) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    error = "the model's signature is not valid JSON";
    return false;
  }
  try {
    out.json = json;
    out.model = j.value("model", "");
    for (const auto &s : j.at("symbols")) out.symbols.push_back(s.get<std::string>());
    if (j.contains("requires"))
      for (const auto &r : j.at("requires"))
        out.needs.push_back({r.at("size").get<std::string>(), r.at("at_least").get<int64_t>(),
                             std::max<int64_t>(1, r.value("multiple_of", int64_t(1))), r.at("where").get<std::string>(),
                             r.at("why").get<std::string>()});
    if (j.contains("target")) out.target = j.at("target").get<std::string>();
    if (out.target != "cpu" && out.target != "cuda") {
      error = "the signature names an unknown target '" + out.target + "'";
      return false;
    }
    out.batchSplit = j.value("batch_split", "");
    if (!out.batchSplit.empty() &&
        std::find(out.symbols.begin(), out.symbols.end(), out.batchSplit) == out.symbols.end()) {
      error = "the signature splits inference along '" + out.batchSplit + "', which is not one of its symbols";
      return false;
    }
    out.precision = j.value("precision", "fp32");
    if (out.precision != "fp32" && out.precision != "bf16") {
      error = "the signature names an unknown precision '" + out.precision + "'";
      return false;
    }
    if (j.contains("gpu")) {
      for (const auto &a : j.at("gpu").at("archs")) out.gpuArchs.push_back(a.get<std::string>());
      for (const auto &k : j.at("gpu").at("kernels")) out.gpuKernels.push_back(k.get<std::string>());
      for (const auto &w : j.at("gpu").at("words")) out.gpuWords.push_back(w.get<int64_t>());
      if (out.gpuWords.size() != out.gpuKernels.size()) {
        error = "the signature's kernel table and parameter counts differ in length";
        return false;
      }
    }
    if (j.contains("profile"))
      for (const auto &s : j.at("profile")) out.profileUnits.push_back(s.get<std::string>());
    if (j.contains("sites"))
      for (const auto &s : j.at("sites")) out.sites.push_back(s.get<std::string>());
    if (j.contains("plugins"))
      for (const auto &p : j.at("plugins"))
        out.plugins.push_back({p.at("name").get<std::string>(), p.at("file").get<std::string>(),
                               p.at("major").get<uint32_t>(), p.at("minor").get<uint32_t>(), p.at("abi").get<uint32_t>()});
    if (j.contains("plugin_calls"))
      for (const auto &c : j.at("plugin_calls")) {
        PluginCallSpec spec;
        spec.site = c.at("site").get<int64_t>();
        spec.plugin = c.at("plugin").get<std::string>();
        spec.kernel = c.at("kernel").get<std::string>();
        spec.backward = c.at("backward").get<bool>();
        for (const auto &a : c.at("attrs")) {
          PluginCallSpec::Attr attr;
          attr.name = a.at(0).get<std::string>();
          attr.kind = a.at(1).get<std::string>();
          const auto &v = a.at(2);
          if (attr.kind == "int") attr.i = v.get<int64_t>();
          else if (attr.kind == "bool") attr.i = v.get<bool>();
          else if (attr.kind == "float") attr.f = v.get<double>();
          else if (attr.kind == "string") attr.s = v.get<std::string>();
          else if (attr.kind == "ints") attr.ints = v.get<std::vector<int64_t>>();
          spec.attrs.push_back(std::move(attr));
        }
        for (const char *side : {"inputs", "outputs"})
          for (const auto &v : c.at(side)) {
            dlrt_dtype d;
            if (!parseDtype(v.at(0).get<std::string>(), d)) {
              error = "signature: bad dtype in a plugin call";
              return false;
            }
            (side[0] == 'i' ? spec.inputs : spec.outputs).push_back({d, v.at(1).get<int32_t>()});
          }
        out.pluginCalls.push_back(std::move(spec));
      }
    if (j.contains("train")) {
      const auto &t = j.at("train");
      TrainSignature &ts = out.train;
      ts.present = true;
      ts.optimizer = t.value("optimizer", "");
      ts.lr = t.contains("hyper") ? t.at("hyper").value("lr", 0.0) : 0.0;
      if (t.contains("slots"))
        for (const auto &s : t.at("slots")) ts.slots.push_back(s.get<std::string>());
      ts.predictions = t.value("predictions", false);
      if (t.contains("prediction_shape"))
        for (const auto &d : t.at("prediction_shape")) ts.predictionDims.push_back(d.get<std::string>());
      ts.unavailable = t.value("unavailable", "");
      ts.labels = t.value("labels", "");
    }
    return parseValues(j.at("inputs"), out.inputs, error) && parseValues(j.at("outputs"), out.outputs, error) &&
           parseValues(j.at("params"), out.params, error);
  } catch (const std::exception &e) {
    error = std::string("the model's signature is malformed: ") + e.what();
    return false;
  }
}

namespace {
/// A dim expression of the signature: integers, symbols, + - * / (floor) and parentheses.
/// The signature comes from a file: overflowing numbers and results, and nesting past
/// any real model's, make the expression invalid rather than undefined behaviour.
struct DimParser {
  const std::string &s;
  const std::map<std::string, int64_t> &syms;
  std::vector<std::string> *read; // where asked: the symbols read, each once
  size_t pos = 0;
  bool ok = true;
  int depth = 0;
  int64_t primary() {
    if (pos < s.size() && s[pos] == '(') {
      if (++depth > 64) {
        ok = false;
        return 0;
      }
      ++pos;
      int64_t v = sum();
      --depth;
      if (pos >= s.size() || s[pos] != ')') ok = false;
      ++pos;
      return v;
    }
    if (pos < s.size() && (std::isdigit(uint8_t(s[pos])) || s[pos] == '-')) {
      bool negative = s[pos] == '-';
      size_t start = negative ? ++pos : pos;
      int64_t v = 0;
      while (pos < s.size() && std::isdigit(uint8_t(s[pos]))) {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[pos] - '0', &v)) ok = false;
        ++pos;
      }
      if (pos == start) ok = false;
      return negative ? -v : v;
    }
    size_t start = pos;
    while (pos < s.size() && (std::isalnum(uint8_t(s[pos])) || s[pos] == '_')) ++pos;
    auto it = syms.find(s.substr(start, pos - start));
    if (start == pos || it == syms.end()) {
      ok = false;
      return 0;
    }
    if (read && std::find(read->begin(), read->end(), it->first) == read->end()) read->push_back(it->first);
    return it->second;
  }
  int64_t product() {
    int64_t v = primary();
    while (ok && pos < s.size() && (s[pos] == '*' || s[pos] == '/')) {
      char op = s[pos++];
      int64_t r = primary();
      if (op == '*') {
        if (__builtin_mul_overflow(v, r, &v)) ok = false;
      } else if (r == 0 || (r == -1 && v == INT64_MIN)) {
        ok = false;
      } else {
        v = (v / r) - ((v % r != 0) && ((v < 0) != (r < 0)));
      }
    }
    return v;
  }
  int64_t sum() {
    int64_t v = product();
    while (ok && pos < s.size() && (s[pos] == '+' || (s[pos] == '-' && pos > 0))) {
      char op = s[pos++];
      int64_t r = product();
      if (op == '+' ? __builtin_add_overflow(v, r, &v) : __builtin_sub_overflow(v, r, &v)) ok = false;
    }
    return v;
  }
};
} // namespace

std::optional<int64_t> evalDim(const std::string &expr, const std::map<std::string, int64_t> &symbols,
                               std::vector<std::string> *read) {
  DimParser p{expr, symbols, read};
  int64_t v = p.sum();
  if (!p.ok || p.pos != expr.size()) return std::nullopt;
  return v;
}

} // namespace dlrt
