// Core tensor tests: views share storage, strides, factories, dtype conversion.
#include <gtest/gtest.h>

#include "tessera/tessera.h"

using namespace tessera;

TEST(Tensor, FactoriesAndItem) {
  Tensor z = zeros({2, 3});
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.numel(), 6);
  EXPECT_TRUE(z.is_contiguous());
  EXPECT_EQ(full({}, 2.5).item(), 2.5);
  auto a = arange(0, 5);
  EXPECT_EQ(a.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_THROW(empty({-1, 2}), ShapeError);
}

TEST(Tensor, ViewsShareStorageWithoutCopy) {
  Tensor x = arange(0, 12, 1, {.dtype = DType::F32}).reshape({3, 4});
  Tensor t = x.t();
  EXPECT_EQ(t.storage().get(), x.storage().get());
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.strides(), (Shape{1, 4}));
  Tensor s = x.slice(1, 1, 4, 2);
  EXPECT_EQ(s.shape(), (Shape{3, 2}));
  EXPECT_EQ(s.offset(), 1);
  EXPECT_EQ(s.to_vector<float>(), (std::vector<float>{1, 3, 5, 7, 9, 11}));
  Tensor e = x.select(0, 1).unsqueeze(0).expand({5, 4});
  EXPECT_EQ(e.strides()[0], 0);
  EXPECT_EQ(e.storage().get(), x.storage().get());
  Tensor p = x.reshape({2, 6}).permute({1, 0});
  EXPECT_EQ(p.storage().get(), x.storage().get());
  // A view of a transposed tensor that cannot be expressed with strides must fail; reshape copies.
  EXPECT_THROW(t.view({12}), ShapeError);
  Tensor r = t.reshape({12});
  EXPECT_NE(r.storage().get(), x.storage().get());
  EXPECT_EQ(r.to_vector<float>()[1], 4.0f);
}

TEST(Tensor, NarrowSelectBounds) {
  Tensor x = zeros({3, 4});
  EXPECT_THROW(x.narrow(1, 2, 3), IndexError);
  EXPECT_THROW(x.select(0, 3), IndexError);
  EXPECT_THROW(x.transpose(0, 2), IndexError);
  try {
    x.view({5, 3});
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("[5, 3]"), std::string::npos);
  }
}

TEST(Tensor, DtypeConversionAndBf16) {
  Tensor x = from_vector<float>({1.0f, 2.5f, -3.0f, 1.0f / 3.0f}, {4});
  Tensor b = x.to(DType::BF16);
  EXPECT_EQ(b.dtype(), DType::BF16);
  auto back = b.to(DType::F32).to_vector<float>();
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[2], -3.0f);
  EXPECT_NEAR(back[3], 1.0f / 3.0f, 1.0f / 256);
  EXPECT_EQ(x.to(DType::I64).to_vector<int64_t>()[1], 2);
  EXPECT_THROW(add(b, b), DTypeError);
}

TEST(Allocator, SteadyLoopDoesNoSystemMalloc) {
  Tensor w = randn({64, 64});
  auto step = [&] {
    Tensor y = mul(add(w, 1.0), w);
    Tensor s = sum(y, {1});
    (void)s;
  };
  step();
  step();
  auto before = allocator_for(cpu_device()).stats().system_allocs;
  for (int i = 0; i < 20; ++i) step();
  EXPECT_EQ(allocator_for(cpu_device()).stats().system_allocs, before);
}

TEST(Random, SameValuesForAnyThreadCount) {
  set_num_threads(1);
  Generator g1(42);
  Tensor a = randn({100000}, g1);
  set_num_threads(2);
  Generator g2(42);
  Tensor b = randn({100000}, g2);
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  double m = mean(a).item();
  EXPECT_NEAR(m, 0.0, 0.02);
}
