# Finds libtorch in the order users expect (see README, "Building from source"):
#   1. TORCHPOOL_TORCH_DIR: an unpacked libtorch, or a CMake prefix that holds Torch/TorchConfig.cmake
#   2. the torch inside the machine's Python (torch.utils.cmake_prefix_path)
#   3. the system (Debian's libtorch-dev, or CMAKE_PREFIX_PATH)
# Sets TORCHPOOL_TORCH_ORIGIN, TORCHPOOL_TORCH_VERSION, TORCHPOOL_TORCH_LIB_DIR, TORCHPOOL_TORCH_HAS_CUDA.

function(_torchpool_prefixes_under dir out)
  set(${out} "${dir}" "${dir}/share/cmake" "${dir}/share/cmake/Torch" PARENT_SCOPE)
endfunction()

set(TORCHPOOL_TORCH_ORIGIN "")

if(DEFINED ENV{TORCHPOOL_TORCH_DIR} AND NOT "$ENV{TORCHPOOL_TORCH_DIR}" STREQUAL "")
  _torchpool_prefixes_under("$ENV{TORCHPOOL_TORCH_DIR}" _torch_hints)
  find_package(Torch CONFIG QUIET PATHS ${_torch_hints} NO_DEFAULT_PATH)
  if(NOT Torch_FOUND)
    message(FATAL_ERROR
      "torchpool: TORCHPOOL_TORCH_DIR=$ENV{TORCHPOOL_TORCH_DIR} holds no libtorch CMake config "
      "(looked for Torch/TorchConfig.cmake under it and under share/cmake). Point it at an unpacked "
      "libtorch zip or at python -c 'import torch.utils; print(torch.utils.cmake_prefix_path)'.")
  endif()
  set(TORCHPOOL_TORCH_ORIGIN "TORCHPOOL_TORCH_DIR")
endif()

if(NOT Torch_FOUND)
  foreach(_python python3 python)
    find_program(_torchpool_python NAMES ${_python})
    if(_torchpool_python)
      execute_process(
        COMMAND "${_torchpool_python}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
        OUTPUT_VARIABLE _py_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
        RESULT_VARIABLE _py_rc ERROR_QUIET)
      # Debian's python3-torch reports a prefix that does not exist; only use one that holds a config.
      if(_py_rc EQUAL 0 AND EXISTS "${_py_prefix}/Torch/TorchConfig.cmake")
        find_package(Torch CONFIG QUIET PATHS "${_py_prefix}" NO_DEFAULT_PATH)
        if(Torch_FOUND)
          set(TORCHPOOL_TORCH_ORIGIN "python torch (${_torchpool_python})")
          break()
        endif()
      endif()
    endif()
    unset(_torchpool_python CACHE)
  endforeach()
endif()

if(NOT Torch_FOUND)
  find_package(Torch CONFIG QUIET)
  if(Torch_FOUND)
    set(TORCHPOOL_TORCH_ORIGIN "system")
  endif()
endif()

if(NOT Torch_FOUND)
  message(FATAL_ERROR
    "torchpool: libtorch not found. Either\n"
    "  - Debian/Ubuntu: sudo apt-get install libtorch-dev libopenblas0-openmp\n"
    "  - set TORCHPOOL_TORCH_DIR to an unpacked libtorch (https://pytorch.org, C++ LibTorch zip)\n"
    "  - or install PyTorch for python3 (its libtorch is used)\n"
    "then run: npm rebuild torchpool")
endif()

get_filename_component(TORCHPOOL_TORCH_LIB_DIR "${TORCH_LIBRARY}" DIRECTORY)

# The version header is the one the compiler will see, so it is the one to report.
# (Some libtorch configs leave Torch_VERSION and TORCH_INCLUDE_DIRS empty: look near the libraries too.)
set(TORCHPOOL_TORCH_VERSION "${Torch_VERSION}")
set(_torch_inc_candidates ${TORCH_INCLUDE_DIRS})
if(TARGET torch)
  get_target_property(_torch_target_incs torch INTERFACE_INCLUDE_DIRECTORIES)
  if(_torch_target_incs)
    list(APPEND _torch_inc_candidates ${_torch_target_incs})
  endif()
endif()
list(APPEND _torch_inc_candidates
  "${TORCHPOOL_TORCH_LIB_DIR}/../include"
  "${TORCHPOOL_TORCH_LIB_DIR}/../include/torch/csrc/api/include")
foreach(_inc ${_torch_inc_candidates})
  if(EXISTS "${_inc}/torch/version.h")
    set(_parts "")
    foreach(_part MAJOR MINOR PATCH)
      file(STRINGS "${_inc}/torch/version.h" _line REGEX "#define TORCH_VERSION_${_part} ")
      string(REGEX MATCH "[0-9]+" _num "${_line}")
      list(APPEND _parts "${_num}")
    endforeach()
    string(REPLACE ";" "." _version "${_parts}")
    if(_version MATCHES "^[0-9]+\\.[0-9]+\\.[0-9]+$")
      set(TORCHPOOL_TORCH_VERSION "${_version}")
      break()
    endif()
  endif()
endforeach()
if(NOT TORCHPOOL_TORCH_VERSION)
  set(TORCHPOOL_TORCH_VERSION "(version unknown)")
endif()

if(TARGET torch_cuda OR TARGET c10_cuda OR C10_CUDA_LIBRARY)
  set(TORCHPOOL_TORCH_HAS_CUDA ON)
else()
  set(TORCHPOOL_TORCH_HAS_CUDA OFF)
endif()
