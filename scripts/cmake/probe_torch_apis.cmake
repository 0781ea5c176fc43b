# Which libtorch C++ APIs this libtorch has, where they moved between versions in ways that
# TORCH_VERSION alone does not pin down. Each probe only compiles a few lines (no link).
# Defines on the addon target:
#   TORCHPOOL_ALLOC_END_ALLOCATE_TO_POOL          2.3+: endAllocateToPool + releasePool
#   TORCHPOOL_ALLOC_END_ALLOCATE_STREAM_TO_POOL   2.1-2.2: endAllocateStreamToPool + releasePool
#   TORCHPOOL_ALLOC_NOTIFY_CAPTURE_ENDED          2.0: notifyCaptureEnded + notifyCaptureDestroy
#   TORCHPOOL_ALLOC_NOTIFY_CAPTURE_END            1.13: notifyCaptureEnd + notifyCaptureDestroy
# scripts/check-cuda-syntax.sh runs the same probes against the headers it checks with.
include(CheckCXXSourceCompiles)

function(torchpool_probe_cuda_apis target)
  set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
  get_target_property(_incs torch INTERFACE_INCLUDE_DIRECTORIES)
  get_target_property(_cuda_incs CUDA::cudart INTERFACE_INCLUDE_DIRECTORIES)
  set(CMAKE_REQUIRED_INCLUDES ${TORCH_INCLUDE_DIRS} ${_incs} ${_cuda_incs} ${CUDAToolkit_INCLUDE_DIRS}
      ${TORCHPOOL_PROBE_EXTRA_INCLUDES})
  list(FILTER CMAKE_REQUIRED_INCLUDES EXCLUDE REGEX "^\\$<|NOTFOUND$")
  set(CMAKE_REQUIRED_FLAGS "${TORCH_CXX_FLAGS}")
  set(CMAKE_REQUIRED_QUIET ON)
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
