#pragma once
// dupFd(fd): a second descriptor of the same open socket, for `torchpool serve --threads`:
// every HTTP thread listens on its own duplicate of one listening socket, so the kernel hands
// connections to whichever thread accepts first, and a thread closing its server closes only its
// own descriptor.

#include <napi.h>

namespace torchpool {

Napi::Value DupFd(const Napi::CallbackInfo& info);

}  // namespace torchpool
