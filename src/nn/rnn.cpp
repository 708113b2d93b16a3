// RNN / LSTM / GRU. Each layer and direction projects its whole input sequence
// with one GEMM, then steps through time with tensor ops (linear, sigmoid,
// tanh, mul, add), so autograd handles backpropagation through time. The cell
// formulas follow torch's CPU cells operation for operation (gh + gi, then the
// gates), which keeps float32 results within rounding of torch's.
#include "tessera/nn/rnn.h"

#include <cmath>
#include <memory>

#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/node.h"
#include "tessera/nn/init.h"
#include "tessera/ops/activation.h"
#include "tessera/ops/dropout.h"
#include "tessera/ops/elementwise.h"
#include "tessera/ops/indexing.h"
#include "tessera/ops/linalg.h"

namespace tessera::nn {

namespace {

// The time steps of a projection proj (L, N, G), as (N, G) tensors indexed by
// time. Plain select() would cost O(L) per step in backward (each select's
// gradient is a zero-filled (L, N, G) tensor, and the engine adds L of them),
// so a long sequence would backprop in O(L^2). Instead every step writes its
// gradient into one shared buffer, and only the step processed first returns
// the buffer as proj's gradient. Each step's node takes the previously
// processed step's slice as an extra (numerically unused) input, so the engine,
// which runs a node only after all its consumers, runs that first step's node
// last. The first step is upstream of every later step through the recurrent
// state, so whenever any step receives a gradient, it does too.
std::vector<Tensor> step_slices(const Tensor& proj, bool reverse) {
  const int64_t L = proj.size(0);
  std::vector<Tensor> steps(L);
  if (!any_requires_grad({&proj})) {
    for (int64_t t = 0; t < L; ++t) steps[t] = proj.select(0, t);
    return steps;
  }
  auto acc = std::make_shared<Tensor>();  // (L, N, G) gradient being gathered
  const Shape shape = proj.shape();
  const TensorOptions opts{.dtype = proj.dtype(), .device = proj.device()};
  Tensor prev;
  for (int64_t k = 0; k < L; ++k) {
    const int64_t t = reverse ? L - 1 - k : k;
    Tensor piece;
    {
      NoGradGuard no_grad;
      piece = proj.select(0, t);
    }
    auto write = [acc, shape, opts, t](const Tensor& g) {
      if (!acc->defined()) *acc = zeros(shape, opts);
      acc->select(0, t).copy_(g);
    };
    if (k == 0) {
      record("rnn_step_input", piece, {proj}, [write, acc](const Tensor& g) -> std::vector<Tensor> {
        write(g);
        Tensor full = *acc;
        *acc = Tensor();  // a retained graph's next backward starts from zeros again
        return {full};
      });
    } else {
      record("rnn_step_input", piece, {proj, prev}, [write](const Tensor& g) -> std::vector<Tensor> {
        write(g);
        return {Tensor(), Tensor()};
      });
    }
    steps[t] = piece;
    prev = piece;
  }
  return steps;
}

}  // namespace

RNNBase::RNNBase(Mode mode, const char* type_name, const RNNOptions& o)
    : Module(type_name),
      options(o),
      mode_(mode),
      gen_(default_generator().seed() * 6364136223846793005ull + default_generator().reserve(1) +
           1442695040888963407ull) {
  const std::string name = type_name;
  TSR_CHECK(o.input_size >= 0 && o.hidden_size > 0, ShapeError, name, ": input_size must be >= 0 and hidden_size > 0, got ",
            o.input_size, " and ", o.hidden_size);
  TSR_CHECK(o.num_layers >= 1, Error, name, ": num_layers must be >= 1, got ", o.num_layers);
  TSR_CHECK(o.dropout >= 0.0 && o.dropout <= 1.0, Error, name, ": dropout must be in [0, 1], got ", o.dropout);
  const int64_t G = num_gates() * o.hidden_size, D = num_directions();
  for (int64_t layer = 0; layer < o.num_layers; ++layer) {
    const int64_t in = layer == 0 ? o.input_size : o.hidden_size * D;
    for (int64_t d = 0; d < D; ++d) {
      const std::string sfx = "_l" + std::to_string(layer) + (d == 1 ? "_reverse" : "");
      Weights w{};
      w.w_ih = &register_parameter("weight_ih" + sfx, empty({G, in}));                 // (G*H, in)
      w.w_hh = &register_parameter("weight_hh" + sfx, empty({G, o.hidden_size}));      // (G*H, H)
      w.b_ih = &register_parameter("bias_ih" + sfx, o.bias ? empty({G}) : Tensor());  // (G*H)
      w.b_hh = &register_parameter("bias_hh" + sfx, o.bias ? empty({G}) : Tensor());  // (G*H)
      weights_.push_back(w);
    }
  }
  reset_parameters();
}

int64_t RNNBase::num_gates() const {
  switch (mode_) {
    case Mode::LSTM: return 4;
    case Mode::GRU: return 3;
    default: return 1;
  }
}

void RNNBase::reset_parameters() {
  // torch: every parameter ~ U(-1/sqrt(H), 1/sqrt(H)).
  const double bound = 1.0 / std::sqrt(static_cast<double>(options.hidden_size));
  for (Weights& w : weights_)
    for (Tensor* p : {w.w_ih, w.w_hh, w.b_ih, w.b_hh})
      if (p->defined() && p->numel() > 0) init::uniform_(*p, -bound, bound);
}

Shape RNNBase::state_shape(bool batched, int64_t batch) const {
  const int64_t n = num_directions() * options.num_layers;
  return batched ? Shape{n, batch, options.hidden_size} : Shape{n, options.hidden_size};
}

void RNNBase::check_state(const Tensor& s, const char* name, const Tensor& input, bool batched, int64_t batch) const {
  const Shape want = state_shape(batched, batch);
  TSR_CHECK(s.shape() == want, ShapeError, qualified_name(), ": ", name, " has shape ", shape_str(s.shape()),
            " but input of shape ", shape_str(input.shape()), " needs ", shape_str(want),
            " (num_layers * num_directions, ", batched ? "batch, " : "", "hidden_size)");
  TSR_CHECK(s.dtype() == input.dtype(), DTypeError, qualified_name(), ": ", name, " has dtype ", dtype_name(s.dtype()),
            " but the input has ", dtype_name(input.dtype()));
}

Tensor RNNBase::forward(const Tensor& x) { return run(x, Tensor(), Tensor()).output; }

RNNResult RNNBase::run(const Tensor& input, const Tensor& h0, const Tensor& c0) {
  const RNNOptions& o = options;
  TSR_CHECK(input.defined(), Error, qualified_name(), ": input is undefined");
  TSR_CHECK(is_floating(input.dtype()), DTypeError, qualified_name(), ": input must be floating point, got ",
            dtype_name(input.dtype()));
  TSR_CHECK(input.dim() == 2 || input.dim() == 3, ShapeError, qualified_name(),
            ": expected input of shape ", o.batch_first ? "(N, L, input_size)" : "(L, N, input_size)",
            " or unbatched (L, input_size), got ", shape_str(input.shape()));
  TSR_CHECK(input.size(-1) == o.input_size, ShapeError, qualified_name(), " (input_size=", o.input_size, ", hidden_size=",
            o.hidden_size, "): input of shape ", shape_str(input.shape()), " must have ", o.input_size,
            " features in its last dim, got ", input.size(-1));
  const bool batched = input.dim() == 3;
  // Time-major (L, N, input_size) from here on.
  Tensor x = !batched ? input.unsqueeze(1) : o.batch_first ? input.transpose(0, 1) : input;
  const int64_t L = x.size(0), N = x.size(1), H = o.hidden_size, D = num_directions();
  TSR_CHECK(L > 0, ShapeError, qualified_name(), ": input of shape ", shape_str(input.shape()), " has an empty sequence");
  if (h0.defined()) check_state(h0, "h0", input, batched, N);
  if (c0.defined()) check_state(c0, "c0", input, batched, N);
  Tensor hx = h0.defined() && !batched ? h0.unsqueeze(1) : h0;  // (D*layers, N, H)
  Tensor cx = c0.defined() && !batched ? c0.unsqueeze(1) : c0;
  const TensorOptions state_opts{.dtype = input.dtype(), .device = input.device()};

  std::vector<Tensor> h_last, c_last;  // per (layer, direction): (N, H)
  for (int64_t layer = 0; layer < o.num_layers; ++layer) {
    std::vector<Tensor> dir_out;
    for (int64_t d = 0; d < D; ++d) {
      const int64_t idx = layer * D + d;
      const Weights& w = weights_[idx];
      Tensor proj = linear(x, *w.w_ih, *w.b_ih);  // (L, N, G*H)
      std::vector<Tensor> gi = step_slices(proj, d == 1);
      Tensor h = hx.defined() ? hx.select(0, idx) : zeros({N, H}, state_opts);  // (N, H)
      Tensor c;
      if (mode_ == Mode::LSTM) c = cx.defined() ? cx.select(0, idx) : zeros({N, H}, state_opts);
      std::vector<Tensor> hs(L);
      for (int64_t k = 0; k < L; ++k) {
        const int64_t t = d == 1 ? L - 1 - k : k;
        Tensor gh = linear(h, *w.w_hh, *w.b_hh);  // (N, G*H)
        switch (mode_) {
          case Mode::RNN_TANH: h = tanh(gh + gi[t]); break;
          case Mode::RNN_RELU: h = relu(gh + gi[t]); break;
          case Mode::LSTM: {
            Tensor gates = gh + gi[t];
            Tensor i = sigmoid(gates.narrow(1, 0, H));
            Tensor f = sigmoid(gates.narrow(1, H, H));
            Tensor g = tanh(gates.narrow(1, 2 * H, H));
            Tensor og = sigmoid(gates.narrow(1, 3 * H, H));
            c = f * c + i * g;
            h = og * tanh(c);
            break;
          }
          case Mode::GRU: {
            const Tensor& it = gi[t];
            Tensor r = sigmoid(gh.narrow(1, 0, H) + it.narrow(1, 0, H));
            Tensor z = sigmoid(gh.narrow(1, H, H) + it.narrow(1, H, H));
            Tensor n = tanh(it.narrow(1, 2 * H, H) + gh.narrow(1, 2 * H, H) * r);
            h = (h - n) * z + n;
            break;
          }
        }
        hs[t] = h;
      }
      dir_out.push_back(stack(hs, 0));  // (L, N, H)
      h_last.push_back(h);
      if (mode_ == Mode::LSTM) c_last.push_back(c);
    }
    x = D == 2 ? cat(dir_out, 2) : dir_out[0];  // (L, N, D*H)
    if (layer + 1 < o.num_layers && o.dropout > 0.0 && is_training()) x = dropout(x, o.dropout, true, gen_);
  }

  RNNResult r;
  r.output = !batched ? x.squeeze(1) : o.batch_first ? x.transpose(0, 1) : x;
  r.h_n = stack(h_last, 0);  // (D*layers, N, H)
  if (!batched) r.h_n = r.h_n.squeeze(1);
  if (mode_ == Mode::LSTM) {
    r.c_n = stack(c_last, 0);
    if (!batched) r.c_n = r.c_n.squeeze(1);
  }
  return r;
}

RNN::RNN(const RNNOptions& o)
    : RNNBase(o.nonlinearity == "relu" ? Mode::RNN_RELU : Mode::RNN_TANH, "RNN", o) {
  TSR_CHECK(o.nonlinearity == "tanh" || o.nonlinearity == "relu", Error, "RNN: unknown nonlinearity '",
            o.nonlinearity, "' (expected \"tanh\" or \"relu\")");
}

RNNResult RNN::forward(const Tensor& input, const Tensor& h0) { return run(input, h0, Tensor()); }

LSTM::LSTM(const LSTMOptions& o) : RNNBase(Mode::LSTM, "LSTM", o) {
  TSR_CHECK(o.nonlinearity == "tanh", Error, "LSTM: nonlinearity is an RNN option, got '", o.nonlinearity, "'");
}

RNNResult LSTM::forward(const Tensor& input, const Tensor& h0, const Tensor& c0) {
  TSR_CHECK(h0.defined() == c0.defined(), Error, qualified_name(), ": give both h0 and c0 or neither (got only ",
            h0.defined() ? "h0" : "c0", ")");
  return run(input, h0, c0);
}

GRU::GRU(const GRUOptions& o) : RNNBase(Mode::GRU, "GRU", o) {
  TSR_CHECK(o.nonlinearity == "tanh", Error, "GRU: nonlinearity is an RNN option, got '", o.nonlinearity, "'");
}

RNNResult GRU::forward(const Tensor& input, const Tensor& h0) { return run(input, h0, Tensor()); }

}  // namespace tessera::nn
