#include "binding/js_values.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "binding/dtypes.h"
#include "binding/errors.h"

namespace torchpool {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;
// Below this, copying into a fresh ArrayBuffer is cheaper than an external one and its finalizer.
constexpr size_t kMinLentBytes = 64 * 1024;

Status Invalid(const std::string& where, const std::string& what) {
  return Status(ErrorCode::kInvalidArg, where + ": " + what);
}

Status Invalid(const ValuePath& where, const char* suffix, const std::string& what) {
  return Invalid(where.str() + suffix, what);
}

Status ShapeFromJs(const Napi::Value& value, const ValuePath& where,
                   std::vector<int64_t>* shape, int64_t* numel) {
  if (!value.IsArray()) return Invalid(where, ".shape", "expected an array of dimensions");
  Napi::Array dims = value.As<Napi::Array>();
  const uint32_t ndim = dims.Length();
  *numel = 1;
  shape->resize(ndim);
  for (uint32_t i = 0; i < ndim; ++i) {
    Napi::Value dim = dims.Get(i);
    double d = dim.IsNumber() ? dim.As<Napi::Number>().DoubleValue() : -1.0;
    if (!dim.IsNumber() || d < 0 || std::floor(d) != d || d > kMaxSafeInteger) {
      return Invalid(where, (".shape[" + std::to_string(i) + "]").c_str(),
                     "expected a non-negative integer dimension");
    }
    (*shape)[i] = static_cast<int64_t>(d);
    *numel *= (*shape)[i];
  }
  return Status::Ok();
}

// The tensor over `data_value` (a TypedArray of `numel` elements) with `shape`; `dtype` null:
// the dtype the array's type stands for.
Status TensorFromParts(Napi::Env env, const Napi::Value& data_value, const DtypeInfo* dtype,
                       const std::vector<int64_t>& shape, int64_t numel, const ValuePath& where,
                       c10::IValue* out) {
  if (!data_value.IsTypedArray()) {
    return Invalid(where, ".data", "expected a TypedArray");
  }
  Napi::TypedArray data = data_value.As<Napi::TypedArray>();
  napi_typedarray_type array_type = data.TypedArrayType();
  if (dtype == nullptr) {
    dtype = DefaultDtypeFor(array_type);
    if (dtype == nullptr) return Invalid(where, ".data", "this TypedArray type has no dtype");
  }
  if (array_type == napi_uint8_clamped_array) array_type = napi_uint8_array;
  if (array_type != dtype->array_type) {
    return Invalid(where, ".data", std::string("this TypedArray does not hold ") + dtype->name);
  }
  if (static_cast<size_t>(numel) != data.ElementLength()) {
    return Invalid(where, ".data", "shape holds " + std::to_string(numel) +
                                        " elements but data has " +
                                        std::to_string(data.ElementLength()));
  }
  auto options = at::TensorOptions().dtype(dtype->scalar_type);
  // The view's own data pointer: it works for a SharedArrayBuffer too, which
  // TypedArray::ArrayBuffer() (an ArrayBuffer wrapper) refuses.
  void* view_data = nullptr;
  if (napi_get_typedarray_info(env, data, nullptr, nullptr, &view_data, nullptr, nullptr) != napi_ok ||
      (view_data == nullptr && numel > 0)) {
    return Status(ErrorCode::kInternal, where.str() + ".data: cannot read this TypedArray's memory");
  }
  const uint8_t* source = static_cast<const uint8_t*>(view_data);
  if (dtype->scalar_type == c10::ScalarType::Bool || numel == 0) {
    // libtorch requires bool bytes to be exactly 0 or 1, so these are copied (and normalised).
    at::Tensor tensor = at::empty(shape, options);
    bool* target = numel > 0 ? tensor.data_ptr<bool>() : nullptr;
    for (int64_t i = 0; i < numel; ++i) target[i] = source[i] != 0;
    *out = std::move(tensor);
    return Status::Ok();
  }
  // A view of the caller's memory: no copy on the JS thread. lib/settle.ts keeps the array alive
  // until the request settles; the documented contract is that the caller leaves it unchanged
  // until then (as with fs.write).
  *out = at::from_blob(const_cast<uint8_t*>(source), shape, options);
  return Status::Ok();
}

Status TensorFromJs(const Napi::Object& object, const ValuePath& where, c10::IValue* out) {
  const AddonData& keys = GetAddonData(object.Env());
  Napi::Value data_value = object.Get(keys.Key(AddonData::kData));
  if (!data_value.IsTypedArray()) {
    return Invalid(where, ".data", "expected a TypedArray");
  }
  Napi::Value dtype_value = object.Get(keys.Key(AddonData::kDtype));
  const DtypeInfo* dtype = nullptr;
  if (!dtype_value.IsUndefined()) {
    std::string name = dtype_value.IsString() ? dtype_value.As<Napi::String>().Utf8Value() : "";
    dtype = FindDtype(name);
    if (dtype == nullptr) return Invalid(where, ".dtype", "unsupported dtype '" + name + "'");
  }
  std::vector<int64_t> shape;
  int64_t numel = 0;
  TORCHPOOL_RETURN_IF_ERROR(ShapeFromJs(object.Get(keys.Key(AddonData::kShape)), where, &shape, &numel));
  return TensorFromParts(object.Env(), data_value, dtype, shape, numel, where, out);
}

Status ListFromJs(const Napi::Array& array, const ValuePath& where, c10::IValue* out) {
  const uint32_t length = array.Length();
  std::vector<c10::IValue> items(length);
  bool all_tensors = true, all_ints = true, all_numbers = true, all_bools = true;
  for (uint32_t i = 0; i < length; ++i) {
    TORCHPOOL_RETURN_IF_ERROR(JsToIValue(array.Get(i), ValuePath(&where, i), &items[i]));
    all_tensors = all_tensors && items[i].isTensor();
    all_ints = all_ints && items[i].isInt();
    all_numbers = all_numbers && (items[i].isInt() || items[i].isDouble());
    all_bools = all_bools && items[i].isBool();
  }
  if (all_tensors) {
    c10::List<at::Tensor> list;
    for (auto& item : items) list.push_back(item.toTensor());
    *out = std::move(list);
  } else if (all_ints) {
    c10::List<int64_t> list;
    for (auto& item : items) list.push_back(item.toInt());
    *out = std::move(list);
  } else if (all_numbers) {
    c10::List<double> list;
    for (auto& item : items) list.push_back(item.toScalar().toDouble());
    *out = std::move(list);
  } else if (all_bools) {
    c10::List<bool> list;
    for (auto& item : items) list.push_back(item.toBool());
    *out = std::move(list);
  } else {
    return Invalid(where.str(), "a list must hold only tensors, only numbers or only booleans");
  }
  return Status::Ok();
}

void FinalizeOutputTensor(napi_env env, void* /*data*/, void* hint) {
  auto* tensor = static_cast<at::Tensor*>(hint);
  int64_t adjusted = 0;
  napi_adjust_external_memory(env, -static_cast<int64_t>(tensor->nbytes()), &adjusted);
  delete tensor;
}

// An output tensor that is the only user of memory libtorch allocated can be handed to JS as is;
// anything else (a view, a model parameter, an input's memory) is copied.
bool CanLendStorage(const at::Tensor& tensor) {
  const c10::Storage& storage = tensor.storage();
  return storage.allocator() != nullptr && storage.use_count() == 1 &&
         tensor.storage_offset() == 0 && tensor.nbytes() == storage.nbytes() &&
         tensor.nbytes() >= kMinLentBytes;
}

napi_value OutputBuffer(Napi::Env env, const at::Tensor& tensor) {
  size_t bytes = tensor.nbytes();
  if (CanLendStorage(tensor)) {
    auto* owner = new at::Tensor(tensor);
    napi_value buffer;
    if (napi_create_external_arraybuffer(env, owner->data_ptr(), bytes, FinalizeOutputTensor, owner,
                                         &buffer) == napi_ok) {
      int64_t adjusted = 0;
      napi_adjust_external_memory(env, static_cast<int64_t>(bytes), &adjusted);
      return buffer;
    }
    delete owner;  // external buffers not allowed here (e.g. a V8 sandbox): copy instead
  }
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, bytes);
  if (bytes > 0) std::memcpy(buffer.Data(), tensor.data_ptr(), bytes);
  return buffer;
}

// { data, shape, dtype } of `tensor`; `data` a new array over its memory, or `given` (the
// caller's array, already holding `shaped`'s values) with `shaped` giving shape and dtype.
Napi::Value TensorToJs(Napi::Env env, const at::Tensor& tensor, Status* status, Napi::Value given = Napi::Value(),
                       const at::Tensor& shaped = at::Tensor()) {
  const at::Tensor& described = given.IsEmpty() ? tensor : shaped;
  const DtypeInfo* dtype = FindDtype(described.scalar_type());
  if (dtype == nullptr) {
    *status = Status(ErrorCode::kForward, "unsupported output dtype");
    return env.Undefined();
  }
  napi_value array;
  if (!given.IsEmpty()) {
    array = given;
  } else {
    size_t numel = static_cast<size_t>(tensor.numel());
    napi_status s = napi_create_typedarray(env, dtype->array_type, numel, OutputBuffer(env, tensor), 0, &array);
    NAPI_THROW_IF_FAILED(env, s, Napi::Value());
  }
  const at::Tensor& tensor_for_shape = described;
  Napi::Array shape = Napi::Array::New(env, tensor_for_shape.dim());
  for (int64_t i = 0; i < tensor_for_shape.dim(); ++i) {
    shape.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(tensor_for_shape.size(i))));
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("data", Napi::Value(env, array));
  result.Set("shape", shape);
  result.Set("dtype", Napi::String::New(env, dtype->name));
  return result;
}

}  // namespace

Status TensorFromFlat(Napi::Env env, const Napi::Value& data, int dtype_index, const double* dims,
                      size_t ndim, const ValuePath& where, c10::IValue* out) {
  const DtypeInfo* dtype = nullptr;
  if (dtype_index < -1 || dtype_index >= static_cast<int>(sizeof(kDtypes) / sizeof(kDtypes[0]))) {
    return Invalid(where, ".dtype", "unsupported dtype");
  }
  if (dtype_index >= 0) dtype = &kDtypes[dtype_index];
  std::vector<int64_t> shape(ndim);
  int64_t numel = 1;
  for (size_t i = 0; i < ndim; ++i) {
    const double d = dims[i];
    if (!(d >= 0) || std::floor(d) != d || d > kMaxSafeInteger) {
      return Invalid(where, (".shape[" + std::to_string(i) + "]").c_str(), "expected a non-negative integer dimension");
    }
    shape[i] = static_cast<int64_t>(d);
    numel *= shape[i];
  }
  return TensorFromParts(env, data, dtype, shape, numel, where, out);
}

std::string ValuePath::str() const {
  if (parent_ == nullptr) return root_;
  if (name_ != nullptr) return parent_->str() + "." + *name_;
  return parent_->str() + "[" + std::to_string(index_) + "]";
}

Status JsToIValue(const Napi::Value& value, const ValuePath& where, c10::IValue* out) {
  if (value.IsNull() || value.IsUndefined()) {
    *out = c10::IValue();
  } else if (value.IsBoolean()) {
    *out = value.As<Napi::Boolean>().Value();
  } else if (value.IsNumber()) {
    double d = value.As<Napi::Number>().DoubleValue();
    if (std::floor(d) == d && std::fabs(d) <= kMaxSafeInteger) {
      *out = static_cast<int64_t>(d);
    } else {
      *out = d;
    }
  } else if (value.IsBigInt()) {
    bool lossless = false;
    int64_t v = value.As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless) return Invalid(where.str(), "BigInt does not fit in int64");
    *out = v;
  } else if (value.IsString()) {
    *out = value.As<Napi::String>().Utf8Value();
  } else if (value.IsArray()) {
    return ListFromJs(value.As<Napi::Array>(), where, out);
  } else if (value.IsObject() && !value.IsFunction()) {
    return TensorFromJs(value.As<Napi::Object>(), where, out);
  } else {
    return Invalid(where.str(), "expected a tensor ({ data, shape, dtype? }), a number, a boolean, "
                          "a string, null or an array");
  }
  return Status::Ok();
}

Status IValueToJs(Napi::Env env, const c10::IValue& value, Napi::Value* out) {
  Status status;
  if (value.isTensor()) {
    *out = TensorToJs(env, value.toTensor(), &status);
  } else if (value.isNone()) {
    *out = env.Null();
  } else if (value.isBool()) {
    *out = Napi::Boolean::New(env, value.toBool());
  } else if (value.isInt()) {
    int64_t v = value.toInt();
    if (std::fabs(static_cast<double>(v)) <= kMaxSafeInteger) {
      *out = Napi::Number::New(env, static_cast<double>(v));
    } else {
      *out = Napi::BigInt::New(env, v);
    }
  } else if (value.isDouble()) {
    *out = Napi::Number::New(env, value.toDouble());
  } else if (value.isString()) {
    *out = Napi::String::New(env, value.toStringRef());
  } else if (value.isTensorList() || value.isList() || value.isTuple()) {
    std::vector<c10::IValue> items;
    if (value.isTensorList()) {
      for (at::Tensor t : value.toTensorList()) items.emplace_back(t);
    } else if (value.isList()) {
      for (c10::IValue v : value.toList()) items.push_back(v);
    } else {
      items = value.toTupleRef().elements().vec();
    }
    Napi::Array array = Napi::Array::New(env, items.size());
    for (size_t i = 0; i < items.size() && status.ok(); ++i) {
      Napi::Value item;
      status = IValueToJs(env, items[i], &item);
      if (status.ok()) array.Set(static_cast<uint32_t>(i), item);
    }
    *out = array;
  } else if (value.isGenericDict()) {
    Napi::Object object = Napi::Object::New(env);
    for (const auto& entry : value.toGenericDict()) {
      if (!status.ok()) break;
      const c10::IValue& key = entry.key();
      std::string name = key.isString() ? key.toStringRef()
                         : key.isInt()  ? std::to_string(key.toInt())
                                        : "";
      if (name.empty() && !key.isString()) {
        status = Status(ErrorCode::kForward, "the model returned a dict with a key of type " +
                                                 key.tagKind() + "; only str and int keys map to JavaScript");
        break;
      }
      Napi::Value item;
      status = IValueToJs(env, entry.value(), &item);
      if (status.ok()) object.Set(name, item);
    }
    *out = object;
  } else {
    status = Status(ErrorCode::kForward, "the model returned a value of type " + value.tagKind() +
                                             ", which torchpool cannot convert to JavaScript");
  }
  return status;
}

Status JsToOutputTargets(Napi::Env env, const Napi::Value& value, std::vector<OutputTarget>* targets, std::vector<void*>* holds) {
  auto add = [&](const std::string& name, const Napi::Value& array) -> Status {
    const std::string where = name.empty() ? "options.output" : "options.output." + name;
    if (!array.IsTypedArray()) return Invalid(where, "a TypedArray");
    Napi::TypedArray typed = array.As<Napi::TypedArray>();
    OutputTarget target;
    target.name = name;
    const napi_typedarray_type type = typed.TypedArrayType();
    const DtypeInfo* dtype = nullptr;
    for (const DtypeInfo& info : kDtypes) {
      if (info.array_type == type) {
        dtype = &info;
        break;
      }
    }
    if (dtype == nullptr) return Invalid(where, "a TypedArray of a dtype torchpool returns (not a Uint8ClampedArray or Uint32Array)");
    target.dtype = dtype->scalar_type;
    target.or_bool = type == napi_uint8_array;
    target.array = type == napi_float32_array ? "Float32Array" : type == napi_float64_array ? "Float64Array" : type == napi_uint16_array ? "Uint16Array"
                   : type == napi_bigint64_array ? "BigInt64Array" : type == napi_int32_array ? "Int32Array" : type == napi_int16_array ? "Int16Array"
                   : type == napi_int8_array ? "Int8Array" : "Uint8Array";
    void* data = nullptr;
    size_t length = 0;
    napi_value buffer;
    size_t offset = 0;
    napi_typedarray_type ignored;
    NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, typed, &ignored, &length, &data, &buffer, &offset), Status());
    target.data = data;
    target.bytes = length * dtype->element_size;
    napi_ref ref;
    NAPI_THROW_IF_FAILED(env, napi_create_reference(env, typed, 1, &ref), Status());
    holds->push_back(ref);
    targets->push_back(std::move(target));
    return Status::Ok();
  };
  if (value.IsTypedArray()) return add("", value);
  Napi::Object object = value.As<Napi::Object>();
  Napi::Array names = object.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); ++i) {
    const std::string name = names.Get(i).As<Napi::String>().Utf8Value();
    TORCHPOOL_RETURN_IF_ERROR(add(name, object.Get(name)));
  }
  return Status::Ok();
}

Status OutputToJs(Napi::Env env, const c10::IValue& value, const std::vector<OutputTarget>& targets,
                  const std::vector<void*>& holds, Napi::Value* out) {
  // The caller's array for the output named `name`, wrapped with the tensor's shape and dtype.
  auto wrapped = [&](const std::string& name, const at::Tensor& tensor) -> Napi::Value {
    for (size_t i = 0; i < targets.size(); ++i) {
      // A lone tensor output is "" (the option was a TypedArray) or "output__0".
      const bool match = targets[i].name == name || (value.isTensor() && targets[i].name == "output__0");
      if (!match) continue;
      napi_value array;
      if (napi_get_reference_value(env, static_cast<napi_ref>(holds[i]), &array) != napi_ok) return Napi::Value();
      Status ignored;
      Napi::Object result = TensorToJs(env, at::Tensor(), &ignored, Napi::Value(env, array), tensor).As<Napi::Object>();
      return result;
    }
    return Napi::Value();
  };
  Status status;
  if (value.isTensor()) {
    Napi::Value own = wrapped("", value.toTensor());
    if (!own.IsEmpty()) {
      *out = own;
      return status;
    }
    return IValueToJs(env, value, out);
  }
  if (value.isTuple() || value.isList()) {
    std::vector<c10::IValue> items = value.isTuple() ? value.toTupleRef().elements().vec() : value.toList().vec();
    Napi::Array array = Napi::Array::New(env, items.size());
    for (size_t i = 0; i < items.size() && status.ok(); ++i) {
      Napi::Value item = items[i].isTensor() ? wrapped("output__" + std::to_string(i), items[i].toTensor()) : Napi::Value();
      if (item.IsEmpty()) status = IValueToJs(env, items[i], &item);
      if (status.ok()) array.Set(static_cast<uint32_t>(i), item);
    }
    *out = array;
    return status;
  }
  if (value.isGenericDict()) {
    Napi::Object object = Napi::Object::New(env);
    for (const auto& entry : value.toGenericDict()) {
      if (!status.ok()) break;
      if (!entry.key().isString()) return IValueToJs(env, value, out);
      Napi::Value item = entry.value().isTensor() ? wrapped(entry.key().toStringRef(), entry.value().toTensor()) : Napi::Value();
      if (item.IsEmpty()) status = IValueToJs(env, entry.value(), &item);
      if (status.ok()) object.Set(entry.key().toStringRef(), item);
    }
    *out = object;
    return status;
  }
  return IValueToJs(env, value, out);
}

void ReleaseInputRefs(Napi::Env env, std::vector<void*>& holds) {
  for (void* ref : holds) napi_delete_reference(env, static_cast<napi_ref>(ref));
  holds.clear();
}

}  // namespace torchpool
