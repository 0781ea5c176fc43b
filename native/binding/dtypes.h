#pragma once
// The one table that maps torchpool dtype names to libtorch scalar types and TypedArrays.
// lib/tensor.ts holds its JavaScript twin.

#include <c10/core/ScalarType.h>
#include <js_native_api_types.h>

#include <cstddef>
#include <string_view>

namespace torchpool {

struct DtypeInfo {
  const char* name;
  c10::ScalarType scalar_type;
  napi_typedarray_type array_type;
  size_t element_size;
};

inline constexpr DtypeInfo kDtypes[] = {
    {"float32", c10::ScalarType::Float, napi_float32_array, 4},
    {"float64", c10::ScalarType::Double, napi_float64_array, 8},
    {"float16", c10::ScalarType::Half, napi_uint16_array, 2},
    {"int64", c10::ScalarType::Long, napi_bigint64_array, 8},
    {"int32", c10::ScalarType::Int, napi_int32_array, 4},
    {"int16", c10::ScalarType::Short, napi_int16_array, 2},
    {"int8", c10::ScalarType::Char, napi_int8_array, 1},
    {"uint8", c10::ScalarType::Byte, napi_uint8_array, 1},
    {"bool", c10::ScalarType::Bool, napi_uint8_array, 1},
};

static_assert(sizeof(kDtypes) / sizeof(kDtypes[0]) == 9, "keep lib/tensor.ts in step");

const DtypeInfo* FindDtype(std::string_view name);
const DtypeInfo* FindDtype(c10::ScalarType type);
// The dtype a TypedArray means when the tensor names none (Uint16Array: float16 bits).
const DtypeInfo* DefaultDtypeFor(napi_typedarray_type array_type);

}  // namespace torchpool
