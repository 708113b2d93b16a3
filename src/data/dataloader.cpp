// DataLoader: batches in a seeded order, with an optional producer thread
// that prepares the next `prefetch` batches while the consumer trains.
//
// Determinism: the order of epoch e is seeded_permutation(n, seed, e), a pure
// function of (seed, e), and batch b of an epoch is a fixed slice of it, so
// a batch depends only on (seed, epoch, batch). Prefetching, seeking and
// restarting after an error therefore never change what is served.
//
// The producer runs ahead across epoch boundaries (the consumer's "end of
// epoch" is bookkeeping, not a queue item), so the first batches of the next
// epoch are ready while evaluation runs.
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "tessera/data/dataset.h"

namespace tessera::data {
namespace {

// The index order of one epoch, recomputed only when the epoch changes.
// Each thread owns one, so no locking is needed.
class EpochOrder {
 public:
  EpochOrder(int64_t n, const DataLoaderOptions& o) : n_(n), opt_(o) {}
  std::vector<int64_t> batch_indices(LoaderPosition pos) {
    if (!valid_ || epoch_ != pos.epoch) {
      if (opt_.shuffle) {
        order_ = seeded_permutation(n_, opt_.seed, static_cast<uint64_t>(pos.epoch));
      } else {
        order_.resize(static_cast<size_t>(n_));
        for (int64_t i = 0; i < n_; ++i) order_[static_cast<size_t>(i)] = i;
      }
      epoch_ = pos.epoch;
      valid_ = true;
    }
    const int64_t begin = pos.batch * opt_.batch_size;
    const int64_t end = std::min(n_, begin + opt_.batch_size);
    return std::vector<int64_t>(order_.begin() + begin, order_.begin() + end);
  }

 private:
  int64_t n_;
  DataLoaderOptions opt_;
  std::vector<int64_t> order_;
  int64_t epoch_ = 0;
  bool valid_ = false;
};

struct Item {
  LoaderPosition pos;
  Batch batch;
  std::exception_ptr error;
};

}  // namespace

struct DataLoader::Impl {
  std::shared_ptr<const Dataset> dataset;
  DataLoaderOptions opt;
  int64_t n = 0;
  int64_t per_epoch = 0;
  LoaderPosition pos;           // the consumer's position
  EpochOrder consumer_order;    // used when prefetch == 0

  // Producer state, guarded by mu.
  std::mutex mu;
  std::condition_variable cv_space;  // producer waits for room in the queue
  std::condition_variable cv_item;   // consumer waits for an item
  std::deque<Item> queue;
  bool stop = false;
  std::thread producer;

  Impl(std::shared_ptr<const Dataset> ds, DataLoaderOptions o)
      : dataset(std::move(ds)), opt(o), consumer_order(0, o) {
    TSR_CHECK(dataset != nullptr, Error, "DataLoader: null dataset");
    TSR_CHECK(opt.batch_size >= 1, Error, "DataLoader: batch_size must be >= 1, got ", opt.batch_size);
    TSR_CHECK(opt.prefetch >= 0, Error, "DataLoader: prefetch must be >= 0, got ", opt.prefetch);
    n = dataset->size();
    per_epoch = opt.drop_last ? n / opt.batch_size : (n + opt.batch_size - 1) / opt.batch_size;
    consumer_order = EpochOrder(n, opt);
  }

  ~Impl() { stop_producer(); }

  static LoaderPosition advance(LoaderPosition p, int64_t per_epoch) {
    if (++p.batch >= per_epoch) { ++p.epoch; p.batch = 0; }
    return p;
  }

  Batch load(EpochOrder& order, LoaderPosition p) const {
    return dataset->get_epoch_batch(order.batch_indices(p), p.epoch);
  }

  void start_producer() {
    LoaderPosition start = pos;
    if (start.batch >= per_epoch) { ++start.epoch; start.batch = 0; }
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = false;
      queue.clear();
    }
    producer = std::thread([this, start] { produce(start); });
  }

  void stop_producer() {
    if (!producer.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    cv_space.notify_all();
    producer.join();
    std::lock_guard<std::mutex> lock(mu);
    queue.clear();
  }

  void produce(LoaderPosition p) {
    EpochOrder order(n, opt);
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mu);
        cv_space.wait(lock, [&] { return stop || static_cast<int64_t>(queue.size()) < opt.prefetch; });
        if (stop) return;
      }
      Item item{p, {}, nullptr};
      try {
        item.batch = load(order, p);
      } catch (...) {
        item.error = std::current_exception();
      }
      const bool failed = item.error != nullptr;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stop) return;
        queue.push_back(std::move(item));
      }
      cv_item.notify_one();
      if (failed) return;  // the consumer restarts us from its position if it retries
      p = advance(p, per_epoch);
    }
  }

  bool next(Batch& out) {
    if (pos.batch >= per_epoch) {
      ++pos.epoch;
      pos.batch = 0;
      return false;
    }
    if (opt.prefetch == 0) {
      out = load(consumer_order, pos);
      pos = advance_within_epoch(pos);
      return true;
    }
    if (!producer.joinable()) start_producer();
    Item item;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv_item.wait(lock, [&] { return !queue.empty(); });
      item = std::move(queue.front());
      queue.pop_front();
    }
    cv_space.notify_one();
    TSR_CHECK(item.pos.epoch == pos.epoch && item.pos.batch == pos.batch, Error,
              "DataLoader: internal error, prefetched batch (", item.pos.epoch, ", ", item.pos.batch,
              ") does not match position (", pos.epoch, ", ", pos.batch, ")");
    if (item.error) {
      // The producer has exited; join it so the next call starts a fresh one
      // at this same position.
      stop_producer();
      std::rethrow_exception(item.error);
    }
    out = std::move(item.batch);
    pos = advance_within_epoch(pos);
    return true;
  }

  // The consumer stays at (e, per_epoch) after the last batch, so position()
  // says "epoch e finished" until next() reports the end of the epoch.
  static LoaderPosition advance_within_epoch(LoaderPosition p) {
    ++p.batch;
    return p;
  }
};

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options)
    : impl_(std::make_unique<Impl>(std::move(dataset), options)) {}

DataLoader::~DataLoader() = default;

int64_t DataLoader::batches_per_epoch() const { return impl_->per_epoch; }

bool DataLoader::next(Batch& out) { return impl_->next(out); }

LoaderPosition DataLoader::position() const { return impl_->pos; }

void DataLoader::seek(LoaderPosition pos) {
  TSR_CHECK(pos.epoch >= 0 && pos.batch >= 0 && pos.batch <= impl_->per_epoch, IndexError,
            "DataLoader::seek: position (epoch ", pos.epoch, ", batch ", pos.batch, ") is invalid; an epoch has ",
            impl_->per_epoch, " batches");
  impl_->stop_producer();
  impl_->pos = pos;
}

const Dataset& DataLoader::dataset() const { return *impl_->dataset; }

}  // namespace tessera::data
