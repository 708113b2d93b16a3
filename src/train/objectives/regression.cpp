// Regression over a data::Dataset: mean squared error against targets of
// shape (B) or (B, T).
#include "tessera/ops/loss.h"
#include "train/objectives/dataset_objective.h"

namespace tessera::train {

namespace {

class RegressionObjective : public DatasetObjective {
 public:
  using DatasetObjective::DatasetObjective;

 protected:
  Tensor loss(const Tensor& y, const Tensor& targets) const override {
    Tensor t = targets.to(y.dtype());
    return mse_loss(y.reshape(t.shape()), t);
  }
  bool classification() const override { return false; }
};

}  // namespace

std::unique_ptr<DatasetObjective> make_regression_objective(const Recipe& recipe, TrainData data,
                                                             std::string out_dir) {
  TSR_CHECK(data.train && data.train->size() > 0, Error, "trainer: the training set is empty");
  Tensor t = data.train->get_batch({0}).targets;  // (1) or (1, T)
  const int64_t outputs = t.dim() > 1 ? t.size(1) : 1;
  return std::make_unique<RegressionObjective>(recipe, std::move(data), std::move(out_dir), outputs);
}

}  // namespace tessera::train
