// The profiler (core/profiler.h, core/profile_report.h): nothing is recorded
// when off; ops, kernels and backward nodes become nested events with shapes,
// FLOPs and allocated bytes; self times add up; the Chrome trace holds every
// event with its fields.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tessera/core/profile_report.h"
#include "tessera/core/profiler.h"
#include "tessera/core/random.h"
#include "tessera/ops/elementwise.h"
#include "tessera/ops/linalg.h"
#include "tessera/ops/sum.h"
#include "test_util.h"

using namespace tessera;
using nlohmann::json;

namespace {

const profiler::Event* find(const std::vector<profiler::Event>& evs, const std::string& name) {
  for (const auto& e : evs)
    if (e.name == name) return &e;
  return nullptr;
}

bool inside(const profiler::Event& child, const profiler::Event& parent) {
  return child.tid == parent.tid && child.start_ns >= parent.start_ns &&
         child.start_ns + child.dur_ns <= parent.start_ns + parent.dur_ns;
}

// A linear layer's forward and backward, the loss summed.
void linear_step() {
  Tensor x = randn({8, 16});
  Tensor w = randn({4, 16});
  Tensor b = zeros({4});
  w.set_requires_grad(true);
  b.set_requires_grad(true);
  sum(linear(x, w, b)).backward();
}

}  // namespace

TEST(Profiler, RecordsNothingWhenOff) {
  profiler::start();
  profiler::stop();
  linear_step();
  EXPECT_TRUE(profiler::collect().empty());
}

TEST(Profiler, OpsKernelsAndBackwardNodesNest) {
  profiler::start();
  {
    profiler::Scope step("step", profiler::Kind::Step, 1);
    linear_step();
  }
  profiler::stop();
  const auto evs = profiler::collect();

  const profiler::Event* lin = find(evs, "linear");
  ASSERT_NE(lin, nullptr);
  EXPECT_EQ(lin->kind, profiler::Kind::Op);
  EXPECT_FALSE(lin->backward);
  ASSERT_EQ(lin->shapes.size(), 3u);  // x, weight, bias
  EXPECT_EQ(lin->shapes[0], (std::vector<int64_t>{8, 16}));
  EXPECT_EQ(lin->shapes[1], (std::vector<int64_t>{4, 16}));
  EXPECT_DOUBLE_EQ(lin->flops, 2.0 * 8 * 4 * 16);
  EXPECT_GE(lin->bytes, 8 * 4 * 4);  // its output
  EXPECT_EQ(lin->depth, 1);

  // The GEMM kernel runs inside the op.
  const profiler::Event* gemm = find(evs, "matmul_stub");
  ASSERT_NE(gemm, nullptr);
  EXPECT_EQ(gemm->kind, profiler::Kind::Kernel);
  EXPECT_TRUE(inside(*gemm, *lin));
  EXPECT_EQ(gemm->depth, 2);

  // The backward node, its GEMM's FLOPs (dw; x needs no gradient) and the ops it runs, marked backward.
  const profiler::Event* lb = find(evs, "linear_backward");
  ASSERT_NE(lb, nullptr);
  EXPECT_EQ(lb->kind, profiler::Kind::Backward);
  EXPECT_TRUE(lb->backward);
  EXPECT_DOUBLE_EQ(lb->flops, 2.0 * 8 * 4 * 16);
  int backward_kernels = 0;
  for (const auto& e : evs)
    if (e.kind == profiler::Kind::Kernel && inside(e, *lb)) {
      EXPECT_TRUE(e.backward) << e.name;
      ++backward_kernels;
    }
  EXPECT_GE(backward_kernels, 2);  // the GEMM and the bias gradient's row sum
  EXPECT_NE(find(evs, "sum_backward"), nullptr);

  const profiler::Summary s = profiler::summarize(evs);
  EXPECT_EQ(s.steps, 1);
  EXPECT_EQ(s.misnested, 0);
  EXPECT_EQ(s.uncounted, 0);
  EXPECT_EQ(s.self_ns, s.step_ns);  // self times partition the step exactly
  const auto row = std::find_if(s.rows.begin(), s.rows.end(), [](const profiler::Row& r) { return r.name == "linear"; });
  ASSERT_NE(row, s.rows.end());
  EXPECT_EQ(row->calls, 1);
  EXPECT_LE(row->self_ns, row->total_ns);
  EXPECT_DOUBLE_EQ(s.flops, 2 * 2.0 * 8 * 4 * 16);
  for (size_t i = 1; i < s.rows.size(); ++i) EXPECT_GE(s.rows[i - 1].self_ns, s.rows[i].self_ns);
  const std::string table = profiler::format_table(s);
  EXPECT_TRUE(test_util::has(table, "linear_backward")) << table;
  EXPECT_TRUE(test_util::has(table, "sum of self times")) << table;
}

TEST(Profiler, BytesGoToTheInnermostEventAndPauseSkips) {
  profiler::start();
  {
    profiler::Scope outer("outer", profiler::Kind::User);
    Tensor a = empty({100});  // 400 bytes, rounded up to 448
    {
      profiler::Scope inner("inner", profiler::Kind::User);
      Tensor b = empty({1000});
    }
    profiler::pause();
    { profiler::Scope skipped("skipped", profiler::Kind::User); }
    profiler::resume();
  }
  profiler::stop();
  const auto evs = profiler::collect();
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].name, "outer");
  EXPECT_EQ(evs[0].bytes, 448);
  EXPECT_EQ(evs[1].name, "inner");
  EXPECT_EQ(evs[1].bytes, 4032);
  EXPECT_TRUE(inside(evs[1], evs[0]));
}

TEST(Profiler, WithinStepsKeepsTheChosenStepsAndTheirChildren) {
  profiler::start();
  for (int64_t k = 1; k <= 3; ++k) {
    profiler::Scope step("decode", profiler::Kind::Step, k);
    add(ones({4}), ones({4}));
  }
  profiler::stop();
  const auto evs = profiler::collect();
  const auto kept = profiler::within_steps(evs, [](const profiler::Event& e) { return e.step == 2; });
  ASSERT_FALSE(kept.empty());
  EXPECT_EQ(kept.front().step, 2);
  EXPECT_LT(kept.size(), evs.size() / 2);
  for (const auto& e : kept) EXPECT_TRUE(inside(e, kept.front())) << e.name;
  EXPECT_EQ(profiler::summarize(kept).steps, 1);
}

TEST(Profiler, ChromeTraceHasEveryField) {
  profiler::start();
  {
    profiler::Scope step("step", profiler::Kind::Step, 7);
    linear_step();
  }
  profiler::stop();
  const auto evs = profiler::collect();
  const json trace = json::parse(profiler::chrome_trace_json(evs));
  ASSERT_TRUE(trace.at("traceEvents").is_array());
  size_t complete = 0;
  bool saw_flops = false, saw_backward = false, saw_shapes = false;
  for (const json& e : trace["traceEvents"]) {
    if (e.at("ph") == "M") continue;
    ++complete;
    EXPECT_EQ(e.at("ph"), "X");
    for (const char* key : {"name", "cat", "ts", "dur", "pid", "tid", "args"}) EXPECT_TRUE(e.contains(key)) << key;
    EXPECT_GE(e["dur"].get<double>(), 0.0);
    saw_flops |= e["args"].contains("flops");
    saw_backward |= e["args"].value("backward", false);
    saw_shapes |= e["args"].contains("shapes");
  }
  EXPECT_EQ(complete, evs.size());
  EXPECT_TRUE(saw_flops);
  EXPECT_TRUE(saw_backward);
  EXPECT_TRUE(saw_shapes);
}
