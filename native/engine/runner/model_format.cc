#include "engine/runner/model_format.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace torchpool {
namespace {

uint32_t U16(const std::string& b, size_t at) {
  return static_cast<uint8_t>(b[at]) | (static_cast<uint8_t>(b[at + 1]) << 8);
}

uint32_t U32(const std::string& b, size_t at) {
  return U16(b, at) | (U16(b, at + 2) << 16);
}

uint64_t U64(const std::string& b, size_t at) {
  return U32(b, at) | (static_cast<uint64_t>(U32(b, at + 4)) << 32);
}

// The names in the zip's central directory; false when it is not a zip.
bool ZipNames(const std::string& b, std::vector<std::string>* names, std::string* why) {
  constexpr size_t kEndRecord = 22;
  if (b.size() < kEndRecord) {
    *why = "the file is too small to be a model archive";
    return false;
  }
  // The end-of-central-directory record, found from the end (a comment may follow it).
  size_t end = std::string::npos;
  const size_t lowest = b.size() > kEndRecord + 65535 ? b.size() - kEndRecord - 65535 : 0;
  for (size_t at = b.size() - kEndRecord + 1; at-- > lowest;) {
    if (U32(b, at) == 0x06054b50) {
      end = at;
      break;
    }
  }
  if (end == std::string::npos) {
    *why = "it is not a zip archive (TorchScript files and .pt2 packages are)";
    return false;
  }
  uint64_t count = U16(b, end + 10);
  uint64_t offset = U32(b, end + 16);
  // Archives over 4 GB or with many entries keep the real figures in the zip64 record.
  if ((offset == 0xffffffff || count == 0xffff) && end >= 20 && U32(b, end - 20) == 0x07064b50) {
    const uint64_t record = U64(b, end - 20 + 8);
    if (record + 56 <= b.size() && U32(b, record) == 0x06064b50) {
      count = U64(b, record + 32);
      offset = U64(b, record + 48);
    }
  }
  size_t at = offset;
  for (uint64_t i = 0; i < count; ++i) {
    if (at + 46 > b.size() || U32(b, at) != 0x02014b50) {
      *why = "its zip directory is damaged (the file may be truncated)";
      return false;
    }
    const size_t name_length = U16(b, at + 28);
    const size_t extra = U16(b, at + 30);
    const size_t comment = U16(b, at + 32);
    if (at + 46 + name_length > b.size()) {
      *why = "its zip directory is damaged (the file may be truncated)";
      return false;
    }
    names->push_back(b.substr(at + 46, name_length));
    at += 46 + name_length + extra + comment;
  }
  return true;
}

bool EndsWith(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

}  // namespace

ModelInspection InspectModel(const std::string& bytes) {
  ModelInspection out;
  std::vector<std::string> names;
  if (!ZipNames(bytes, &names, &out.why)) return out;
  bool torchscript = false;
  for (const std::string& name : names) {
    const size_t aoti = name.find("data/aotinductor/");
    if (aoti != std::string::npos && (aoti == 0 || name[aoti - 1] == '/')) {
      const size_t start = aoti + std::strlen("data/aotinductor/");
      const size_t slash = name.find('/', start);
      if (slash != std::string::npos && slash > start) {
        const std::string model = name.substr(start, slash - start);
        if (std::find(out.aoti_models.begin(), out.aoti_models.end(), model) == out.aoti_models.end()) {
          out.aoti_models.push_back(model);
        }
      }
    }
    if (EndsWith(name, "/data.pkl") || EndsWith(name, "/constants.pkl") || name == "data.pkl") torchscript = true;
  }
  if (!out.aoti_models.empty()) {
    out.format = ModelFormat::kAoti;
  } else if (torchscript) {
    out.format = ModelFormat::kTorchScript;
  } else {
    out.why = "the zip holds neither a TorchScript archive (data.pkl, constants.pkl) nor an AOTInductor package (data/aotinductor/<model>/)";
  }
  return out;
}

const char* ModelFormatName(ModelFormat format) {
  switch (format) {
    case ModelFormat::kTorchScript: return "torchscript";
    case ModelFormat::kAoti: return "aoti";
    default: return "unknown";
  }
}

}  // namespace torchpool
