//===- GraphDot.cpp - the model as a Graphviz picture ---------------------===//
#include "compiler/Frontend/GraphDot.h"

#include <set>

namespace dlc {

namespace {

/// Text for an HTML-like Graphviz label.
std::string escape(const std::string &s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

/// 1234567 -> "1.23M", 8320 -> "8,320".
std::string count(int64_t n) {
  char buf[32];
  if (n >= 10000000) std::snprintf(buf, sizeof buf, "%.1fM", double(n) / 1e6);
  else if (n >= 1000000) std::snprintf(buf, sizeof buf, "%.2fM", double(n) / 1e6);
  else if (n >= 1000) std::snprintf(buf, sizeof buf, "%lld,%03lld", (long long)(n / 1000), (long long)(n % 1000));
  else std::snprintf(buf, sizeof buf, "%lld", (long long)n);
  return buf;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

} // namespace

void printModelDot(const ModelGraph &g, llvm::raw_ostream &os) {
  os << "digraph \"" << escape(g.name) << "\" {\n"
     << "  graph [rankdir=TB, fontname=\"Helvetica\", labelloc=t, fontsize=14, label=<<b>" << escape(g.name)
     << "</b>>];\n"
     << "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=11, "
        "fillcolor=\"#e8eef8\", color=\"#5b6f91\"];\n"
     << "  edge [fontname=\"Helvetica\", fontsize=9, color=\"#5b6f91\", fontcolor=\"#3a4760\"];\n";
  std::set<int> trainOnly;
  for (size_t k = 0; k < g.inputs.size(); ++k) {
    int v = g.inputs[k];
    bool train = k < g.inputTrainOnly.size() && g.inputTrainOnly[k];
    if (train) trainOnly.insert(v);
    const GraphValue &gv = g.values[v];
    os << "  v" << v << " [shape=cds, fillcolor=\"" << (train ? "#f2f2f2" : "#dff0d8")
       << "\", label=<<b>input</b>&#160;" << escape(gv.name) << "<br/><font point-size=\"9\">" << escape(gv.type.str())
       << (train ? " (train only)" : "") << "</font>>];\n";
  }
  int lossValue = g.train ? g.train->loss : -1;
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    const GraphNode &node = g.nodes[n];
    int64_t params = 0;
    std::vector<std::string> literals;
    for (int o : node.operands) {
      const GraphValue &v = g.values[o];
      if (v.kind == GraphValue::Param) params += v.type.numel().constant().value_or(0);
      else if (v.kind == GraphValue::Constant) literals.push_back(number(v.constant));
    }
    std::string label = "<b>" + escape(node.def->name) + "</b>";
    if (!node.layerName.empty()) label += "&#160;" + escape(node.layerName);
    if (!literals.empty()) {
      std::string l;
      for (const std::string &s : literals) l += (l.empty() ? "" : ", ") + s;
      label += "<br/><font point-size=\"9\">with " + escape(l) + "</font>";
    }
    if (params) label += "<br/><font point-size=\"9\">" + count(params) + " params</font>";
    if (node.def->plugin.plugin) label += "<br/><font point-size=\"9\">" + escape(node.def->origin) + "</font>";
    bool isLoss = node.result == lossValue;
    os << "  n" << n << " [label=<" << label << ">"
       << (isLoss ? ", fillcolor=\"#fbe3d6\"" : node.def->plugin.plugin ? ", fillcolor=\"#efe3f7\"" : "") << "];\n";
    for (int o : node.operands) {
      const GraphValue &v = g.values[o];
      if (v.kind == GraphValue::Input) os << "  v" << o;
      else if (v.kind == GraphValue::Result) os << "  n" << v.node;
      else continue;
      os << " -> n" << n << " [label=\" " << escape(v.type.str()) << "\"";
      if (trainOnly.count(o)) os << ", style=dashed";
      os << "];\n";
    }
  }
  auto producer = [&](int v) {
    const GraphValue &gv = g.values[v];
    return gv.kind == GraphValue::Result ? "n" + std::to_string(gv.node) : "v" + std::to_string(v);
  };
  for (size_t k = 0; k < g.outputs.size(); ++k) {
    const GraphOutput &o = g.outputs[k];
    const GraphValue &v = g.values[o.value];
    os << "  o" << k << " [shape=cds, fillcolor=\"#fcf3cf\", label=<<b>output</b>&#160;" << escape(o.name) << ">];\n"
       << "  " << producer(o.value) << " -> o" << k << " [label=\" " << escape(v.type.str()) << "\"];\n";
  }
  if (g.train) {
    std::string opt = g.train->optimizer;
    os << "  loss [shape=cds, fillcolor=\"#fbe3d6\", label=<<b>loss</b><br/><font point-size=\"9\">optimizer "
       << escape(opt) << "</font>>];\n"
       << "  " << producer(lossValue) << " -> loss [style=dashed];\n";
  }
  os << "}\n";
}

} // namespace dlc
