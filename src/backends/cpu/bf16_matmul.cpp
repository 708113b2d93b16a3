// The bf16 matmul primitive, through oneDNN's C API opened with dlopen.
//
// Threads: oneDNN (OpenMP runtime) sizes a primitive's work split for the
// thread count at creation, and inside a parallel region it runs on the
// calling thread only. A primitive made for 2 threads and executed inside
// parallel_for would leave half the work undone, so primitives called from
// inside a parallel region are created for 1 thread and the thread count is
// part of the cache key.
#include "backends/cpu/bf16_matmul.h"

#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "backends/cpu/bf16_convert.h"
#include "tessera/core/error.h"

namespace tessera::cpu {
namespace {

// The oneDNN functions used here, resolved from libdnnl.so.2.
struct DnnlApi {
#define TSR_DNNL_FN(name) decltype(&::name) name = nullptr;
  TSR_DNNL_FN(dnnl_engine_create)
  TSR_DNNL_FN(dnnl_stream_create)
  TSR_DNNL_FN(dnnl_memory_desc_init_by_strides)
  TSR_DNNL_FN(dnnl_memory_desc_get_size)
  TSR_DNNL_FN(dnnl_matmul_desc_init)
  TSR_DNNL_FN(dnnl_primitive_attr_create)
  TSR_DNNL_FN(dnnl_primitive_attr_destroy)
  TSR_DNNL_FN(dnnl_primitive_attr_set_scratchpad_mode)
  TSR_DNNL_FN(dnnl_primitive_attr_set_output_scales)
  TSR_DNNL_FN(dnnl_primitive_attr_set_post_ops)
  TSR_DNNL_FN(dnnl_post_ops_create)
  TSR_DNNL_FN(dnnl_post_ops_destroy)
  TSR_DNNL_FN(dnnl_post_ops_append_sum)
  TSR_DNNL_FN(dnnl_primitive_desc_create)
  TSR_DNNL_FN(dnnl_primitive_desc_query)
  TSR_DNNL_FN(dnnl_primitive_desc_query_md)
  TSR_DNNL_FN(dnnl_primitive_create)
  TSR_DNNL_FN(dnnl_primitive_execute)
  TSR_DNNL_FN(dnnl_memory_create)
  TSR_DNNL_FN(dnnl_memory_destroy)
#undef TSR_DNNL_FN
  dnnl_engine_t engine = nullptr;
  std::string error;  // why bf16 matmul cannot run here

  DnnlApi() {
    if (!cpu_has_avx512_bf16()) {
      error = "this CPU has no AVX512_BF16";
      return;
    }
    void* h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* why = dlerror();
      error = detail::concat("cannot load oneDNN (libdnnl.so.2): ", why ? why : "unknown error");
      return;
    }
    bool ok = true;
    auto load = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name));
      if (!fn) ok = false, error = detail::concat("libdnnl.so.2 has no ", name, ": expected oneDNN 2.x");
    };
#define TSR_DNNL_LOAD(name) load(name, #name);
    TSR_DNNL_LOAD(dnnl_engine_create) TSR_DNNL_LOAD(dnnl_stream_create)
    TSR_DNNL_LOAD(dnnl_memory_desc_init_by_strides) TSR_DNNL_LOAD(dnnl_memory_desc_get_size)
    TSR_DNNL_LOAD(dnnl_matmul_desc_init) TSR_DNNL_LOAD(dnnl_primitive_attr_create)
    TSR_DNNL_LOAD(dnnl_primitive_attr_destroy) TSR_DNNL_LOAD(dnnl_primitive_attr_set_scratchpad_mode)
    TSR_DNNL_LOAD(dnnl_primitive_attr_set_output_scales) TSR_DNNL_LOAD(dnnl_primitive_attr_set_post_ops)
    TSR_DNNL_LOAD(dnnl_post_ops_create) TSR_DNNL_LOAD(dnnl_post_ops_destroy)
    TSR_DNNL_LOAD(dnnl_post_ops_append_sum) TSR_DNNL_LOAD(dnnl_primitive_desc_create)
    TSR_DNNL_LOAD(dnnl_primitive_desc_query)
    TSR_DNNL_LOAD(dnnl_primitive_desc_query_md) TSR_DNNL_LOAD(dnnl_primitive_create)
    TSR_DNNL_LOAD(dnnl_primitive_execute) TSR_DNNL_LOAD(dnnl_memory_create)
    TSR_DNNL_LOAD(dnnl_memory_destroy)
#undef TSR_DNNL_LOAD
    if (!ok) return;
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) {
      error = "oneDNN could not create its CPU engine";
      engine = nullptr;
    }
  }
};

const DnnlApi& api() {
  static const DnnlApi a;  // thread-safe one-time load
  return a;
}

void check(dnnl_status_t s, const char* what) {
  TSR_CHECK(s == dnnl_success, Error, "bf16 matmul: oneDNN ", what, " failed with status ", static_cast<int>(s));
}

using ShapeKey = std::tuple<int64_t, int64_t, int64_t, bool, bool, int64_t, float, float, int>;

struct Primitive {
  dnnl_primitive_t prim = nullptr;
  dnnl_primitive_desc_t pd = nullptr;
  dnnl_memory_desc_t src, weights, dst, scratchpad;
  size_t scratchpad_bytes = 0;
  std::string impl;
  // Never destroyed: the cache lives until exit, when oneDNN may already be torn down.
};

void strided_md(dnnl_memory_desc_t* md, int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride,
                dnnl_data_type_t type) {
  const dnnl_dims_t dims = {rows, cols}, strides = {row_stride, col_stride};
  check(api().dnnl_memory_desc_init_by_strides(md, 2, dims, type, strides), "memory descriptor");
}

std::unique_ptr<Primitive> create(const ShapeKey& key) {
  const auto& [M, N, K, trans_a, trans_b, ldc, alpha, beta, threads] = key;
  const DnnlApi& d = api();
  auto p = std::make_unique<Primitive>();
  // Compact operands in their stored layout: op(A)(i, k) at A[i*K + k], or A[k*M + i] when transposed.
  strided_md(&p->src, M, K, trans_a ? 1 : K, trans_a ? M : 1, dnnl_bf16);
  strided_md(&p->weights, K, N, trans_b ? 1 : N, trans_b ? K : 1, dnnl_bf16);
  strided_md(&p->dst, M, N, ldc, 1, dnnl_f32);
  dnnl_matmul_desc_t desc;
  check(d.dnnl_matmul_desc_init(&desc, &p->src, &p->weights, nullptr, &p->dst), "matmul descriptor");
  dnnl_primitive_attr_t attr;
  check(d.dnnl_primitive_attr_create(&attr), "attribute");
  dnnl_post_ops_t post = nullptr;
  d.dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
  if (alpha != 1.0f) d.dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha);
  if (beta != 0.0f) {  // dst = alpha * src * weights + beta * dst
    d.dnnl_post_ops_create(&post);
    d.dnnl_post_ops_append_sum(post, beta);
    d.dnnl_primitive_attr_set_post_ops(attr, post);
  }
  // See the file comment: created for the thread count it will run with.
  const int saved_threads = omp_get_max_threads();
  if (threads != saved_threads) omp_set_num_threads(threads);
  dnnl_status_t s = d.dnnl_primitive_desc_create(&p->pd, &desc, attr, d.engine, nullptr);
  if (s == dnnl_success) s = d.dnnl_primitive_create(&p->prim, p->pd);
  if (threads != saved_threads) omp_set_num_threads(saved_threads);
  if (post) d.dnnl_post_ops_destroy(post);
  d.dnnl_primitive_attr_destroy(attr);
  TSR_CHECK(s == dnnl_success, Error, "bf16 matmul: oneDNN cannot create a matmul primitive for M=", M, ", N=", N,
            ", K=", K, ", trans_a=", trans_a, ", trans_b=", trans_b, ", ldc=", ldc, " (status ",
            static_cast<int>(s), ")");
  p->scratchpad = *d.dnnl_primitive_desc_query_md(p->pd, dnnl_query_scratchpad_md, 0);
  p->scratchpad_bytes = d.dnnl_memory_desc_get_size(&p->scratchpad);
  const char* impl = nullptr;
  d.dnnl_primitive_desc_query(p->pd, dnnl_query_impl_info_str, 0, &impl);
  p->impl = impl ? impl : "?";
  return p;
}

// Created primitives by shape; entries live until exit (a training run has a few dozen shapes).
const Primitive& primitive_for(const ShapeKey& key) {
  static std::mutex mu;
  static std::map<ShapeKey, std::unique_ptr<Primitive>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, create(key)).first;
  return *it->second;
}

int threads_here() { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

// The calling thread's stream and scratchpad (oneDNN's shared scratchpad is not safe across threads).
struct ThreadState {
  dnnl_stream_t stream = nullptr;
  std::vector<char> scratchpad;
};

ThreadState& thread_state() {
  thread_local ThreadState t;
  if (!t.stream) check(api().dnnl_stream_create(&t.stream, api().engine, dnnl_stream_default_flags), "stream");
  return t;
}

}  // namespace

bool bf16_matmul_available(std::string* why) {
  const DnnlApi& d = api();
  if (d.engine) {
    // The library may lack a bf16 kernel for this CPU (then it would pick a reference loop).
    static const std::string impl = bf16_matmul_impl(false, false, 64, 64, 64);
    if (impl.rfind("ref", 0) != 0) return true;
    if (why) *why = "oneDNN offers only its reference bf16 matmul here (" + impl + ")";
    return false;
  }
  if (why) *why = d.error;
  return false;
}

void bf16_matmul(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A,
                 const uint16_t* B, float beta, float* C, int64_t ldc) {
  const DnnlApi& d = api();
  TSR_CHECK(d.engine, Error, "bf16 matmul: ", d.error);
  const Primitive& p = primitive_for({M, N, K, trans_a, trans_b, ldc, alpha, beta, threads_here()});
  ThreadState& t = thread_state();
  if (t.scratchpad.size() < p.scratchpad_bytes + 64) t.scratchpad.resize(p.scratchpad_bytes + 64);
  void* scratch = t.scratchpad.data();  // 64-byte aligned, as oneDNN's own buffers are
  size_t room = t.scratchpad.size();
  std::align(64, p.scratchpad_bytes, scratch, room);
  dnnl_memory_t mem[4] = {};
  check(d.dnnl_memory_create(&mem[0], &p.src, d.engine, const_cast<uint16_t*>(A)), "src memory");
  check(d.dnnl_memory_create(&mem[1], &p.weights, d.engine, const_cast<uint16_t*>(B)), "weights memory");
  check(d.dnnl_memory_create(&mem[2], &p.dst, d.engine, C), "dst memory");
  check(d.dnnl_memory_create(&mem[3], &p.scratchpad, d.engine, scratch), "scratchpad memory");
  const dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, mem[0]}, {DNNL_ARG_WEIGHTS, mem[1]}, {DNNL_ARG_DST, mem[2]},
                                   {DNNL_ARG_SCRATCHPAD, mem[3]}};
  const dnnl_status_t s = d.dnnl_primitive_execute(p.prim, t.stream, 4, args);
  for (dnnl_memory_t m : mem) d.dnnl_memory_destroy(m);
  TSR_CHECK(s == dnnl_success, Error, "bf16 matmul: oneDNN execution failed with status ", static_cast<int>(s),
            " (M=", M, ", N=", N, ", K=", K, ")");
}

std::string bf16_matmul_impl(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K) {
  TSR_CHECK(api().engine, Error, "bf16 matmul: ", api().error);
  return primitive_for({M, N, K, trans_a, trans_b, N, 1.0f, 0.0f, threads_here()}).impl;
}

}  // namespace tessera::cpu
