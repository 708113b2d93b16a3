// Convolutional image classifiers over (N, C, H, W):
//   LeNet5: conv(C,6,5,pad 2)-ReLU-maxpool2, conv(6,16,5)-ReLU-maxpool2,
//           fc 120-ReLU, fc 84-ReLU, fc classes (the modern ReLU/max-pool variant).
//   SimpleCNN: [conv(k, pad k/2)-ReLU-maxpool2] x len(channels), flatten,
//           fc hidden-ReLU, Dropout, fc classes (the "2-conv CNN with dropout"
//           of the Fashion-MNIST benchmark table).
// The flattened feature size is derived from the input shape at construction.
#pragma once
#include <vector>

#include "tessera/nn/conv.h"
#include "tessera/nn/layers.h"

namespace tessera::models {

struct LeNet5Options {
  int64_t in_channels = 1;
  int64_t height = 28, width = 28;
  int64_t num_classes = 10;
};

class LeNet5 : public nn::Module {
 public:
  explicit LeNet5(const LeNet5Options& o);
  Tensor forward(const Tensor& x) override;  // (N, C, H, W) -> (N, classes)
  LeNet5Options options;
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::Linear> fc1, fc2, fc3;
};

struct SimpleCNNOptions {
  int64_t in_channels = 1;
  int64_t height = 28, width = 28;
  int64_t num_classes = 10;
  std::vector<int64_t> channels = {32, 64};
  int64_t kernel_size = 3;
  int64_t hidden = 128;
  double dropout = 0.5;
};

// Children: convs.0, convs.1, ..., fc1, dropout, fc2.
class SimpleCNN : public nn::Module {
 public:
  explicit SimpleCNN(const SimpleCNNOptions& o);
  Tensor forward(const Tensor& x) override;
  SimpleCNNOptions options;
  std::shared_ptr<nn::ModuleList> convs;
  std::shared_ptr<nn::Linear> fc1;
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<nn::Linear> fc2;
};

}  // namespace tessera::models
