#include "engine/request.h"

#include "engine/client.h"

namespace torchpool {

Request::~Request() {
  if (client) client->Release();
}

void Request::BindClient(std::shared_ptr<Client> owner) {
  client = std::move(owner);
  if (client) client->Acquire();
}

}  // namespace torchpool
