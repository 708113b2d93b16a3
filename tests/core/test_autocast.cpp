// The autocast state: names, the guard's nesting, and parallel_for handing
// the caller's precision to its worker chunks (where conv and attention run
// their per-sample GEMMs).
#include <gtest/gtest.h>

#include <atomic>

#include "tessera/core/autocast.h"
#include "tessera/core/error.h"
#include "tessera/core/parallel.h"

using namespace tessera;

TEST(Autocast, ParsesAndNamesPrecisions) {
  EXPECT_EQ(parse_precision("fp32"), Precision::fp32);
  EXPECT_EQ(parse_precision("bf16"), Precision::bf16);
  EXPECT_STREQ(precision_name(Precision::bf16), "bf16");
  EXPECT_STREQ(precision_name(Precision::fp32), "fp32");
  try {
    parse_precision("fp16", "train.precision");
    FAIL() << "fp16 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.precision: unknown precision 'fp16'"), std::string::npos) << e.what();
  }
}

TEST(Autocast, GuardNestsAndRestores) {
  EXPECT_EQ(autocast_precision(), Precision::fp32);
  {
    AutocastGuard outer(Precision::bf16);
    EXPECT_TRUE(autocast_bf16());
    {
      AutocastGuard inner(Precision::fp32);
      EXPECT_FALSE(autocast_bf16());
    }
    EXPECT_TRUE(autocast_bf16());
  }
  EXPECT_EQ(autocast_precision(), Precision::fp32);
}

TEST(Autocast, ParallelForChunksSeeTheCallersPrecision) {
  const int saved = get_num_threads();
  set_num_threads(2);
  for (Precision p : {Precision::bf16, Precision::fp32}) {
    AutocastGuard g(p);
    std::atomic<int> chunks{0}, matching{0};
    parallel_for(0, 64, 1, [&](int64_t, int64_t) {
      ++chunks;
      if (autocast_precision() == p) ++matching;
    });
    EXPECT_EQ(chunks.load(), 2);
    EXPECT_EQ(matching.load(), chunks.load()) << precision_name(p);
  }
  set_num_threads(saved);
}
