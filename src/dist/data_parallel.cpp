// DataParallel (dist/data_parallel.h): buckets, the all-reduce overlapped
// with the backward, ZeRO-1's reduce-scatter / clip / all-gather, and the
// optimizer state gathered into one checkpoint file.
#include "tessera/dist/data_parallel.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/node.h"
#include "tessera/core/error.h"
#include "tessera/core/profiler.h"
#include "tessera/core/stopwatch.h"
#include "tessera/dist/world.h"
#include "tessera/ops/reduce.h"

using nlohmann::json;

namespace tessera::dist {

namespace {

// A bucket's buffer holds, for each of its parameters (ZeRO-1: grouped by
// owner, owners in rank order), the gradient's elements and one more float:
// 1 where this rank has a gradient, 0 where not. Summed over ranks, 0 means
// no rank had one, and the parameter keeps no gradient (the optimizer skips
// it, as in one process).
struct Bucket {
  std::vector<size_t> params;     // packing order
  std::vector<int64_t> offsets;   // of each parameter's segment in `send`
  std::vector<int64_t> counts;    // ZeRO-1: floats of the bucket each rank owns
  int64_t floats = 0;
  std::vector<float> send, recv;  // recv: ZeRO-1's owned part
  Request request;
  int pending = 0;                // parameters whose final gradient has not arrived
};

void put(std::string& out, const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }
template <class T>
void put(std::string& out, T v) { put(out, &v, sizeof v); }
template <class T>
T take(const std::string& in, size_t& pos) {
  TSR_CHECK(pos + sizeof(T) <= in.size(), Error, "dist: a gathered optimizer state is truncated");
  T v;
  std::memcpy(&v, in.data() + pos, sizeof v);
  pos += sizeof v;
  return v;
}

}  // namespace

struct DataParallel::Impl {
  std::vector<Tensor> params;
  std::vector<int64_t> numel;
  std::unordered_map<TensorImpl*, size_t> index;
  optim::Optimizer& optimizer;
  DataParallelOptions options;
  double clip = 0;  // ZeRO-1 clips here (the loop's clipping is off)
  int rank = 0, size = 1;

  std::vector<int> owner;              // per parameter
  size_t own_begin = 0, own_end = 0;   // this rank's parameters (ZeRO-1)
  std::vector<int64_t> owned_floats;   // per rank: elements owned (the all-gather's counts)

  std::vector<Bucket> buckets;
  std::vector<size_t> bucket_of;       // per parameter
  size_t next_launch = 0;
  std::vector<float> gathered, mine;   // ZeRO-1's all-gather: every parameter, and this rank's part
  std::unique_ptr<LeafGradReadyScope> scope;
  bool trimmed = false;

  // Measurements.
  double wait_seconds = 0, totals_seconds = 0, gather_seconds = 0;
  int64_t steps = 0, launched_during_backward = 0, launched_total = 0;
  int64_t local_examples = 0, local_tokens = 0;

  Impl(std::vector<Tensor> p, optim::Optimizer& opt, DataParallelOptions o, double clip_norm)
      : params(std::move(p)), optimizer(opt), options(o), clip(clip_norm) {
    rank = world().rank, size = world().size;
    TSR_CHECK(options.bucket_mb > 0, Error, "distributed: 'bucket_mb' must be positive, got ", options.bucket_mb);
    for (size_t i = 0; i < params.size(); ++i) {
      TSR_CHECK(params[i].dtype() == DType::F32 && params[i].is_contiguous(), Error,
                "distributed: parameter ", i, " is not a contiguous float32 tensor");
      numel.push_back(params[i].numel());
      index[params[i].impl_ptr().get()] = i;
    }
    assign_owners();
    make_buckets();
  }

  // Contiguous ranges balanced by elements: parameter i goes to the rank in
  // whose share of the running total its middle element falls.
  void assign_owners() {
    int64_t total = 0;
    for (int64_t n : numel) total += n;
    owner.assign(params.size(), 0);
    owned_floats.assign(static_cast<size_t>(size), 0);
    int64_t seen = 0;
    for (size_t i = 0; i < params.size(); ++i) {
      const int64_t mid = seen + numel[i] / 2;
      int r = total > 0 ? static_cast<int>(mid * size / total) : 0;
      r = std::clamp(r, i > 0 ? owner[i - 1] : 0, size - 1);
      owner[i] = options.shard_optimizer ? r : rank;
      seen += numel[i];
      if (options.shard_optimizer) owned_floats[static_cast<size_t>(r)] += numel[i];
    }
    own_begin = own_end = 0;
    for (size_t i = 0; i < params.size(); ++i)
      if (owner[i] == rank) {
        if (own_end == own_begin) own_begin = i;
        own_end = i + 1;
      }
  }

  void make_buckets() {
    const int64_t limit = std::max<int64_t>(1, static_cast<int64_t>(options.bucket_mb * 1024 * 1024 / sizeof(float)));
    bucket_of.assign(params.size(), 0);
    Bucket cur;
    auto close = [&] {
      if (cur.params.empty()) return;
      if (options.shard_optimizer)
        std::stable_sort(cur.params.begin(), cur.params.end(), [&](size_t a, size_t b) { return owner[a] < owner[b]; });
      cur.counts.assign(static_cast<size_t>(size), 0);
      for (size_t p : cur.params) {
        cur.offsets.push_back(cur.floats);
        cur.floats += numel[p] + 1;
        if (options.shard_optimizer) cur.counts[static_cast<size_t>(owner[p])] += numel[p] + 1;
        bucket_of[p] = buckets.size();
      }
      cur.send.resize(static_cast<size_t>(cur.floats));
      if (options.shard_optimizer) cur.recv.resize(static_cast<size_t>(cur.counts[static_cast<size_t>(rank)]));
      buckets.push_back(std::move(cur));
      cur = Bucket();
    };
    int64_t in_bucket = 0;
    for (size_t k = params.size(); k-- > 0;) {  // reverse: the order backward finishes them
      cur.params.push_back(k);
      in_bucket += numel[k];
      if (in_bucket >= limit) close(), in_bucket = 0;
    }
    close();
  }

  void launch(Bucket& b) {
    for (size_t j = 0; j < b.params.size(); ++j) {
      const Tensor g = params[b.params[j]].grad();
      float* dst = b.send.data() + b.offsets[j];
      const int64_t n = numel[b.params[j]];
      if (g.defined()) {
        const Tensor gc = g.is_contiguous() ? g : g.contiguous();
        std::memcpy(dst, gc.data<float>(), static_cast<size_t>(n) * sizeof(float));
      } else {
        std::fill(dst, dst + n, 0.0f);
      }
      dst[n] = g.defined() ? 1.0f : 0.0f;
    }
    b.request = options.shard_optimizer ? ireduce_scatter_sum(b.send.data(), b.recv.data(), b.counts)
                                        : iallreduce_sum(b.send.data(), b.floats);
    ++launched_total;
  }

  // Starts every bucket whose gradients are final, in bucket order.
  void launch_ready(bool in_backward) {
    while (next_launch < buckets.size() && buckets[next_launch].pending == 0) {
      launch(buckets[next_launch++]);
      if (in_backward) ++launched_during_backward;
    }
    // MPI progresses non-blocking collectives inside MPI calls: give it one.
    for (size_t k = 0; k < next_launch; ++k) buckets[k].request.test();
  }

  void on_leaf_ready(TensorImpl* leaf) {
    auto it = index.find(leaf);
    if (it == index.end()) return;
    Bucket& b = buckets[bucket_of[it->second]];
    if (b.pending > 0) --b.pending;
    launch_ready(true);
  }

  void set_grad(size_t p, const float* src, bool present) {
    Tensor& param = params[p];
    if (!present) {
      param.zero_grad();
      return;
    }
    Tensor g = param.grad();
    if (!g.defined() || !g.is_contiguous() || g.dtype() != DType::F32) {
      g = zeros_like(param);
      param.set_grad(g);
    }
    std::memcpy(g.data<float>(), src, static_cast<size_t>(numel[p]) * sizeof(float));
  }

  void finish_buckets() {
    for (Bucket& b : buckets) b.pending = 0;
    launch_ready(false);
    Stopwatch sw;
    {
      profiler::Scope ev("allreduce_wait", profiler::Kind::Phase);
      for (Bucket& b : buckets) b.request.wait();
    }
    wait_seconds += sw.seconds();
    for (Bucket& b : buckets) {
      if (!options.shard_optimizer) {
        for (size_t j = 0; j < b.params.size(); ++j) {
          const float* src = b.send.data() + b.offsets[j];
          set_grad(b.params[j], src, src[numel[b.params[j]]] > 0);
        }
        continue;
      }
      // ZeRO-1: the owned segments arrived in recv, in packing order.
      int64_t at = 0;
      for (size_t j = 0; j < b.params.size(); ++j) {
        const size_t p = b.params[j];
        if (owner[p] != rank) {
          params[p].zero_grad();
          continue;
        }
        const float* src = b.recv.data() + at;
        set_grad(p, src, src[numel[p]] > 0);
        at += numel[p] + 1;
      }
    }
  }

  // clip_grad_norm_ over all parameters, computed from the owners' pieces:
  // each rank fills the squared norms of its parameters, the vector is
  // summed over ranks, and every rank adds it up in parameter order.
  void clip_owned() {
    if (!(clip > 0)) return;
    std::vector<double> sq(params.size(), 0.0), has(params.size(), 0.0);
    for (size_t i = own_begin; i < own_end; ++i) {
      const Tensor g = params[i].grad();
      if (!g.defined()) continue;
      const double n = vector_norm(g, 2.0).item();
      sq[i] = n * n, has[i] = 1.0;
    }
    std::vector<double> both(sq);
    both.insert(both.end(), has.begin(), has.end());
    Stopwatch sw;
    allreduce_sum(both.data(), static_cast<int64_t>(both.size()));
    totals_seconds += sw.seconds();
    double total = 0;
    bool any = false;
    for (size_t i = 0; i < params.size(); ++i)
      if (both[params.size() + i] > 0) total += both[i], any = true;
    if (!any) return;
    total = std::sqrt(total);
    const double coef = std::min(clip / (total + 1e-6), 1.0);
    if (coef == 1.0) return;
    NoGradGuard ng;
    for (size_t i = own_begin; i < own_end; ++i) {
      Tensor g = params[i].grad();
      if (g.defined()) g.mul_(coef);
    }
  }

  void all_gather_parameters() {
    // Owned ranges are contiguous and in rank order, so rank r's part of the
    // flat parameter vector starts where the parameters of ranks < r end.
    if (gathered.empty()) {
      int64_t total = 0;
      for (int64_t n : numel) total += n;
      gathered.resize(static_cast<size_t>(total));
      mine.resize(static_cast<size_t>(owned_floats[static_cast<size_t>(rank)]));
    }
    int64_t at = 0;
    for (size_t i = own_begin; i < own_end; ++i) {
      std::memcpy(mine.data() + at, params[i].data<float>(), static_cast<size_t>(numel[i]) * sizeof(float));
      at += numel[i];
    }
    Stopwatch sw;
    {
      profiler::Scope ev("allgather_parameters", profiler::Kind::Phase);
      allgatherv(mine.data(), gathered.data(), owned_floats);
    }
    gather_seconds += sw.seconds();
    int64_t off = 0;
    for (size_t i = 0; i < params.size(); ++i) {
      if (owner[i] != rank) std::memcpy(params[i].data<float>(), gathered.data() + off, static_cast<size_t>(numel[i]) * sizeof(float));
      off += numel[i];
    }
  }

  // ZeRO-1: drop the state of parameters this rank does not own (after a
  // resume loaded the whole file, or after a checkpoint gathered it).
  void trim() {
    trimmed = true;
    if (!options.shard_optimizer) return;
    optim::OptimizerState st = optimizer.state_dict();
    for (size_t i = 0; i < st.state.size() && i < params.size(); ++i)
      if (owner[i] != rank) st.state[i] = optim::ParamState{};
    optimizer.load_state_dict(st);
  }

  int64_t state_bytes() const {
    int64_t bytes = 0;
    for (size_t i = 0; i < optimizer.num_params(); ++i)
      for (const auto& [name, t] : optimizer.param_state(i).buffers) bytes += t.numel() * static_cast<int64_t>(dtype_size(t.dtype()));
    return bytes;
  }

  std::string serialize_owned() const {
    std::string out;
    for (size_t i = own_begin; i < own_end; ++i) {
      const optim::ParamState& s = optimizer.param_state(i);
      put<int64_t>(out, static_cast<int64_t>(i));
      put<int64_t>(out, s.step);
      put<int64_t>(out, static_cast<int64_t>(s.buffers.size()));
      for (const auto& [name, t] : s.buffers) {
        put<int64_t>(out, static_cast<int64_t>(name.size()));
        put(out, name.data(), name.size());
        const Tensor c = t.contiguous();
        put<int64_t>(out, c.numel());
        put(out, c.data<float>(), static_cast<size_t>(c.numel()) * sizeof(float));
      }
    }
    return out;
  }

  void merge(optim::OptimizerState& st, const std::string& blob) const {
    size_t pos = 0;
    while (pos < blob.size()) {
      const auto i = static_cast<size_t>(take<int64_t>(blob, pos));
      TSR_CHECK(i < st.state.size() && i < params.size(), Error, "dist: gathered state names parameter ", i);
      optim::ParamState s;
      s.step = take<int64_t>(blob, pos);
      const int64_t nbuf = take<int64_t>(blob, pos);
      for (int64_t k = 0; k < nbuf; ++k) {
        const auto len = static_cast<size_t>(take<int64_t>(blob, pos));
        TSR_CHECK(pos + len <= blob.size(), Error, "dist: a gathered optimizer state is truncated");
        std::string name = blob.substr(pos, len);
        pos += len;
        const int64_t n = take<int64_t>(blob, pos);
        TSR_CHECK(n == numel[i] && pos + static_cast<size_t>(n) * sizeof(float) <= blob.size(), Error,
                  "dist: gathered state '", name, "' of parameter ", i, " has ", n, " elements");
        std::vector<float> v(static_cast<size_t>(n));
        std::memcpy(v.data(), blob.data() + pos, v.size() * sizeof(float));
        pos += v.size() * sizeof(float);
        s.buffers[name] = from_vector<float>(v, params[i].shape());
      }
      st.state[i] = std::move(s);
    }
  }
};

DataParallel::DataParallel(std::vector<Tensor> params, optim::Optimizer& optimizer, DataParallelOptions options,
                           double clip_grad_norm)
    : impl_(std::make_unique<Impl>(std::move(params), optimizer, options, clip_grad_norm)) {}

DataParallel::~DataParallel() = default;

int DataParallel::owner(size_t param) const { return impl_->owner.at(param); }
size_t DataParallel::num_buckets() const { return impl_->buckets.size(); }

void DataParallel::step_begin(const train::StepContext&) {
  if (!impl_->trimmed) impl_->trim();
  impl_->next_launch = 0;
  for (Bucket& b : impl_->buckets) b.pending = static_cast<int>(b.params.size());
}

void DataParallel::backward_begin(const train::StepContext& ctx) {
  if (!ctx.last_micro_batch()) return;  // earlier micro-batches only accumulate locally
  Impl* d = impl_.get();
  d->scope = std::make_unique<LeafGradReadyScope>([d](TensorImpl* leaf) { d->on_leaf_ready(leaf); });
}

void DataParallel::backward_end(const train::StepContext&) { impl_->scope.reset(); }

void DataParallel::gradients_ready(const train::StepContext&) {
  impl_->finish_buckets();
  if (impl_->options.shard_optimizer) impl_->clip_owned();
  ++impl_->steps;
}

void DataParallel::reduce_totals(train::StepTotals& t) {
  impl_->local_examples += t.examples;
  impl_->local_tokens += t.tokens;
  double v[3] = {t.loss, static_cast<double>(t.examples), static_cast<double>(t.tokens)};
  Stopwatch sw;
  allreduce_sum(v, 3);
  impl_->totals_seconds += sw.seconds();
  t.loss = v[0];
  t.examples = static_cast<int64_t>(std::llround(v[1]));
  t.tokens = static_cast<int64_t>(std::llround(v[2]));
}

void DataParallel::optimizer_end(const train::StepContext&) {
  if (impl_->options.shard_optimizer) impl_->all_gather_parameters();
}

bool DataParallel::save_optimizer(const std::string& path) {
  if (!impl_->options.shard_optimizer) return false;  // every rank holds the same whole state: the writer saves it
  std::vector<std::string> blobs = gather_bytes(impl_->serialize_owned());
  if (!is_root()) return true;
  optim::OptimizerState st = impl_->optimizer.state_dict();
  for (size_t r = 1; r < blobs.size(); ++r) impl_->merge(st, blobs[r]);
  impl_->optimizer.load_state_dict(st);
  impl_->optimizer.save(path);
  impl_->trim();
  return true;
}

void DataParallel::resumed() { impl_->trim(); }

std::string DataParallel::summary_json(const train::RunSummary& run) {
  const Impl& d = *impl_;
  const double secs = run.train_seconds > 0 ? run.train_seconds : 1.0;
  const double steps = d.steps > 0 ? static_cast<double>(d.steps) : 1.0;
  json j;
  j["backend"] = "mpi";
  j["shard_optimizer"] = d.options.shard_optimizer;
  j["bucket_mb"] = d.options.bucket_mb;
  j["buckets"] = d.buckets.size();
  j["buckets_started_during_backward"] = d.launched_total > 0 ? static_cast<double>(d.launched_during_backward) /
                                                                    static_cast<double>(d.launched_total)
                                                              : 0.0;
  j["tokens_per_second"] = run.last.tokens_per_second;
  j["examples_per_second"] = run.last.examples_per_second;
  j["tokens_per_second_per_rank"] = allgather(static_cast<double>(d.local_tokens) / secs);
  j["examples_per_second_per_rank"] = allgather(static_cast<double>(d.local_examples) / secs);
  j["gradient_wait_seconds_per_step"] = allgather(d.wait_seconds / steps);
  j["communication_seconds_per_step"] = allgather((d.wait_seconds + d.totals_seconds + d.gather_seconds) / steps);
  j["optimizer_state_bytes_per_rank"] = allgather(static_cast<double>(d.state_bytes()));
  int64_t pbytes = 0;
  for (int64_t n : d.numel) pbytes += n * 4;
  j["parameter_bytes"] = pbytes;
  return json({{"distributed", j}}).dump();
}

std::unique_ptr<DataParallel> make_data_parallel(optim::Optimizer& optimizer, const DataParallelOptions& options,
                                                 train::LoopConfig& loop) {
  if (world().size <= 1) return nullptr;
  auto dp = std::make_unique<DataParallel>(optimizer.parameters(), optimizer, options, loop.clip_grad_norm);
  loop.writer = is_root();
  loop.quiet = loop.quiet || !is_root();
  loop.collective_steps = true;
  if (options.shard_optimizer) loop.clip_grad_norm = 0;  // DataParallel clips with the global norm
  return dp;
}

}  // namespace tessera::dist
