#pragma once
// What kind of model a file holds, read from its zip directory without loading anything:
// TorchScript (torch.jit.save: <root>/data.pkl, <root>/constants.pkl, <root>/code/) or an
// AOTInductor package (torch._inductor.aoti_compile_and_package: [<root>/]data/aotinductor/
// <model name>/...), which may hold several models.

#include <string>
#include <vector>

namespace torchpool {

enum class ModelFormat { kUnknown, kTorchScript, kAoti };

struct ModelInspection {
  ModelFormat format = ModelFormat::kUnknown;
  std::vector<std::string> aoti_models;  // the model names inside an AOTInductor package
  std::string why;                       // when kUnknown: why (not a zip, no known layout)
};

// `bytes`: the whole file.
ModelInspection InspectModel(const std::string& bytes);

const char* ModelFormatName(ModelFormat format);

}  // namespace torchpool
