// evaluate(): one pass over a dataset in eval mode, no gradients, producing
// the metrics report (classification or regression).
#include <cmath>

#include "tessera/autograd/grad_mode.h"
#include "tessera/metrics/report.h"
#include "tessera/ops/loss.h"
#include "tessera/train/trainer.h"

namespace tessera::train {

EvalResult evaluate(nn::Module& model, const data::Dataset& dataset, bool classification, int64_t batch_size,
                    const std::vector<std::string>& class_names) {
  TSR_CHECK(dataset.size() > 0, Error, "evaluate: the dataset is empty");
  bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  // A non-owning handle: the loader lives only inside this call.
  std::shared_ptr<const data::Dataset> ds(&dataset, [](const data::Dataset*) {});
  data::DataLoader loader(ds, {.batch_size = batch_size, .shuffle = false, .drop_last = false, .seed = 0, .prefetch = 1});
  EvalResult out;
  data::Batch b;
  if (classification) {
    int64_t c = dataset.num_classes();
    TSR_CHECK(c > 0, Error, "evaluate: a classification dataset must report its number of classes");
    std::vector<int64_t> ks;
    if (c > 5) ks.push_back(5);
    metrics::ClassificationEvaluator ev(c, ks);
    while (loader.next(b)) {
      Tensor logits = model.forward(b.inputs);  // (B, C)
      ev.add(logits, b.targets);
      ev.add_loss(cross_entropy(logits, b.targets).item(), b.targets.size(0));
    }
    metrics::ReportOptions ro;
    ro.scoring.labels = metrics::all_classes(c);
    ro.class_names = class_names;
    auto rep = ev.report(ro);
    out.table = rep.to_table();
    out.json = rep.to_json();
    out.scalars = rep.scalars();
  } else {
    std::vector<double> truth, pred;
    double loss_sum = 0;
    while (loader.next(b)) {
      Tensor y = model.forward(b.inputs);
      Tensor t = b.targets.to(y.dtype());
      y = y.reshape(t.shape());
      loss_sum += mse_loss(y, t, "sum").item();
      auto tv = t.reshape({-1}).to_vector<double>(), yv = y.reshape({-1}).to_vector<double>();
      truth.insert(truth.end(), tv.begin(), tv.end());
      pred.insert(pred.end(), yv.begin(), yv.end());
    }
    auto rep = metrics::regression_report(truth, pred);
    rep.loss = loss_sum / static_cast<double>(truth.size());
    out.table = rep.to_table();
    out.json = rep.to_json();
    out.scalars = rep.scalars();
  }
  model.train(was_training);
  return out;
}

}  // namespace tessera::train
