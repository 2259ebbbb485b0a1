// A minimal JSON reader (RFC 8259) for the case files: the safetensors header and the launch
// list in its metadata. Numbers keep their literal text, so 64-bit integers convert exactly.
// Malformed input throws std::runtime_error.
#pragma once
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

struct Json {
    enum class Type { Null, Bool, Number, String, Array, Object };
    Type type = Type::Null;
    bool boolean = false;
    std::string text;  // String: the decoded value; Number: the literal
    std::vector<Json> items;
    std::vector<std::pair<std::string, Json>> members;

    static Json parse(const std::string& text) {
        size_t at = 0;
        Json value = parse_value(text, at);
        skip_space(text, at);
        if (at != text.size()) fail("trailing characters", at);
        return value;
    }

    // The member `key` of an object, or null.
    const Json* find(const std::string& key) const {
        for (const auto& [k, v] : members)
            if (k == key) return &v;
        return nullptr;
    }
    const Json& at(const std::string& key) const {
        const Json* v = find(key);
        if (!v) throw std::runtime_error("JSON: no member \"" + key + "\"");
        return *v;
    }
    const std::string& string() const {
        if (type != Type::String) throw std::runtime_error("JSON: a string was expected");
        return text;
    }
    int64_t integer() const { return int64_t(convert(true)); }
    uint64_t unsigned_integer() const { return convert(false); }

  private:
    [[noreturn]] static void fail(const char* what, size_t at) {
        throw std::runtime_error(std::string("JSON: ") + what + " at offset " + std::to_string(at));
    }

    uint64_t convert(bool is_signed) const {
        if (type != Type::Number) throw std::runtime_error("JSON: a number was expected");
        char* end = nullptr;
        errno = 0;
        const uint64_t v =
            is_signed ? uint64_t(strtoll(text.c_str(), &end, 10)) : strtoull(text.c_str(), &end, 10);
        if (errno != 0 || *end != '\0' || (!is_signed && text[0] == '-'))
            throw std::runtime_error("JSON: " + text + " is not an integer in range");
        return v;
    }

    static void skip_space(const std::string& s, size_t& at) {
        while (at < s.size() && (s[at] == ' ' || s[at] == '\t' || s[at] == '\n' || s[at] == '\r')) ++at;
    }

    static void expect(const std::string& s, size_t& at, const char* word) {
        for (const char* w = word; *w; ++w, ++at)
            if (at >= s.size() || s[at] != *w) fail("unexpected character", at);
    }

    static Json parse_value(const std::string& s, size_t& at) {
        skip_space(s, at);
        if (at >= s.size()) fail("unexpected end", at);
        Json v;
        const char c = s[at];
        if (c == '{') {
            v.type = Type::Object;
            ++at;
            skip_space(s, at);
            if (at < s.size() && s[at] == '}') return ++at, v;
            for (;;) {
                skip_space(s, at);
                if (at >= s.size() || s[at] != '"') fail("a member name was expected", at);
                std::string key = parse_string(s, at);
                skip_space(s, at);
                expect(s, at, ":");
                v.members.emplace_back(std::move(key), parse_value(s, at));
                skip_space(s, at);
                if (at < s.size() && s[at] == ',') {
                    ++at;
                    continue;
                }
                expect(s, at, "}");
                return v;
            }
        }
        if (c == '[') {
            v.type = Type::Array;
            ++at;
            skip_space(s, at);
            if (at < s.size() && s[at] == ']') return ++at, v;
            for (;;) {
                v.items.push_back(parse_value(s, at));
                skip_space(s, at);
                if (at < s.size() && s[at] == ',') {
                    ++at;
                    continue;
                }
                expect(s, at, "]");
                return v;
            }
        }
        if (c == '"') {
            v.type = Type::String;
            v.text = parse_string(s, at);
            return v;
        }
        if (c == 't' || c == 'f') {
            v.type = Type::Bool;
            v.boolean = c == 't';
            expect(s, at, v.boolean ? "true" : "false");
            return v;
        }
        if (c == 'n') {
            expect(s, at, "null");
            return v;
        }
        const size_t start = at;
        if (s[at] == '-') ++at;
        const auto digits = [&] {
            const size_t from = at;
            while (at < s.size() && s[at] >= '0' && s[at] <= '9') ++at;
            if (at == from) fail("a digit was expected", at);
        };
        digits();
        if (at < s.size() && s[at] == '.') ++at, digits();
        if (at < s.size() && (s[at] == 'e' || s[at] == 'E')) {
            ++at;
            if (at < s.size() && (s[at] == '+' || s[at] == '-')) ++at;
            digits();
        }
        v.type = Type::Number;
        v.text = s.substr(start, at - start);
        return v;
    }

    static unsigned hex4(const std::string& s, size_t& at) {
        if (at + 4 > s.size() || !std::all_of(s.begin() + long(at), s.begin() + long(at) + 4, ::isxdigit))
            fail("a bad \\u escape", at);
        at += 4;
        return unsigned(std::stoul(s.substr(at - 4, 4), nullptr, 16));
    }

    static void append_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += char(cp);
        } else if (cp < 0x800) {
            out += char(0xc0 | cp >> 6);
            out += char(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out += char(0xe0 | cp >> 12);
            out += char(0x80 | (cp >> 6 & 0x3f));
            out += char(0x80 | (cp & 0x3f));
        } else {
            out += char(0xf0 | cp >> 18);
            out += char(0x80 | (cp >> 12 & 0x3f));
            out += char(0x80 | (cp >> 6 & 0x3f));
            out += char(0x80 | (cp & 0x3f));
        }
    }

    static std::string parse_string(const std::string& s, size_t& at) {
        ++at;  // the opening quote
        std::string out;
        for (;;) {
            if (at >= s.size()) fail("an unterminated string", at);
            const char c = s[at++];
            if (c == '"') return out;
            if (c != '\\') {
                out += c;
                continue;
            }
            if (at >= s.size()) fail("an unterminated escape", at);
            const char e = s[at++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    unsigned cp = hex4(s, at);
                    if (cp >= 0xd800 && cp < 0xdc00 && at + 1 < s.size() && s[at] == '\\' && s[at + 1] == 'u') {
                        at += 2;
                        const unsigned low = hex4(s, at);
                        if (low < 0xdc00 || low >= 0xe000) fail("an unpaired surrogate", at);
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                    }
                    append_utf8(out, cp);
                    break;
                }
                default: fail("an unknown escape", at);
            }
        }
    }
};
