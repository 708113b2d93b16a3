// LeNet-5 and the small dropout CNN of models/cnn.h.
#include "tessera/models/cnn.h"

#include "tessera/core/error.h"
#include "tessera/ops/activation.h"
#include "tessera/ops/conv.h"

namespace tessera::models {

namespace {

// Spatial size after a conv / pool: floor((n + 2p - k) / s) + 1.
int64_t out_size(int64_t n, int64_t k, int64_t s, int64_t p) { return (n + 2 * p - k) / s + 1; }

Tensor pool2(const Tensor& x) { return max_pool2d(x, {2, 2}, {2, 2}); }

}  // namespace

LeNet5::LeNet5(const LeNet5Options& o) : Module("LeNet5"), options(o) {
  int64_t h = out_size(out_size(o.height, 5, 1, 2), 2, 2, 0), w = out_size(out_size(o.width, 5, 1, 2), 2, 2, 0);
  h = out_size(out_size(h, 5, 1, 0), 2, 2, 0);
  w = out_size(out_size(w, 5, 1, 0), 2, 2, 0);
  TSR_CHECK(h > 0 && w > 0, ShapeError, "LeNet5: input ", o.height, "x", o.width, " is too small (needs at least 12x12)");
  conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(o.in_channels, 6, 5, 1, 2));
  conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(6, 16, 5));
  fc1 = register_module("fc1", std::make_shared<nn::Linear>(16 * h * w, 120));
  fc2 = register_module("fc2", std::make_shared<nn::Linear>(120, 84));
  fc3 = register_module("fc3", std::make_shared<nn::Linear>(84, o.num_classes));
}

Tensor LeNet5::forward(const Tensor& x) {
  Tensor y = pool2(relu(conv1->forward(x)));  // (N, 6, H/2, W/2)
  y = pool2(relu(conv2->forward(y)));         // (N, 16, h, w)
  y = y.flatten(1);
  y = relu(fc1->forward(y));
  y = relu(fc2->forward(y));
  return fc3->forward(y);
}

SimpleCNN::SimpleCNN(const SimpleCNNOptions& o) : Module("SimpleCNN"), options(o) {
  TSR_CHECK(!o.channels.empty(), Error, "SimpleCNN: channels must list at least one conv layer");
  TSR_CHECK(o.kernel_size % 2 == 1, Error, "SimpleCNN: kernel_size must be odd (same padding), got ", o.kernel_size);
  convs = register_module("convs", std::make_shared<nn::ModuleList>());
  int64_t c = o.in_channels, h = o.height, w = o.width;
  for (int64_t ch : o.channels) {
    convs->push_back(std::make_shared<nn::Conv2d>(c, ch, o.kernel_size, 1, o.kernel_size / 2));
    c = ch;
    h /= 2;
    w /= 2;
    TSR_CHECK(h > 0 && w > 0, ShapeError, "SimpleCNN: input ", o.height, "x", o.width, " is too small for ",
              o.channels.size(), " conv+pool stages");
  }
  fc1 = register_module("fc1", std::make_shared<nn::Linear>(c * h * w, o.hidden));
  dropout = register_module("dropout", std::make_shared<nn::Dropout>(o.dropout));
  fc2 = register_module("fc2", std::make_shared<nn::Linear>(o.hidden, o.num_classes));
}

Tensor SimpleCNN::forward(const Tensor& x) {
  Tensor y = x;
  for (size_t i = 0; i < convs->size(); ++i) y = pool2(relu((*convs)[i]->forward(y)));  // (N, C_i, H/2^i, W/2^i)
  y = relu(fc1->forward(y.flatten(1)));
  return fc2->forward(dropout->forward(y));
}

}  // namespace tessera::models
