// The dispatch point. Each kernel is a DispatchStub with one function pointer
// per device type. Stubs are declared by family in src/kernels/*.h and listed
// once in src/kernels/stub_list.h (which defines them); a backend registers its
// implementation at load time (TSR_REGISTER_KERNEL in src/backends/<device>/).
// Inside a kernel the dtype is dispatched with dispatch_floating /
// dispatch_numeric (core/dtype.h). A CUDA backend adds files under
// src/backends/cuda/ and touches nothing else.
#pragma once
#include <utility>

#include "tessera/core/device.h"
#include "tessera/core/error.h"
#include "tessera/core/profiler.h"

namespace tessera {

// What stub[device] returns: the kernel, called inside a profiler event
// named after the stub (core/profiler.h), so every kernel call is timed in
// this one place. Off, the event is one relaxed load and a branch.
template <typename Fn>
struct KernelCall {
  Fn fn;
  const char* name;
  template <typename... Args>
  decltype(auto) operator()(Args&&... args) const {
    profiler::Scope scope(name, profiler::Kind::Kernel);
    return fn(std::forward<Args>(args)...);
  }
};

template <typename Fn>
struct DispatchStub {
  const char* name;
  Fn table[kNumDeviceTypes] = {};

  constexpr explicit DispatchStub(const char* n) : name(n) {}

  bool has_kernel(DeviceType type) const { return table[static_cast<int>(type)] != nullptr; }

  KernelCall<Fn> operator[](Device device) const {
    Fn f = table[static_cast<int>(device.type)];
    if (!f) throw DeviceError(detail::concat(name, ": no kernel for device ", device.str(), " in this build"));
    return {f, name};
  }
};

template <typename Fn>
struct KernelRegistration {
  KernelRegistration(DispatchStub<Fn>& stub, DeviceType type, Fn fn) { stub.table[static_cast<int>(type)] = fn; }
};

}  // namespace tessera

#define TSR_CONCAT_INNER(a, b) a##b
#define TSR_CONCAT(a, b) TSR_CONCAT_INNER(a, b)
// Declare in a header: TSR_DECLARE_STUB(add_stub, void (*)(Tensor&, const Tensor&, const Tensor&));
#define TSR_DECLARE_STUB(name, ...)      \
  using name##_fn = __VA_ARGS__;          \
  extern ::tessera::DispatchStub<name##_fn> name
#define TSR_DEFINE_STUB(name) constinit ::tessera::DispatchStub<name##_fn> name{#name}
#define TSR_REGISTER_KERNEL(stub, device_type, fn)                                                 \
  static ::tessera::KernelRegistration<stub##_fn> TSR_CONCAT(tsr_kernel_reg_, __LINE__)(stub, device_type, fn)
