// Data-parallel training over MPI: one process per rank, each with a full
// replica of the model, each taking its shard of every global micro-batch
// (train/objective.h: MicroBatchLoss::share), gradients summed across ranks.
//
// The gradient all-reduce overlaps the backward: parameters are grouped in
// buckets of about bucket_mb, in reverse registration order (the order
// backward finishes them); on the last micro-batch each parameter reports
// its final gradient from inside the backward (autograd/node.h:
// LeafGradReadyScope), and a bucket's non-blocking collective starts as soon
// as all of its parameters are final and the buckets before it have started.
// Buckets always start in the same order on every rank, so the sums, and the
// run, are deterministic for a given world size.
//
// ZeRO-1 (shard_optimizer): each rank owns a contiguous range of the
// parameters (balanced by element count) and only it keeps their optimizer
// state. Buckets are reduce-scattered (each rank receives the summed gradients
// of the parameters it owns), gradients are clipped by the global norm
// (per-parameter norms summed in parameter order, as clip_grad_norm_ does
// in one process), the optimizer steps the owned parameters (the others have
// no gradient and are skipped), and the updated parameters are all-gathered.
// A checkpoint holds the whole optimizer state, gathered to rank 0 in the
// one-process file format, so a run resumes with any number of ranks.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tessera/core/tensor.h"
#include "tessera/optim/optimizer.h"
#include "tessera/train/loop.h"

namespace tessera::dist {

// A recipe's "distributed" section: {"shard_optimizer": false, "bucket_mb": 4}.
struct DataParallelOptions {
  bool shard_optimizer = false;
  double bucket_mb = 4.0;
};

class DataParallel : public train::StepHook {
 public:
  // params: the trainable parameters in the loop's order (the optimizer's).
  DataParallel(std::vector<Tensor> params, optim::Optimizer& optimizer, DataParallelOptions options,
               double clip_grad_norm);
  ~DataParallel() override;

  void step_begin(const train::StepContext&) override;
  void backward_begin(const train::StepContext&) override;
  void backward_end(const train::StepContext&) override;
  void gradients_ready(const train::StepContext&) override;
  void reduce_totals(train::StepTotals&) override;
  void optimizer_end(const train::StepContext&) override;
  bool save_optimizer(const std::string& path) override;
  void resumed() override;
  std::string summary_json(const train::RunSummary&) override;

  // The rank that owns parameter i (ZeRO-1), and the number of buckets.
  int owner(size_t param) const;
  size_t num_buckets() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// For `tessera train | pretrain | finetune`: in a world of more than one
// rank, a DataParallel over the optimizer's parameters, with the loop set up
// for it (rank 0 writes and prints; collective non-finite checks; ZeRO-1 clips
// itself). In a world of one: nothing (nullptr) and the config unchanged.
std::unique_ptr<DataParallel> make_data_parallel(optim::Optimizer& optimizer, const DataParallelOptions& options,
                                                 train::LoopConfig& loop);

}  // namespace tessera::dist
