// Recurrent layers RNN (tanh / relu), LSTM and GRU, as torch.nn: the same
// options, parameter names and layout (weight_ih_l0 (gates*H, in), weight_hh_l0
// (gates*H, H), bias_ih_l0, bias_hh_l0, "_reverse" for the backward direction),
// gate order (LSTM i, f, g, o; GRU r, z, n), default init U(-1/sqrt(H), 1/sqrt(H))
// and output shapes, so a torch state_dict loads by name.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "tessera/core/random.h"
#include "tessera/nn/module.h"

namespace tessera::nn {

// Options shared by RNN, LSTM and GRU (torch.nn.RNNBase's arguments).
struct RNNOptions {
  int64_t input_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;    // input/output (N, L, F) instead of (L, N, F); states are always (D*layers, N, H)
  double dropout = 0.0;        // on each layer's output except the last, in training only
  bool bidirectional = false;
  std::string nonlinearity = "tanh";  // RNN only: "tanh" or "relu"
};
using LSTMOptions = RNNOptions;
// Sizes set, everything else torch's default.
inline RNNOptions rnn_options(int64_t input_size, int64_t hidden_size, int64_t num_layers = 1) {
  RNNOptions o;
  o.input_size = input_size;
  o.hidden_size = hidden_size;
  o.num_layers = num_layers;
  return o;
}
using GRUOptions = RNNOptions;

// What a forward returns: output (L, N, D*H) (batch_first: (N, L, D*H);
// unbatched input: (L, D*H)) and the final states (D*num_layers, N, H)
// (unbatched: (D*num_layers, H)). c_n is set by LSTM only.
struct RNNResult {
  Tensor output;
  Tensor h_n;
  Tensor c_n;
};

// The shared machinery: parameter registration, shape checks and the layer /
// direction loop. Each step is composed from tensor ops, so autograd runs
// through time; the input projection of a whole layer is one GEMM.
class RNNBase : public Module {
 public:
  enum class Mode { RNN_TANH, RNN_RELU, LSTM, GRU };

  RNNBase(Mode mode, const char* type_name, const RNNOptions& o);
  void reset_parameters();
  Generator& generator() { return gen_; }  // dropout between layers draws from here

  // Single-tensor forward (Sequential): the output sequence only.
  Tensor forward(const Tensor& x) override;

  RNNOptions options;

 protected:
  // h0 / c0 undefined: zeros.
  RNNResult run(const Tensor& input, const Tensor& h0, const Tensor& c0);

 private:
  int64_t num_gates() const;
  int64_t num_directions() const { return options.bidirectional ? 2 : 1; }
  Shape state_shape(bool batched, int64_t batch) const;
  void check_state(const Tensor& s, const char* name, const Tensor& input, bool batched, int64_t batch) const;

  Mode mode_;
  // Per (layer, direction), in torch's order: weight_ih, weight_hh, bias_ih, bias_hh.
  struct Weights {
    Tensor* w_ih;
    Tensor* w_hh;
    Tensor* b_ih;  // points to an undefined tensor when bias = false
    Tensor* b_hh;
  };
  std::vector<Weights> weights_;  // index layer * D + direction
  Generator gen_;
};

// Elman RNN: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or relu.
class RNN : public RNNBase {
 public:
  explicit RNN(const RNNOptions& o);
  RNN(int64_t input_size, int64_t hidden_size, int64_t num_layers = 1)
      : RNN(rnn_options(input_size, hidden_size, num_layers)) {}
  using RNNBase::forward;
  RNNResult forward(const Tensor& input, const Tensor& h0);
};

// LSTM with torch's gate order i, f, g, o:
// c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t).
class LSTM : public RNNBase {
 public:
  explicit LSTM(const LSTMOptions& o);
  LSTM(int64_t input_size, int64_t hidden_size, int64_t num_layers = 1)
      : LSTM(rnn_options(input_size, hidden_size, num_layers)) {}
  using RNNBase::forward;
  // h0 and c0 are given together or not at all (as torch's (h0, c0) tuple).
  RNNResult forward(const Tensor& input, const Tensor& h0, const Tensor& c0);
};

// GRU with torch's gate order r, z, n:
// n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h_t = (1 - z) * n + z * h_{t-1}.
class GRU : public RNNBase {
 public:
  explicit GRU(const GRUOptions& o);
  GRU(int64_t input_size, int64_t hidden_size, int64_t num_layers = 1)
      : GRU(rnn_options(input_size, hidden_size, num_layers)) {}
  using RNNBase::forward;
  RNNResult forward(const Tensor& input, const Tensor& h0);
};

}  // namespace tessera::nn
