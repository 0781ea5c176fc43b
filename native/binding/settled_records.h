#pragma once
// The way results reach JavaScript: every request a drain (or a cancel, or a close) settles is
// packed into one batch that lib/settle.ts unpacks and uses to settle each promise. Building a
// JS object per result through Node-API costs microseconds (a backing store, a typed array,
// strings); the JS side builds the same objects in a fraction of that. So small tensor outputs
// (alone, in a tuple or list, or in a dict by string key) travel as bytes in one shared
// ArrayBuffer (each caller then gets a copy of its own), and anything else (scalars, nesting,
// large or caller-owned outputs, errors) as a ready JS value.
//
// The slab, read as Int32 from byte 0:
//   [0] records, [1] Int32 words of the header (this table), then per record:
//     ticket, 0 (a tensor), T                       -> resolve with the tensor
//     ticket, 1 (value), index in `values`          -> resolve with it
//     ticket, 2 (error), index in `values`          -> reject with it
//     ticket, 3 (tuple or list), n, T x n           -> resolve with an array of the tensors
//     ticket, 4 (dict), n, index in `values` of its keys (an array of strings), T x n
//   where T, a tensor in the slab, is: dtype index (kDtypes), byte offset, elements, ndim, dims...
//   then the tensors' bytes, each at an 8-byte aligned offset.

#include <napi.h>

#include <vector>

#include "engine/request.h"

namespace torchpool {

struct SettledBatch {
  Napi::Value slab;    // ArrayBuffer
  Napi::Array values;  // values and errors the records point at
};

// Converts the requests' outputs (or their status, when it is an error) into one batch. A
// conversion that fails makes that request's record an error; the requests are left as they
// were (the caller releases them).
SettledBatch PackSettled(Napi::Env env, const std::vector<RequestPtr>& requests);

}  // namespace torchpool
