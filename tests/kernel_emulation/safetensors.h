// A safetensors file read whole (the case files tests/kernel_emulation.rs writes): an 8-byte
// little-endian header length, a JSON header mapping tensor names to {dtype, shape,
// data_offsets} plus "__metadata__" strings, then the data. Every offset and size is checked;
// a malformed file throws std::runtime_error.
#pragma once
#include <cstdint>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "json.h"

// Bytes per element of a dtype; 0 for a dtype this reader does not take.
inline size_t dtype_size(const std::string& dtype) {
    if (dtype == "U8" || dtype == "I8" || dtype == "BOOL") return 1;
    if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
    if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
    if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
    return 0;
}

struct TensorData {
    std::string dtype;
    size_t elements = 0;
    const unsigned char* data = nullptr;  // into the file's bytes: unaligned
    size_t bytes = 0;
};

class SafeTensors {
  public:
    explicit SafeTensors(const std::string& path) {
        FILE* f = fopen(path.c_str(), "rb");
        if (!f) throw std::runtime_error("cannot open " + path);
        for (unsigned char chunk[1 << 16];;) {
            const size_t n = fread(chunk, 1, sizeof chunk, f);
            bytes_.insert(bytes_.end(), chunk, chunk + n);
            if (n < sizeof chunk) break;
        }
        fclose(f);
        if (bytes_.size() < 8) throw std::runtime_error(path + ": shorter than a safetensors header");
        uint64_t header_len = 0;
        for (int i = 7; i >= 0; --i) header_len = header_len << 8 | bytes_[size_t(i)];
        if (header_len > bytes_.size() - 8) throw std::runtime_error(path + ": header longer than the file");
        const Json header = Json::parse(std::string(bytes_.begin() + 8, bytes_.begin() + 8 + long(header_len)));
        const unsigned char* data = bytes_.data() + 8 + header_len;
        const size_t data_len = bytes_.size() - 8 - header_len;
        for (const auto& [name, info] : header.members) {
            if (name == "__metadata__") {
                for (const auto& [key, value] : info.members) metadata_[key] = value.string();
                continue;
            }
            TensorData t;
            t.dtype = info.at("dtype").string();
            t.elements = 1;
            for (const Json& d : info.at("shape").items) t.elements *= size_t(d.unsigned_integer());
            const std::vector<Json>& offsets = info.at("data_offsets").items;
            if (offsets.size() != 2) throw std::runtime_error(path + ": " + name + ": data_offsets is not a pair");
            const uint64_t begin = offsets[0].unsigned_integer(), end = offsets[1].unsigned_integer();
            if (dtype_size(t.dtype) == 0) throw std::runtime_error(path + ": " + name + ": unknown dtype " + t.dtype);
            if (begin > end || end > data_len || end - begin != t.elements * dtype_size(t.dtype))
                throw std::runtime_error(path + ": " + name + ": data_offsets do not match its shape and dtype");
            t.data = data + begin;
            t.bytes = size_t(end - begin);
            tensors_[name] = t;
        }
    }
    SafeTensors(const SafeTensors&) = delete;
    SafeTensors& operator=(const SafeTensors&) = delete;

    // By name, in name order.
    const std::map<std::string, TensorData>& tensors() const { return tensors_; }
    const TensorData* find(const std::string& name) const {
        const auto it = tensors_.find(name);
        return it == tensors_.end() ? nullptr : &it->second;
    }
    // A metadata string ("" when absent).
    std::string metadata(const std::string& key) const {
        const auto it = metadata_.find(key);
        return it == metadata_.end() ? "" : it->second;
    }

  private:
    std::vector<unsigned char> bytes_;
    std::map<std::string, TensorData> tensors_;
    std::map<std::string, std::string> metadata_;
};
