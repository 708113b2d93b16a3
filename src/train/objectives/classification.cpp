// Classification over a data::Dataset: cross-entropy on the model's logits.
#include "tessera/ops/loss.h"
#include "train/objectives/dataset_objective.h"

namespace tessera::train {

namespace {

class ClassificationObjective : public DatasetObjective {
 public:
  using DatasetObjective::DatasetObjective;

 protected:
  Tensor loss(const Tensor& logits, const Tensor& targets) const override { return cross_entropy(logits, targets); }
  bool classification() const override { return true; }
};

}  // namespace

std::unique_ptr<DatasetObjective> make_classification_objective(const Recipe& recipe, TrainData data,
                                                                 std::string out_dir) {
  TSR_CHECK(data.train && data.train->size() > 0, Error, "trainer: the training set is empty");
  const int64_t classes = data.train->num_classes();
  TSR_CHECK(classes > 1, Error, "trainer: classification needs at least 2 classes, the data reports ", classes);
  return std::make_unique<ClassificationObjective>(recipe, std::move(data), std::move(out_dir), classes);
}

}  // namespace tessera::train
