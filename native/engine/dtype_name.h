#pragma once
// A scalar type as torchpool's API names it ("float32", "int64", ...), for messages and stats.

#include <c10/core/ScalarType.h>

namespace torchpool {

const char* DtypeName(c10::ScalarType type);

}  // namespace torchpool
