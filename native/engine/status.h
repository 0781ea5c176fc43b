#pragma once
// Errors cross threads as values: an engine thread never throws into Node.

#include <exception>
#include <string>
#include <utility>

namespace torchpool {

// Mirrors the codes in lib/errors.ts; JavaScript sees "ERR_TORCHPOOL_" + ErrorCodeName(code).
enum class ErrorCode {
  kOk,
  kInvalidArg,
  kModelLoad,
  kForward,
  kClosed,
  kNoDevice,
  kCuda,
  kOutOfMemory,
  kQueueFull,
  kTimeout,
  kAborted,
  kExtensionLoad,
  kBusy,
  kInternal,
};

const char* ErrorCodeName(ErrorCode code);

// CUDA errors and out-of-memory say something about the device, not the request; repeated ones
// mark an engine unhealthy (engine.cc).
inline bool IsDeviceError(ErrorCode code) {
  return code == ErrorCode::kCuda || code == ErrorCode::kOutOfMemory;
}

class Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

// The one TIMEOUT status: set by the engine (deadline passed in the queue) or by cancel().
inline Status TimeoutStatus() {
  return Status(ErrorCode::kTimeout, "the request did not start within its timeoutMs");
}

// Turns the exception in flight (call from a catch block) into a Status. libtorch errors keep
// their message without the C++ backtrace; CUDA and out-of-memory failures get their own codes.
Status StatusFromCurrentException(ErrorCode fallback);

// TorchScript errors are a long traceback whose last line is the actual error: that line goes
// first, so that logs and `error.message.split('\n')[0]` show what went wrong.
Status SummarizeForwardError(Status status);

#define TORCHPOOL_RETURN_IF_ERROR(expr)      \
  do {                                       \
    ::torchpool::Status _status = (expr);    \
    if (!_status.ok()) return _status;       \
  } while (0)

}  // namespace torchpool
