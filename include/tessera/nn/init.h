// Parameter initializers, as torch.nn.init. All draw from a Generator (the
// default one unless given), so a model built after manual_seed(s) is the same
// every time. Values follow torch's distributions; they are not torch's
// numbers (the generators differ).
#pragma once
#include <string>
#include <utility>

#include "tessera/core/random.h"
#include "tessera/core/tensor.h"

namespace tessera::nn::init {

std::pair<int64_t, int64_t> fan_in_and_fan_out(const Tensor& t);  // errors below 2 dims
double calculate_gain(const std::string& nonlinearity, double param = 0.01);

void uniform_(Tensor& t, double a = 0.0, double b = 1.0, Generator* gen = nullptr);
void normal_(Tensor& t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
// Normal(mean, std) truncated to [a, b] by inverse-CDF sampling (as torch).
void trunc_normal_(Tensor& t, double mean = 0.0, double std = 1.0, double a = -2.0, double b = 2.0,
                   Generator* gen = nullptr);
void constant_(Tensor& t, double value);
void zeros_(Tensor& t);
void ones_(Tensor& t);
void xavier_uniform_(Tensor& t, double gain = 1.0, Generator* gen = nullptr);
void xavier_normal_(Tensor& t, double gain = 1.0, Generator* gen = nullptr);
// mode: "fan_in" or "fan_out"; nonlinearity as calculate_gain (a = negative slope).
void kaiming_uniform_(Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                      const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
void kaiming_normal_(Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                     const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);

}  // namespace tessera::nn::init
