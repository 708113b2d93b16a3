// dist/world.h over MPI, or a world of one process when built without it.
#include "tessera/dist/world.h"

#include <cstdlib>
#include <cstring>
#include <limits>

#include "tessera/core/error.h"

#ifdef TESSERA_HAVE_MPI
#include <mpi.h>
#endif

namespace tessera::dist {

namespace {

World g_world;
bool g_started = false;

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

int env_int(const char* name, int fallback) {
  const char* v = env(name);
  return v ? std::atoi(v) : fallback;
}

#ifdef TESSERA_HAVE_MPI
int count_of(int64_t n, const char* what) {
  TSR_CHECK(n >= 0 && n <= std::numeric_limits<int>::max(), Error, "dist: ", what, " of ", n,
            " elements is beyond MPI's int count");
  return static_cast<int>(n);
}

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw Error(std::string("dist: ") + what + " failed: " + std::string(msg, static_cast<size_t>(len)));
}

// Displacements from counts, as MPI's v-collectives want them.
std::vector<int> ints(const std::vector<int64_t>& counts, std::vector<int>* displs) {
  std::vector<int> c(counts.size());
  int64_t off = 0;
  if (displs) displs->resize(counts.size());
  for (size_t i = 0; i < counts.size(); ++i) {
    c[i] = count_of(counts[i], "a part");
    if (displs) (*displs)[i] = count_of(off, "an offset");
    off += counts[i];
  }
  return c;
}
#endif

}  // namespace

bool built_with_mpi() {
#ifdef TESSERA_HAVE_MPI
  return true;
#else
  return false;
#endif
}

bool launched_by_mpi() {
  return env_int("OMPI_COMM_WORLD_SIZE", 0) > 1 || env_int("PMI_SIZE", 0) > 1 || env_int("PMIX_SIZE", 0) > 1 ||
         (env("PMIX_RANK") && env_int("OMPI_COMM_WORLD_SIZE", 2) > 1);
}

void init_from_launcher(int* argc, char*** argv) {
  if (g_started || !launched_by_mpi()) return;
#ifdef TESSERA_HAVE_MPI
  int provided = 0;
  check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  g_started = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_world.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_world.size);
  g_world.local_size = env_int("OMPI_COMM_WORLD_LOCAL_SIZE", 1);
  // Errors come back as codes (check() turns them into exceptions naming
  // the call); a rank that dies is the launcher's to report (mpirun names it
  // and ends the job).
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
#else
  (void)argc, (void)argv;
  throw Error(
      "this process was started by an MPI launcher (mpirun), but this tessera was built without MPI: install "
      "libopenmpi-dev (scripts/install_deps.sh) and rebuild");
#endif
}

void finalize() {
#ifdef TESSERA_HAVE_MPI
  if (g_started) {
    int done = 0;
    MPI_Finalized(&done);
    if (!done) MPI_Finalize();
  }
#endif
  g_started = false;
}

void abort_job(int exit_code) {
#ifdef TESSERA_HAVE_MPI
  if (g_started) MPI_Abort(MPI_COMM_WORLD, exit_code);
#endif
  std::exit(exit_code);
}

const World& world() { return g_world; }

Range shard(int64_t n, int rank, int size) {
  return {n * rank / size, n * (rank + 1) / size};
}
Range shard(int64_t n) { return shard(n, g_world.rank, g_world.size); }

void barrier() {
#ifdef TESSERA_HAVE_MPI
  if (g_started) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
}

#ifdef TESSERA_HAVE_MPI
namespace {
void allreduce_sum_in_place(void* values, int64_t n, MPI_Datatype type) {
  if (g_started)
    check(MPI_Allreduce(MPI_IN_PLACE, values, count_of(n, "an all-reduce"), type, MPI_SUM, MPI_COMM_WORLD),
          "MPI_Allreduce");
}
}  // namespace
void allreduce_sum(double* values, int64_t n) { allreduce_sum_in_place(values, n, MPI_DOUBLE); }
void allreduce_sum(float* values, int64_t n) { allreduce_sum_in_place(values, n, MPI_FLOAT); }
#else
void allreduce_sum(double*, int64_t) {}
void allreduce_sum(float*, int64_t) {}
#endif

std::vector<double> allgather(double value) {
  std::vector<double> out(static_cast<size_t>(g_world.size), value);
#ifdef TESSERA_HAVE_MPI
  if (g_started) check(MPI_Allgather(&value, 1, MPI_DOUBLE, out.data(), 1, MPI_DOUBLE, MPI_COMM_WORLD), "MPI_Allgather");
#endif
  return out;
}

void allgatherv(const float* send, float* recv, const std::vector<int64_t>& counts) {
  TSR_CHECK(counts.size() == static_cast<size_t>(g_world.size), Error, "dist: allgatherv needs one count per rank");
#ifdef TESSERA_HAVE_MPI
  if (g_started) {
    std::vector<int> displs;
    std::vector<int> c = ints(counts, &displs);
    check(MPI_Allgatherv(send, c[static_cast<size_t>(g_world.rank)], MPI_FLOAT, recv, c.data(), displs.data(),
                         MPI_FLOAT, MPI_COMM_WORLD),
          "MPI_Allgatherv");
    return;
  }
#endif
  if (send != recv) std::memcpy(recv, send, static_cast<size_t>(counts[0]) * sizeof(float));
}

std::vector<std::string> gather_bytes(const std::string& bytes) {
#ifdef TESSERA_HAVE_MPI
  if (g_started) {
    const int n = count_of(static_cast<int64_t>(bytes.size()), "a message");
    std::vector<int> sizes(static_cast<size_t>(g_world.size));
    check(MPI_Gather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Gather");
    std::vector<int> displs(sizes.size());
    int64_t total = 0;
    for (size_t i = 0; i < sizes.size(); ++i) displs[i] = count_of(total, "a gathered message"), total += sizes[i];
    std::string all(is_root() ? static_cast<size_t>(total) : 0, '\0');
    check(MPI_Gatherv(bytes.data(), n, MPI_BYTE, all.data(), sizes.data(), displs.data(), MPI_BYTE, 0, MPI_COMM_WORLD),
          "MPI_Gatherv");
    std::vector<std::string> out;
    if (is_root())
      for (size_t i = 0; i < sizes.size(); ++i) out.push_back(all.substr(static_cast<size_t>(displs[i]), static_cast<size_t>(sizes[i])));
    return out;
  }
#endif
  return {bytes};
}

// ---- requests ----

struct Request::Impl {
#ifdef TESSERA_HAVE_MPI
  MPI_Request req = MPI_REQUEST_NULL;
#endif
  std::vector<int> counts;  // a v-collective's counts must live until it completes
  bool done = true;
};

Request::Request() : impl(std::make_unique<Impl>()) {}
Request::~Request() {
  if (impl && !impl->done) {
    try {
      wait();
    } catch (...) {
    }
  }
}
Request::Request(Request&&) noexcept = default;
Request& Request::operator=(Request&& o) noexcept {
  if (this != &o) {
    if (impl && !impl->done) {
      try {
        wait();
      } catch (...) {
      }
    }
    impl = std::move(o.impl);
  }
  return *this;
}

bool Request::active() const { return impl && !impl->done; }

bool Request::test() {
  if (!active()) return true;
#ifdef TESSERA_HAVE_MPI
  int flag = 0;
  check(MPI_Test(&impl->req, &flag, MPI_STATUS_IGNORE), "MPI_Test");
  impl->done = flag != 0;
#endif
  return impl->done;
}

void Request::wait() {
  if (!active()) return;
#ifdef TESSERA_HAVE_MPI
  impl->done = true;
  check(MPI_Wait(&impl->req, MPI_STATUS_IGNORE), "MPI_Wait");
#endif
  impl->done = true;
}

Request iallreduce_sum(float* buf, int64_t n) {
  Request r;
#ifdef TESSERA_HAVE_MPI
  if (g_started) {
    check(MPI_Iallreduce(MPI_IN_PLACE, buf, count_of(n, "an all-reduce"), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                         &r.impl->req),
          "MPI_Iallreduce");
    r.impl->done = false;
  }
#else
  (void)buf, (void)n;
#endif
  return r;
}

Request ireduce_scatter_sum(const float* send, float* recv, const std::vector<int64_t>& counts) {
  TSR_CHECK(counts.size() == static_cast<size_t>(g_world.size), Error,
            "dist: reduce-scatter needs one count per rank");
  Request r;
#ifdef TESSERA_HAVE_MPI
  if (g_started) {
    r.impl->counts = ints(counts, nullptr);
    check(MPI_Ireduce_scatter(send, recv, r.impl->counts.data(), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &r.impl->req),
          "MPI_Ireduce_scatter");
    r.impl->done = false;
    return r;
  }
#endif
  if (send != recv) std::memcpy(recv, send, static_cast<size_t>(counts[0]) * sizeof(float));
  return r;
}

}  // namespace tessera::dist
