// The umbrella headers compile together and a small model trains one step.
#include <gtest/gtest.h>

#include "tessera/nn/nn.h"

using namespace tessera;

TEST(Umbrella, TinyModelStepReducesLoss) {
  manual_seed(3);
  nn::Sequential m({std::make_shared<nn::Linear>(4, 16), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(16, 3)});
  Tensor x = randn({32, 4});
  Tensor y = argmax(x.narrow(1, 0, 3), 1);
  double first = 0, last = 0;
  for (int step = 0; step < 50; ++step) {
    m.zero_grad();
    Tensor loss = cross_entropy(m(x), y);
    loss.backward();
    NoGradGuard ng;
    for (auto& p : m.parameters()) p.add_(p.grad(), -0.5);
    (step == 0 ? first : last) = loss.item();
  }
  EXPECT_LT(last, 0.5 * first);
}
