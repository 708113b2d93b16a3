// The processes of a data-parallel job and the collectives between them, over
// MPI (Open MPI from Debian). A program started by `mpirun -np N` finds its
// rank and the world size in the environment the launcher sets, and
// init_from_launcher() starts MPI; started any other way (or built without
// MPI) it is rank 0 of a world of 1, and every collective below is a local
// no-op or copy, so single-process code paths need no special case.
//
// All ranks must call each collective in the same order with matching
// counts (MPI's rule). Counts are element counts; a message above 2^31
// elements is refused with a clear error rather than truncated.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tessera::dist {

struct World {
  int rank = 0;
  int size = 1;
  int local_size = 1;  // ranks on this machine (threads per rank default to cores / local_size)
};

// Whether this binary was built with MPI.
bool built_with_mpi();
// Whether the environment says a launcher (mpirun / srun with PMIx) started us
// as one of several ranks.
bool launched_by_mpi();
// Starts MPI when launched_by_mpi() (errors if this build has no MPI), and
// sets world(). Call once, first thing in main.
void init_from_launcher(int* argc, char*** argv);
// MPI_Finalize when MPI was started; safe to call more than once.
void finalize();
// Ends every rank of the job at once (MPI_Abort), after a fatal error on this one.
[[noreturn]] void abort_job(int exit_code);

const World& world();
inline bool is_root() { return world().rank == 0; }

// This rank's part of n rows split in rank order: contiguous, sizes differ by
// at most one (rank r gets [n*r/N, n*(r+1)/N)).
struct Range {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};
Range shard(int64_t n);
Range shard(int64_t n, int rank, int size);

// ---- collectives (MPI_COMM_WORLD) ----
void barrier();
void allreduce_sum(double* values, int64_t n);
void allreduce_sum(float* values, int64_t n);
// Every rank's `value`, in rank order.
std::vector<double> allgather(double value);
// Rank i's `send` lands at recv[offset_i .. offset_i + counts[i]) (offsets =
// prefix sums of counts); send holds counts[rank] floats.
void allgatherv(const float* send, float* recv, const std::vector<int64_t>& counts);
// Bytes from every rank to rank 0, in rank order (empty on other ranks).
std::vector<std::string> gather_bytes(const std::string& bytes);

// A collective in flight. Destroying one that has not completed waits for it.
class Request {
 public:
  Request();
  ~Request();
  Request(Request&&) noexcept;
  Request& operator=(Request&&) noexcept;
  // Lets MPI progress the operation; true once it completed.
  bool test();
  void wait();
  bool active() const;

  struct Impl;
  std::unique_ptr<Impl> impl;
};
// In-place sum over ranks of buf[0..n).
Request iallreduce_sum(float* buf, int64_t n);
// Sum over ranks of send (sum of counts floats, rank i's part at offset_i);
// this rank receives its part, counts[rank] floats, into recv.
Request ireduce_scatter_sum(const float* send, float* recv, const std::vector<int64_t>& counts);

}  // namespace tessera::dist
