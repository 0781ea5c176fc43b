#include "binding/fd_binding.h"

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "binding/errors.h"

namespace torchpool {

Napi::Value DupFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) ThrowError(env, ErrorCode::kInvalidArg, "dupFd(fd): fd must be a number");
  const int fd = info[0].As<Napi::Number>().Int32Value();
  // Close-on-exec: child processes of the server must not inherit the listening socket.
  const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) {
    ThrowError(env, ErrorCode::kInternal, "cannot duplicate descriptor " + std::to_string(fd) + ": " + std::strerror(errno));
  }
  return Napi::Number::New(env, copy);
}

}  // namespace torchpool
