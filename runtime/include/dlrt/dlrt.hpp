//===- dlrt.hpp - a header-only C++ wrapper over the dlrt C API -*- C++ -*-===//
//
// RAII handles; failures throw dlrt::Error with the runtime's message. The C ABI below
// never throws: exceptions exist only on the application's side of this header.
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_DLRT_HPP
#define DLRT_DLRT_HPP

#include "dlrt/dlrt.h"

#include <stdexcept>
#include <string>
#include <vector>

namespace dlrt {

class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Throws the status's message (and frees the status) if it is a failure.
inline void check(dlrt_status st) {
  if (!st) return;
  std::string msg = dlrt_status_message(st);
  dlrt_status_free(st);
  throw Error(msg);
}

/// Adds a folder where plugins' run-time parts are looked for (dlrt_add_plugin_dir).
inline void addPluginDir(const std::string &dir) { check(dlrt_add_plugin_dir(dir.c_str())); }

class Model {
public:
  explicit Model(const std::string &path) { check(dlrt_model_load(path.c_str(), &handle)); }
  ~Model() { dlrt_model_free(handle); }
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;
  const dlrt_model *get() const { return handle; }
  std::string name() const { return dlrt_model_name(handle); }
  int numInputs() const { return dlrt_model_num_inputs(handle); }
  int numOutputs() const { return dlrt_model_num_outputs(handle); }
  int numParams() const { return dlrt_model_num_params(handle); }
  dlrt_value_info input(int i) const { return info(dlrt_model_input, i); }
  dlrt_value_info output(int i) const { return info(dlrt_model_output, i); }
  dlrt_value_info param(int i) const { return info(dlrt_model_param, i); }

private:
  template <typename F> dlrt_value_info info(F f, int i) const {
    dlrt_value_info v;
    check(f(handle, i, &v));
    return v;
  }
  dlrt_model *handle = nullptr;
};

class Session {
public:
  Session(const Model &model, int threads = 0, uint64_t seed = 0) : model(model) {
    dlrt_session_options o;
    dlrt_session_options_init(&o);
    o.num_threads = threads;
    o.seed = seed;
    check(dlrt_session_create(model.get(), &o, &handle));
  }
  ~Session() { dlrt_session_free(handle); }
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;
  dlrt_session *get() { return handle; }

  /// The shape of every output for these inputs.
  std::vector<std::vector<int64_t>> outputShapes(const std::vector<dlrt_tensor> &inputs) {
    size_t total = 0;
    for (int i = 0; i < model.numOutputs(); ++i) total += size_t(model.output(i).rank);
    std::vector<int64_t> flat(total + 1);
    check(dlrt_output_shapes(handle, inputs.data(), int32_t(inputs.size()), flat.data(), flat.size()));
    std::vector<std::vector<int64_t>> out;
    size_t k = 0;
    for (int i = 0; i < model.numOutputs(); ++i) {
      int r = model.output(i).rank;
      out.emplace_back(flat.begin() + k, flat.begin() + k + r);
      k += size_t(r);
    }
    return out;
  }
  void infer(const std::vector<dlrt_tensor> &inputs, std::vector<dlrt_tensor> &outputs) {
    check(dlrt_infer(handle, inputs.data(), int32_t(inputs.size()), outputs.data(), int32_t(outputs.size())));
  }
  void loadWeights(const std::string &path) {
    char *warnings = nullptr;
    check(dlrt_load_weights(handle, path.c_str(), &warnings));
    dlrt_string_free(warnings);
  }
  void saveWeights(const std::string &path) { check(dlrt_save_weights(handle, path.c_str())); }
  void getParam(const std::string &name, dlrt_tensor &out) { check(dlrt_get_param(handle, name.c_str(), &out)); }
  void setParam(const std::string &name, const dlrt_tensor &v) { check(dlrt_set_param(handle, name.c_str(), &v)); }

  /// One optimizer step on a batch (every model input, in model order); returns the loss.
  /// `predictions` (i64, the labels' shape) receives the predicted classes if given.
  float trainStep(const std::vector<dlrt_tensor> &inputs, dlrt_tensor *predictions = nullptr) {
    float loss = 0;
    dlrt_step_results r{&loss, predictions, nullptr, 0};
    check(dlrt_train_step(handle, inputs.data(), int32_t(inputs.size()), &r));
    return loss;
  }
  /// The loss without an update (dropout off, batch norm on running statistics).
  float evalStep(const std::vector<dlrt_tensor> &inputs, dlrt_tensor *predictions = nullptr) {
    float loss = 0;
    dlrt_step_results r{&loss, predictions, nullptr, 0};
    check(dlrt_eval_step(handle, inputs.data(), int32_t(inputs.size()), &r));
    return loss;
  }
  void setLearningRate(double lr) { check(dlrt_set_lr(handle, lr)); }
  double learningRate() const { return dlrt_get_lr(handle); }
  int64_t steps() const { return dlrt_session_steps(handle); }
  void saveCheckpoint(const std::string &path, const std::string &userState = "") {
    check(dlrt_save_checkpoint(handle, path.c_str(), userState.c_str()));
  }
  /// Returns the caller string stored with the checkpoint.
  std::string loadCheckpoint(const std::string &path) {
    char *user = nullptr;
    check(dlrt_load_checkpoint(handle, path.c_str(), &user));
    std::string s = user ? user : "";
    dlrt_string_free(user);
    return s;
  }

private:
  const Model &model;
  dlrt_session *handle = nullptr;
};

} // namespace dlrt
#endif
