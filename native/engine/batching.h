#pragma once
// Dynamic batching: which requests may share a forward, how their inputs are merged along
// dim 0, and how the output is cut back into one result per request.

#include <ATen/core/ivalue.h>

#include <string>
#include <unordered_map>
#include <vector>

#include "engine/padding.h"
#include "engine/request.h"

namespace torchpool {

// A key equal for requests that can be concatenated along dim 0: the same arguments, tensors
// of the same dtype and the same sizes apart from dim 0 (which must agree across tensors), and
// equal non-tensor values. Empty when the request cannot be batched (no tensor, a 0-d tensor,
// nested containers). `rows` receives dim 0. With `padding`, the padded axis of a padded input
// may differ too (the engine pads the batch to one length).
std::string BatchKey(const std::vector<c10::IValue>& args,
                     const std::unordered_map<std::string, c10::IValue>& kwargs, int64_t* rows,
                     const PaddingSpec* padding = nullptr);

// Concatenates the members' tensors along dim 0; non-tensor arguments come from the first.
void MergeInputs(const std::vector<RequestPtr>& members, std::vector<c10::IValue>* args,
                 std::unordered_map<std::string, c10::IValue>* kwargs);

// Cuts a batched output (host tensors, possibly inside tuples, lists and dicts) into one value
// per member by rows. False, with the reason, when some part of the output does not have the
// batch's rows in dim 0 (a reduction over the batch, a scalar): such a model cannot be batched.
bool SplitOutput(const c10::IValue& output, const std::vector<int64_t>& rows,
                 std::vector<c10::IValue>* parts, std::string* why);

// SplitOutput's check alone, without slicing: used on device outputs before they are copied.
// `why` may be null.
bool OutputKeepsRows(const c10::IValue& output, const std::vector<int64_t>& rows, std::string* why);

}  // namespace torchpool
