#include "engine/status.h"

#include <c10/util/Exception.h>

#include <new>

namespace torchpool {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "OK";
    case ErrorCode::kInvalidArg: return "INVALID_ARG";
    case ErrorCode::kModelLoad: return "MODEL_LOAD";
    case ErrorCode::kForward: return "FORWARD";
    case ErrorCode::kClosed: return "CLOSED";
    case ErrorCode::kNoDevice: return "NO_DEVICE";
    case ErrorCode::kCuda: return "CUDA";
    case ErrorCode::kOutOfMemory: return "OUT_OF_MEMORY";
    case ErrorCode::kQueueFull: return "QUEUE_FULL";
    case ErrorCode::kTimeout: return "TIMEOUT";
    case ErrorCode::kBusy: return "BUSY";
    case ErrorCode::kAborted: return "ABORTED";
    case ErrorCode::kExtensionLoad: return "EXTENSION_LOAD";
    case ErrorCode::kInternal: return "INTERNAL";
  }
  return "INTERNAL";
}

namespace {

ErrorCode Classify(const std::string& message, ErrorCode fallback) {
  // Matched on text because the exception types moved between libtorch 1.13 and 2.x.
  if (message.find("out of memory") != std::string::npos ||
      message.find("can't allocate memory") != std::string::npos ||
      message.find("not enough memory") != std::string::npos) {  // DefaultCPUAllocator
    return ErrorCode::kOutOfMemory;
  }
  if (message.find("CUDA error") != std::string::npos ||
      message.find("CUBLAS_STATUS") != std::string::npos ||
      message.find("cuDNN error") != std::string::npos) {
    return ErrorCode::kCuda;
  }
  return fallback;
}

}  // namespace

Status StatusFromCurrentException(ErrorCode fallback) {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return Status(ErrorCode::kOutOfMemory, "out of host memory (std::bad_alloc)");
  } catch (const c10::Error& e) {
    std::string message = e.what_without_backtrace();
    const ErrorCode code = Classify(message, fallback);  // before the move below
    return Status(code, std::move(message));
  } catch (const std::exception& e) {
    std::string message = e.what();
    const ErrorCode code = Classify(message, fallback);  // before the move below
    return Status(code, std::move(message));
  } catch (...) {
    return Status(fallback, "unknown native exception");
  }
}

Status SummarizeForwardError(Status status) {
  const std::string& message = status.message();
  size_t end = message.find_last_not_of("\n ");
  if (end == std::string::npos) return status;
  size_t start = message.rfind('\n', end);
  if (start == std::string::npos) return status;  // already one line
  std::string last = message.substr(start + 1, end - start);
  return Status(status.code(), last + "\n\n" + message);
}

}  // namespace torchpool
