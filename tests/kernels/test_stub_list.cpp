// The one list of kernel stubs (src/kernels/stub_list.h): every stub on it has
// a CPU kernel, names are unique, and dispatching to a device without a kernel
// is a DeviceError that names the stub.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "kernels/stub_list.h"
#include "test_util.h"
#include "tessera/tessera.h"

using namespace tessera;

TEST(StubList, EveryStubHasACpuKernel) {
  const auto& stubs = all_stubs();
  ASSERT_FALSE(stubs.empty());
  std::string missing;
  for (const StubInfo& s : stubs)
    if (!s.has_kernel(DeviceType::CPU)) missing += std::string(missing.empty() ? "" : ", ") + s.name;
  EXPECT_TRUE(missing.empty()) << "stubs without a CPU kernel (register one with TSR_REGISTER_KERNEL in "
                                  "src/backends/cpu/): "
                               << missing;
}

TEST(StubList, NamesAreUniqueAndIncludeTheDecodeKernel) {
  std::set<std::string> names;
  for (const StubInfo& s : all_stubs()) EXPECT_TRUE(names.insert(s.name).second) << s.name << " listed twice";
  for (const char* expected : {"binary_stub", "copy_stub", "decode_attention_stub", "index_range_stub",
                               "pow_sum_stub", "adam_step_stub", "where_stub"})
    EXPECT_TRUE(names.count(expected)) << expected << " is not on the list";
}

TEST(StubList, NoKernelForADeviceIsADeviceErrorNamingTheStub) {
  DispatchStub<void (*)()> empty_stub{"empty_stub"};  // what a stub looks like before any backend registers
  EXPECT_FALSE(empty_stub.has_kernel(DeviceType::CPU));
  test_util::expect_error<DeviceError>([&] { empty_stub[cpu_device()]; }, {"empty_stub", "no kernel", "cpu"});
}
