// The entry points the driver can run, by name. Each kernels_<file>.cpp translation unit includes
// one kernels/<file>.cu (in a namespace of its own: the files define helpers with the same names)
// and registers its entry points with REGISTER_ENTRY_POINT. The glue is generated from the
// kernel's own signature: argument i of a launch is converted to the type of parameter i, so the
// compiler checks the conversions against the kernel as written, and a case whose argument has
// the wrong kind (a scalar for a pointer, an i32 for a float), the wrong count, or points into a
// buffer of another dtype is a reported failure, never a silent reinterpretation.
#pragma once
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "harness.h"

// A launch argument as the case file gives it.
struct LaunchArg {
    enum class Kind { Buffer, Null, I32, F32 };
    Kind kind = Kind::Null;
    std::string buffer;  // Buffer: its name
    size_t offset = 0;   // Buffer: bytes from its start
    int32_t i32 = 0;
    uint32_t f32_bits = 0;
};

// A case buffer as the kernels see it.
struct BufferView {
    std::string dtype;  // safetensors' name
    unsigned char* data;
    size_t bytes;
};
using Buffers = std::map<std::string, BufferView>;

// The buffer dtype a `T*` parameter reads; a struct mirror (SamplerSlot) reads raw bytes.
template <class T>
const char* dtype_of() {
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_same_v<U, __half>) return "F16";
    else if constexpr (std::is_same_v<U, float>) return "F32";
    else if constexpr (std::is_same_v<U, double>) return "F64";
    else if constexpr (std::is_same_v<U, int>) return "I32";
    else if constexpr (std::is_same_v<U, unsigned>) return "U32";
    else if constexpr (std::is_same_v<U, unsigned long long>) return "U64";
    else if constexpr (std::is_same_v<U, unsigned char>) return "U8";
    else {
        static_assert(std::is_class_v<U>, "a pointer parameter type the driver does not map to a dtype");
        return "U8";
    }
}

// Converts the arguments of one launch to a kernel's parameter types; the first problem is kept.
class Args {
  public:
    Args(const std::vector<LaunchArg>& args, const Buffers& buffers) : args_(args), buffers_(buffers) {}

    template <class... P, size_t... I>
    std::tuple<P...> convert(std::index_sequence<I...>) {
        return std::tuple<P...>{get<P>(I)...};  // braced: converted in order
    }
    const std::string& error() const { return error_; }

  private:
    template <class P>
    P get(size_t i) {
        const LaunchArg& a = args_[i];
        if constexpr (std::is_pointer_v<P>) {
            using T = std::remove_pointer_t<P>;
            if (a.kind == LaunchArg::Kind::Null) return nullptr;
            if (a.kind != LaunchArg::Kind::Buffer) return fail<P>(i, "a pointer parameter is given a scalar");
            const auto it = buffers_.find(a.buffer);
            if (it == buffers_.end()) return fail<P>(i, "no buffer " + a.buffer);
            const BufferView& b = it->second;
            if (b.dtype != dtype_of<T>())
                return fail<P>(i, "buffer " + a.buffer + " holds " + b.dtype + ", the parameter reads " +
                                      dtype_of<T>());
            if (a.offset > b.bytes || a.offset % alignof(T) != 0)
                return fail<P>(i, fmt("offset %zu into buffer %s (%zu bytes)", a.offset, a.buffer.c_str(), b.bytes));
            return reinterpret_cast<P>(b.data + a.offset);
        } else if constexpr (std::is_same_v<P, int>) {
            if (a.kind != LaunchArg::Kind::I32) return fail<P>(i, "an int parameter is not given an i32");
            return a.i32;
        } else {
            static_assert(std::is_same_v<P, float>, "a scalar parameter type the driver does not convert");
            if (a.kind != LaunchArg::Kind::F32) return fail<P>(i, "a float parameter is not given f32 bits");
            float f;
            memcpy(&f, &a.f32_bits, 4);
            return f;
        }
    }

    template <class P>
    P fail(size_t i, const std::string& why) {
        if (error_.empty()) error_ = fmt("argument %zu: ", i) + why;
        return P{};
    }

    const std::vector<LaunchArg>& args_;
    const Buffers& buffers_;
    std::string error_;
};

// Runs one launch of an entry point: "" or what is wrong with its arguments.
using EntryPoint = std::function<std::string(const std::vector<LaunchArg>&, const Buffers&, dim3, unsigned)>;

template <class... P>
EntryPoint entry_point(void (*kernel)(P...)) {
    return [kernel](const std::vector<LaunchArg>& launch_args, const Buffers& buffers, dim3 grid,
                    unsigned block) -> std::string {
        if (launch_args.size() != sizeof...(P))
            return fmt("the kernel takes %zu arguments, the launch passes %zu", sizeof...(P), launch_args.size());
        Args args(launch_args, buffers);
        const std::tuple<P...> values = args.template convert<P...>(std::index_sequence_for<P...>{});
        if (!args.error().empty()) return args.error();
        emu::launch(grid, block, [&] { std::apply(kernel, values); });
        return "";
    };
}

// Every registered entry point (and probe), by name.
inline std::map<std::string, EntryPoint>& entry_points() {
    static std::map<std::string, EntryPoint> registered;
    return registered;
}

struct Registration {
    Registration(const char* name, EntryPoint run) { entry_points().emplace(name, std::move(run)); }
};

#define REGISTER_ENTRY_POINT(ns, name) static const Registration name##_registration(#name, entry_point(&ns::name));
