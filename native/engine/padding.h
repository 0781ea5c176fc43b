#pragma once
// Batching requests of different lengths (the `padding` option): text and sequence models take
// inputs whose length differs per request on one axis besides the batch one. Requests that differ
// only there share a batch: the engine pads each padded input along its axis to one length (the
// longest in the batch, or the next of `paddingBuckets`) with the input's pad value, runs them as
// one forward, and cuts every output whose size on a padded axis is that length back to each
// request's own length. The model must ignore the padding (an attention mask does).

#include <ATen/core/ivalue.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/request.h"
#include "engine/status.h"

namespace torchpool {

class ForwardSignature;

struct PaddedInput {
  std::string name;
  int position = -1;  // in forward's arguments, from the signature
  int64_t axis = 1;
  double value = 0;
};

struct PaddingSpec {
  std::vector<PaddedInput> inputs;  // empty: no padding
  std::vector<int64_t> buckets;     // ascending; empty: pad to the longest in the batch
  bool enabled() const { return !inputs.empty(); }
  // The padded input an argument is (by position, or by name for keyword arguments), if any.
  const PaddedInput* Find(int position, const std::string& name) const;
  // The smallest bucket that holds `length`; 0 when there is none.
  int64_t Bucket(int64_t length) const;
};

// Load: the inputs' positions from the signature. INVALID_ARG for a name forward does not have.
Status ResolvePadding(PaddingSpec* spec, const ForwardSignature& signature);

// JS thread: the request's length on its padded axes (0: it has no padded input). INVALID_ARG
// when its padded inputs disagree, or one lacks its axis.
Status RequestLength(const std::vector<c10::IValue>& args, const std::unordered_map<std::string, c10::IValue>& kwargs,
                     const PaddingSpec& spec, int64_t* length);

// Engine thread: pads the members' padded inputs to one length (the longest, or its bucket) and
// records it in each member's padded_length.
void PadMembers(std::vector<RequestPtr>& members, const PaddingSpec& spec);

// Engine thread, once the output is split per request: outputs that have the padded length on a
// padded axis are cut back to the request's own length.
void TrimPadding(Request& request, const PaddingSpec& spec);

}  // namespace torchpool
