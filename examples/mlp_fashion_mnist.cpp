// End-to-end job on the tensor library alone: a 784-256-10 MLP trained with
// mini-batch SGD + momentum on Fashion-MNIST, written with raw ops and
// autograd (no module library yet). It reports loss, throughput and test
// accuracy. Usage: mlp_fashion_mnist DATA_DIR [epochs] [threads]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <numeric>

#include "tessera/data/idx.h"
#include "tessera/tessera.h"

using namespace tessera;

namespace {

Tensor init_uniform(const Shape& shape, int64_t fan_in, Generator& gen) {
  double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));  // torch.nn.Linear's default range
  Tensor u = rand(shape, gen);
  Tensor w = add(mul(u, 2.0 * bound), -bound).detach();
  return w.set_requires_grad(true);
}

double accuracy(const Tensor& logits, const Tensor& labels) {
  auto pred = argmax(logits, 1).to_vector<int64_t>();
  auto gold = labels.to_vector<int64_t>();
  int64_t ok = 0;
  for (size_t i = 0; i < pred.size(); ++i) ok += pred[i] == gold[i];
  return static_cast<double>(ok) / static_cast<double>(pred.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: mlp_fashion_mnist DATA_DIR [epochs] [threads]\n";
    return 2;
  }
  try {
    std::string dir = argv[1];
    int epochs = argc > 2 ? std::stoi(argv[2]) : 2;
    if (argc > 3) set_num_threads(std::stoi(argv[3]));
    Tensor xtr = data::read_idx(dir + "/train-images-idx3-ubyte.gz").reshape({-1, 784});
    Tensor ytr = data::read_idx(dir + "/train-labels-idx1-ubyte.gz");
    Tensor xte = data::read_idx(dir + "/t10k-images-idx3-ubyte.gz").reshape({-1, 784});
    Tensor yte = data::read_idx(dir + "/t10k-labels-idx1-ubyte.gz");
    TSR_CHECK(xtr.size(0) == ytr.size(0), ShapeError, "train images (", xtr.size(0), ") and labels (", ytr.size(0),
              ") differ in count");
    std::printf("Fashion-MNIST: %lld train, %lld test images; %d threads\n", (long long)xtr.size(0),
                (long long)xte.size(0), get_num_threads());

    Generator gen(0);
    Tensor w1 = init_uniform({256, 784}, 784, gen), b1 = init_uniform({256}, 784, gen);
    Tensor w2 = init_uniform({10, 256}, 256, gen), b2 = init_uniform({10}, 256, gen);
    std::vector<Tensor> params{w1, b1, w2, b2};
    std::vector<Tensor> velocity;
    for (auto& p : params) velocity.push_back(zeros_like(p));
    const double lr = 0.02, momentum = 0.9;
    const int64_t batch = 128, n = xtr.size(0);

    auto forward = [&](const Tensor& x) { return linear(relu(linear(x, w1, b1)), w2, b2); };
    for (int epoch = 0; epoch < epochs; ++epoch) {
      auto t0 = std::chrono::steady_clock::now();
      Tensor perm = randint(0, 1 << 30, {n}, gen);  // shuffle by sorting random keys
      auto keys = perm.to_vector<int64_t>();
      std::vector<int64_t> order(n);
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return keys[a] < keys[b]; });
      Tensor order_t = from_vector<int64_t>(order, {n});
      double loss_sum = 0;
      int64_t steps = 0;
      for (int64_t s = 0; s + batch <= n; s += batch) {
        Tensor idx = order_t.narrow(0, s, batch);
        Tensor xb = index_select(xtr, 0, idx), yb = index_select(ytr, 0, idx);
        Tensor loss = cross_entropy(forward(xb), yb);
        for (auto& p : params) p.zero_grad();
        loss.backward();
        {
          NoGradGuard ng;
          for (size_t i = 0; i < params.size(); ++i) {
            velocity[i].mul_(momentum).add_(params[i].grad());
            params[i].add_(velocity[i], -lr);
          }
        }
        loss_sum += loss.item();
        ++steps;
      }
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      double acc;
      {
        NoGradGuard ng;
        acc = accuracy(forward(xte), yte);
      }
      std::printf("epoch %d: train loss %.4f, %.0f samples/s, test accuracy %.2f%%\n", epoch + 1, loss_sum / steps,
                  steps * batch / secs, 100.0 * acc);
    }
    return 0;
  } catch (const Error& e) {
    std::cerr << "mlp_fashion_mnist: " << e.what() << "\n";
    return 1;
  }
}
