#include "binding/dtypes.h"

namespace torchpool {

const DtypeInfo* FindDtype(std::string_view name) {
  for (const DtypeInfo& info : kDtypes) {
    if (name == info.name) return &info;
  }
  return nullptr;
}

const DtypeInfo* FindDtype(c10::ScalarType type) {
  for (const DtypeInfo& info : kDtypes) {
    if (info.scalar_type == type) return &info;
  }
  return nullptr;
}

const DtypeInfo* DefaultDtypeFor(napi_typedarray_type array_type) {
  if (array_type == napi_uint8_clamped_array) return FindDtype("uint8");
  for (const DtypeInfo& info : kDtypes) {
    if (info.array_type == array_type) return &info;  // first match: uint8 before bool
  }
  return nullptr;
}

}  // namespace torchpool
