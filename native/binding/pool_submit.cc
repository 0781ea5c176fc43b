// PoolWrap, the way in (JS thread): lib/submissions.ts hands over the requests of one turn of
// the event loop in one call, as flat records (below). Each becomes a Request (inputs read in
// place from the caller's TypedArrays), and all of them join the shared queue under one lock.
// The way back is pool_settle.cc.
//
// submit(objects, numbers, count) -> undefined | [ticket, error, ticket, error, ...] (refused)
// Per request, in `numbers` (Float64Array):
//   kind (0: one tensor, 1: args and kwargs), ticket, id, priority, timeoutMs, flags (1: may be
//   batched, 2: has output arrays), then for kind 0: dtype index (-1: the array's own), ndim, dims...
// and in `objects`: kind 0: the tensor's data; kind 1: args, kwargs; then the output arrays if any.

#include "binding/errors.h"
#include "binding/js_values.h"
#include "binding/pool_wrap.h"
#include "engine/batching.h"

namespace torchpool {
namespace {

constexpr int kLoneTensor = 0;
constexpr int kArguments = 1;
constexpr int kBatchable = 1;
constexpr int kHasOutput = 2;

// Where the next record starts: records are read by position, so one whose parsing fails
// midway must not shift the others.
void SkipRecord(const double* numbers, size_t* word, uint32_t* object) {
  const int kind = static_cast<int>(numbers[*word]);
  const int flags = static_cast<int>(numbers[*word + 5]);
  *word += kind == kLoneTensor ? 8 + static_cast<size_t>(numbers[*word + 7]) : 6;
  *object += (kind == kLoneTensor ? 1 : 2) + ((flags & kHasOutput) != 0 ? 1 : 0);
}

}  // namespace

Status PoolWrap::ParseSubmission(Napi::Env env, const Napi::Array& objects, uint32_t* object, const double* numbers,
                                 size_t* word, Request* request) {
  const int kind = static_cast<int>(numbers[(*word)++]);
  request->ticket = static_cast<uint32_t>(numbers[(*word)++]);
  request->id = static_cast<uint64_t>(numbers[(*word)++]);
  request->priority = static_cast<int>(numbers[(*word)++]);
  const double timeout_ms = numbers[(*word)++];
  const int flags = static_cast<int>(numbers[(*word)++]);
  const ValuePath inputs("inputs");
  Status status;
  if (kind == kLoneTensor) {
    const int dtype = static_cast<int>(numbers[(*word)++]);
    const size_t ndim = static_cast<size_t>(numbers[(*word)++]);
    request->args.resize(1);
    status = TensorFromFlat(env, objects.Get((*object)++), dtype, numbers + *word, ndim, inputs, &request->args[0]);
    *word += ndim;
  } else if (kind == kArguments) {
    Napi::Array args = objects.Get((*object)++).As<Napi::Array>();
    Napi::Value kwargs_value = objects.Get((*object)++);
    const uint32_t arg_count = args.Length();
    request->args.resize(arg_count);
    for (uint32_t i = 0; i < arg_count && status.ok(); ++i) {
      status = JsToIValue(args.Get(i), ValuePath(&inputs, i), &request->args[i]);
    }
    if (status.ok() && kwargs_value.IsObject()) {
      Napi::Object kwargs = kwargs_value.As<Napi::Object>();
      Napi::Array names = kwargs.GetPropertyNames();
      const uint32_t name_count = names.Length();
      for (uint32_t i = 0; i < name_count && status.ok(); ++i) {
        std::string name = names.Get(i).As<Napi::String>().Utf8Value();
        status = JsToIValue(kwargs.Get(name), ValuePath(&inputs, &name), &request->kwargs[name]);
      }
    }
  } else {
    return Status(ErrorCode::kInternal, "submit(): a record of unknown kind");
  }
  Napi::Value output = (flags & kHasOutput) != 0 ? objects.Get((*object)++) : Napi::Value();
  TORCHPOOL_RETURN_IF_ERROR(status);
  TORCHPOOL_RETURN_IF_ERROR(core_->signature().Prepare(request->args, request->kwargs));
  // infer(..., { output }): the caller's arrays the outputs are written into.
  if (!output.IsEmpty()) {
    TORCHPOOL_RETURN_IF_ERROR(JsToOutputTargets(env, output, &request->output_targets, &request->js_output_refs));
  }
  request->enqueued = Clock::now();
  if (timeout_ms > 0) {
    request->deadline = request->enqueued + std::chrono::microseconds(static_cast<int64_t>(timeout_ms * 1000));
  }
  const PaddingSpec& padding = core_->padding();
  if (padding.enabled()) TORCHPOOL_RETURN_IF_ERROR(RequestLength(request->args, request->kwargs, padding, &request->length));
  // A request longer than the largest length bucket runs alone, at its own length.
  const bool too_long = padding.enabled() && !padding.buckets.empty() && request->length > padding.buckets.back();
  if ((flags & kBatchable) != 0 && !too_long && core_->scheduler().batching_enabled()) {
    request->batch_key = BatchKey(request->args, request->kwargs, &request->rows, padding.enabled() ? &padding : nullptr);
  }
  return Status::Ok();
}

Napi::Value PoolWrap::Submit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array objects = info[0].As<Napi::Array>();
  Napi::Float64Array numbers_array = info[1].As<Napi::Float64Array>();
  const double* numbers = numbers_array.Data();
  const uint32_t count = info[2].As<Napi::Number>().Uint32Value();
  std::vector<RequestPtr> requests;
  requests.reserve(count);
  std::vector<std::pair<uint32_t, Status>> refused;
  size_t word = 0;
  uint32_t object = 0;
  for (uint32_t i = 0; i < count; ++i) {
    auto request = std::make_unique<Request>();
    request->ticket = static_cast<uint32_t>(numbers[word + 1]);
    size_t record_word = word;
    uint32_t record_object = object;
    SkipRecord(numbers, &word, &object);
    Status status;
    try {
      status = ParseSubmission(env, objects, &record_object, numbers, &record_word, request.get());
    } catch (const Napi::Error& error) {
      // A failed N-API call (its exception is cleared by now): this request is refused, and
      // every other one of the call keeps its own outcome, since the JS side trusts the answer.
      status = Status(ErrorCode::kInternal, error.Message());
    }
    if (status.ok() && state_ != State::kReady) status = Status(ErrorCode::kClosed, "the pool is closed");
    if (!status.ok()) {
      ReleaseInputRefs(env, request->js_output_refs);
      refused.emplace_back(request->ticket, status);
      continue;
    }
    // Only this thread settles its requests, after this call returns (lib/settle.ts holds the
    // promise under the ticket), so an engine may already be running one meanwhile.
    request->BindClient(client_);
    requests.push_back(std::move(request));
  }
  std::vector<Status> refusals;
  if (!requests.empty()) core_->Submit(requests, &refusals);
  for (size_t i = 0; i < requests.size(); ++i) {
    if (requests[i] == nullptr) {
      BeginRequest(env);
      continue;
    }
    // Refused by the queue (QUEUE_FULL, NO_DEVICE, CLOSED): nothing of it runs.
    requests[i]->args.clear();
    requests[i]->kwargs.clear();
    ReleaseInputRefs(env, requests[i]->js_output_refs);
    refused.emplace_back(requests[i]->ticket, refusals[i]);
  }
  if (refused.empty()) return env.Undefined();
  Napi::Array result = Napi::Array::New(env, refused.size() * 2);
  for (size_t i = 0; i < refused.size(); ++i) {
    result.Set(static_cast<uint32_t>(2 * i), Napi::Number::New(env, refused[i].first));
    result.Set(static_cast<uint32_t>(2 * i + 1), MakeError(env, refused[i].second));
  }
  return result;
}

}  // namespace torchpool
