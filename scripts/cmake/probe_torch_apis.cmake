# Which libtorch C++ APIs this libtorch has, where they moved between versions in ways that
# TORCH_VERSION alone does not pin down. Each probe only compiles a few lines (no link).
# Defines on the addon target:
#   TORCHPOOL_ALLOC_END_ALLOCATE_TO_POOL          2.3+: endAllocateToPool + releasePool
#   TORCHPOOL_ALLOC_END_ALLOCATE_STREAM_TO_POOL   2.1-2.2: endAllocateStreamToPool + releasePool
#   TORCHPOOL_ALLOC_NOTIFY_CAPTURE_ENDED          2.0: notifyCaptureEnded + notifyCaptureDestroy
#   TORCHPOOL_ALLOC_NOTIFY_CAPTURE_END            1.13: notifyCaptureEnd + notifyCaptureDestroy
#   TORCHPOOL_WITH_AOTI                           2.6+: AOTIModelPackageLoader(path, name) with run(inputs, stream)
#   TORCHPOOL_AOTI_LOADER_DEVICE                  2.8+: its constructor takes (..., num_runners, device_index)
#   TORCHPOOL_AOTI_CONSTANTS                      its runner's extract_constants_map (weight accounting)
#   TORCHPOOL_AOTI_SHARE_CONSTANTS                load_constants(user_managed) and swap/free of the buffers
#                                                 (engines that capture graphs share one copy of the weights)
#   TORCHPOOL_WITH_KINETO_API                     1.13+: the Kineto profiler's C++ API (pool.profile()'s GPU kernels)
# scripts/check-cuda-syntax.sh runs the same probes against the headers it checks with.
include(CheckCXXSourceCompiles)
include_guard(GLOBAL)

function(_torchpool_probe_setup)
  set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY PARENT_SCOPE)
  get_target_property(_incs torch INTERFACE_INCLUDE_DIRECTORIES)
  set(_all ${TORCH_INCLUDE_DIRS} ${_incs} ${TORCHPOOL_PROBE_EXTRA_INCLUDES})
  if(TARGET CUDA::cudart)
    get_target_property(_cuda_incs CUDA::cudart INTERFACE_INCLUDE_DIRECTORIES)
    list(APPEND _all ${_cuda_incs} ${CUDAToolkit_INCLUDE_DIRS})
  endif()
  list(FILTER _all EXCLUDE REGEX "^\\$<|NOTFOUND$")
  set(CMAKE_REQUIRED_INCLUDES ${_all} PARENT_SCOPE)
  set(CMAKE_REQUIRED_FLAGS "${TORCH_CXX_FLAGS}" PARENT_SCOPE)
  set(CMAKE_REQUIRED_QUIET ON PARENT_SCOPE)
endfunction()

function(torchpool_probe_aoti target)
  _torchpool_probe_setup()
  set(_head "#include <torch/csrc/inductor/aoti_package/model_package_loader.h>\n#include <string>\n#include <vector>\nusing L = torch::inductor::AOTIModelPackageLoader;\n")
  check_cxx_source_compiles("${_head}void f() { L l(std::string(\"p\"), std::string(\"model\")); std::vector<at::Tensor> in; std::vector<at::Tensor> out = l.run(in, static_cast<void*>(nullptr)); auto m = l.get_metadata(); (void)m[\"AOTI_DEVICE_KEY\"]; std::vector<std::string> spec = l.get_call_spec(); }\nint main() { return 0; }"
    TORCHPOOL_WITH_AOTI)
  if(TORCHPOOL_WITH_AOTI)
    target_compile_definitions(${target} PRIVATE TORCHPOOL_WITH_AOTI=1)
    check_cxx_source_compiles("${_head}void f() { L l(std::string(\"p\"), std::string(\"model\"), false, 1, static_cast<c10::DeviceIndex>(0)); }\nint main() { return 0; }"
      TORCHPOOL_AOTI_LOADER_DEVICE)
    if(TORCHPOOL_AOTI_LOADER_DEVICE)
      target_compile_definitions(${target} PRIVATE TORCHPOOL_AOTI_LOADER_DEVICE=1)
    endif()
    set(_runner "#include <torch/csrc/inductor/aoti_runner/model_container_runner.h>\n#include <unordered_map>\n")
    check_cxx_source_compiles("${_head}${_runner}void f(L& l) { std::unordered_map<std::string, at::Tensor> m = l.get_runner()->extract_constants_map(false); (void)m; }\nint main() { return 0; }"
      TORCHPOOL_AOTI_CONSTANTS)
    if(TORCHPOOL_AOTI_CONSTANTS)
      target_compile_definitions(${target} PRIVATE TORCHPOOL_AOTI_CONSTANTS=1)
      check_cxx_source_compiles("${_head}${_runner}void f(L& l) { std::unordered_map<std::string, at::Tensor> m; l.load_constants(m, true, true, true); l.get_runner()->swap_constant_buffer(); l.get_runner()->free_inactive_constant_buffer(); }\nint main() { return 0; }"
        TORCHPOOL_AOTI_SHARE_CONSTANTS)
      if(TORCHPOOL_AOTI_SHARE_CONSTANTS)
        target_compile_definitions(${target} PRIVATE TORCHPOOL_AOTI_SHARE_CONSTANTS=1)
      endif()
    endif()
    message(STATUS "torchpool: AOTInductor constants: accounted ${TORCHPOOL_AOTI_CONSTANTS}, shared between graph engines ${TORCHPOOL_AOTI_SHARE_CONSTANTS}")
    message(STATUS "torchpool: AOTInductor packages (.pt2): supported")
  else()
    message(STATUS "torchpool: AOTInductor packages (.pt2): not supported by this libtorch (needs 2.6+)")
  endif()
endfunction()

function(torchpool_probe_cuda_apis target)
  _torchpool_probe_setup()
  set(_head "#include <c10/cuda/CUDACachingAllocator.h>\n#include <utility>\nnamespace a = c10::cuda::CUDACachingAllocator;\nstd::pair<unsigned long long, unsigned long long> p{0, 1};\n")
  check_cxx_source_compiles("${_head}void f() { a::endAllocateToPool(0, p); a::releasePool(0, p); }\nint main() { return 0; }"
    TORCHPOOL_ALLOC_END_ALLOCATE_TO_POOL)
  check_cxx_source_compiles("${_head}void f() { a::endAllocateStreamToPool(0, cudaStream_t{}); a::releasePool(0, p); }\nint main() { return 0; }"
    TORCHPOOL_ALLOC_END_ALLOCATE_STREAM_TO_POOL)
  check_cxx_source_compiles("${_head}void f() { a::notifyCaptureEnded(0, 0ull); a::notifyCaptureDestroy(0, p); }\nint main() { return 0; }"
    TORCHPOOL_ALLOC_NOTIFY_CAPTURE_ENDED)
  check_cxx_source_compiles("${_head}void f() { a::notifyCaptureEnd(0, 0ull); a::notifyCaptureDestroy(0, p); }\nint main() { return 0; }"
    TORCHPOOL_ALLOC_NOTIFY_CAPTURE_END)
  set(_found "")
  foreach(_api TORCHPOOL_ALLOC_END_ALLOCATE_TO_POOL TORCHPOOL_ALLOC_END_ALLOCATE_STREAM_TO_POOL
               TORCHPOOL_ALLOC_NOTIFY_CAPTURE_ENDED TORCHPOOL_ALLOC_NOTIFY_CAPTURE_END)
    if(${_api} AND NOT _found)
      target_compile_definitions(${target} PRIVATE ${_api}=1)
      set(_found ${_api})
    endif()
  endforeach()
  if(_found)
    message(STATUS "torchpool: graph-capture cleanup through ${_found}")
  else()
    message(WARNING "torchpool: none of the caching allocator's capture APIs compiled; a failed CUDA graph "
                    "capture will turn graphs off without returning its private memory pool")
  endif()
endfunction()

function(torchpool_probe_kineto target)
  _torchpool_probe_setup()
  check_cxx_source_compiles("#include <torch/csrc/autograd/profiler_kineto.h>\n#include <memory>\n#include <set>\nnamespace kp = torch::autograd::profiler;\nnamespace impl = torch::profiler::impl;\nvoid f() { const impl::ProfilerConfig c(impl::ProfilerState::KINETO); const std::set<impl::ActivityType> a{impl::ActivityType::CUDA}; kp::prepareProfiler(c, a); kp::enableProfiler(c, a); std::unique_ptr<kp::ProfilerResult> r = kp::disableProfiler(); for (const kp::KinetoEvent& e : r->events()) { (void)e.name(); (void)e.deviceType(); (void)e.deviceIndex(); } }\nint main() { return 0; }"
    TORCHPOOL_WITH_KINETO_API)
  if(TORCHPOOL_WITH_KINETO_API)
    target_compile_definitions(${target} PRIVATE TORCHPOOL_WITH_KINETO_API=1)
    message(STATUS "torchpool: Kineto profiler API (GPU kernels in pool.profile()): found")
  else()
    message(STATUS "torchpool: Kineto profiler API (GPU kernels in pool.profile()): not found")
  endif()
endfunction()
