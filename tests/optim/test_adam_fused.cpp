// The fused Adam/AdamW step over a whole parameter group (one pass, AVX-512
// lanes for float32 where the CPU has them) equals torch's op sequence written
// out one element at a time, bit for bit: every parameter of a group, sizes
// that end mid-vector and that span several threads' chunks, AdamW decay, Adam
// L2 decay, AMSGrad, and a parameter without a gradient left untouched.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "tessera/optim/adam.h"
#include "tessera/tessera.h"

using namespace tessera;

namespace {

struct Reference {
  std::vector<float> p, m, v, vmax;
};

// torch.optim's single-tensor Adam/AdamW step with Python-double scalars rounded to float.
void reference_step(Reference& r, const std::vector<float>& g, double lr, double b1, double b2, double eps, double wd,
                    bool amsgrad, bool decoupled, int step) {
  const double bc1 = 1.0 - std::pow(b1, step), bc2 = 1.0 - std::pow(b2, step);
  const float decay = static_cast<float>(1.0 - lr * wd), wdf = static_cast<float>(wd);
  const float beta1 = static_cast<float>(b1), omb1 = static_cast<float>(1.0 - b1);
  const float beta2 = static_cast<float>(b2), omb2 = static_cast<float>(1.0 - b2);
  const float bc2s = static_cast<float>(std::sqrt(bc2)), epsf = static_cast<float>(eps);
  const float nss = static_cast<float>(-(lr / bc1));
  for (size_t i = 0; i < r.p.size(); ++i) {
    volatile float p = r.p[i];  // volatile: no contraction of p * decay into the update
    if (decoupled) p = p * decay;
    const float gi = !decoupled && wd != 0.0 ? std::fma(wdf, static_cast<float>(p), g[i]) : g[i];
    r.m[i] = std::fma(omb1, gi, r.m[i] * beta1);
    r.v[i] = std::fma(omb2 * gi, gi, r.v[i] * beta2);
    float second = r.v[i];
    if (amsgrad) second = r.vmax[i] = std::max(r.vmax[i], r.v[i]);
    volatile float denom = std::sqrt(second) / bc2s;
    denom = denom + epsf;
    volatile float delta = (nss * r.m[i]) / denom;
    r.p[i] = p + delta;
  }
}

template <class Opt, class Options>
void expect_fused_equals_reference(Options o, bool decoupled, int threads) {
  const int before = get_num_threads();
  set_num_threads(threads);
  Generator gen(17);
  const std::vector<int64_t> sizes = {1, 15, 17, 40000, 33};  // 40000 spans chunks of both threads
  std::vector<Tensor> params;
  std::vector<Reference> refs;
  for (int64_t n : sizes) {
    params.push_back(randn({n}, gen).set_requires_grad(true));
    auto v = params.back().to_vector<float>();
    refs.push_back({v, std::vector<float>(v.size()), std::vector<float>(v.size()), std::vector<float>(v.size())});
  }
  Tensor frozen = randn({9}, gen).set_requires_grad(true);  // never gets a gradient
  const auto frozen_before = frozen.to_vector<float>();
  std::vector<Tensor> all = params;
  all.push_back(frozen);
  Opt opt(all, o);
  for (int step = 1; step <= 3; ++step) {
    for (size_t j = 0; j < params.size(); ++j) {
      Tensor g = randn({sizes[j]}, gen);
      params[j].set_grad(g);
      reference_step(refs[j], g.to_vector<float>(), o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.amsgrad,
                     decoupled, step);
    }
    opt.step();
    for (size_t j = 0; j < params.size(); ++j) {
      auto got = params[j].to_vector<float>();
      ASSERT_EQ(0, std::memcmp(got.data(), refs[j].p.data(), got.size() * sizeof(float)))
          << "parameter " << j << " (numel " << sizes[j] << ") step " << step << " threads " << threads;
    }
  }
  EXPECT_EQ(frozen.to_vector<float>(), frozen_before);
  set_num_threads(before);
}

}  // namespace

TEST(AdamFused, AdamWEqualsTorchOpSequence) {
  for (int threads : {1, 2}) {
    optim::AdamWOptions o;
    o.lr = 0.01;
    o.weight_decay = 0.1;
    expect_fused_equals_reference<optim::AdamW>(o, true, threads);
    o.amsgrad = true;
    expect_fused_equals_reference<optim::AdamW>(o, true, threads);
  }
}

TEST(AdamFused, AdamL2EqualsTorchOpSequence) {
  optim::AdamOptions o;
  o.lr = 0.02;
  o.weight_decay = 0.05;
  o.amsgrad = true;
  o.beta1 = 0.8;
  o.eps = 1e-6;
  expect_fused_equals_reference<optim::Adam>(o, false, 2);
}
