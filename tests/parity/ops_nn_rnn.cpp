// Parity registrations: RNN, LSTM, GRU (weights bound by torch's names, or
// loaded through load_state_dict). Inputs: x, attrs["states"] initial states,
// then the parameters.
#include "registry.h"
#include "tessera/nn/rnn.h"

namespace {
using namespace tessera;
using parity::attr;

nn::RNNOptions options_from(const nlohmann::json& a) {
  nn::RNNOptions o;
  o.input_size = attr<int64_t>(a, "input_size");
  o.hidden_size = attr<int64_t>(a, "hidden");
  o.num_layers = attr<int64_t>(a, "layers");
  o.bias = attr<bool>(a, "bias");
  o.batch_first = attr<bool>(a, "batch_first");
  o.bidirectional = attr<bool>(a, "bidirectional");
  o.dropout = attr<double>(a, "dropout");
  return o;
}

size_t num_states(const nlohmann::json& a) { return static_cast<size_t>(attr<int64_t>(a, "states")); }
Tensor state(const std::vector<Tensor>& in, const nlohmann::json& a, size_t k) {
  return k < num_states(a) ? in[1 + k] : Tensor();
}

}  // namespace

PARITY_OP(nn_rnn) {
  nn::RNNOptions o = options_from(attrs);
  o.nonlinearity = attr<std::string>(attrs, "nonlinearity");
  nn::RNN m(o);
  parity::bind_params(m, in, 1 + num_states(attrs), attrs);
  auto r = m.forward(in[0], state(in, attrs, 0));
  return {r.output, r.h_n};
}

PARITY_OP(nn_lstm) {
  nn::LSTM m(options_from(attrs));
  parity::bind_params(m, in, 1 + num_states(attrs), attrs);
  auto r = m.forward(in[0], state(in, attrs, 0), state(in, attrs, 1));
  return {r.output, r.h_n, r.c_n};
}

PARITY_OP(nn_gru) {
  nn::GRU m(options_from(attrs));
  parity::bind_params(m, in, 1 + num_states(attrs), attrs);
  auto r = m.forward(in[0], state(in, attrs, 0));
  return {r.output, r.h_n};
}

// torch's state_dict, by name, through the strict load_state_dict path.
PARITY_OP(nn_lstm_load_state_dict) {
  nn::LSTM m(options_from(attrs));
  auto names = attrs.at("params").get<std::vector<std::string>>();
  const size_t first = 1 + num_states(attrs);
  if (first + names.size() != in.size()) throw Error("nn_lstm_load_state_dict: parameter count mismatch");
  nn::StateDict sd;
  for (size_t i = 0; i < names.size(); ++i) sd[names[i]] = in[first + i];
  m.load_state_dict(sd);
  m.train(attrs.value("train", false));
  auto r = m.forward(in[0], state(in, attrs, 0), state(in, attrs, 1));
  return {r.output, r.h_n, r.c_n};
}
