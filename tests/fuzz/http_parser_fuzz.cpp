// libFuzzer target for examples/http_parser.hpp. Beyond "does not crash"
// (ASan and UBSan watch every access), it checks properties that a wrong
// parser would break, and aborts with a message naming the one that failed:
//
//  * bounds: consumed <= input size; consumed > 0 exactly when complete;
//    every string_view of a parsed request lies inside the bytes it consumed;
//    the body is the last Content-Length of them; the limits are respected;
//  * well-formedness: what a complete parse hands out is itself valid — the
//    method is a token, the path starts with '/' (or is "*"), header values
//    carry no CR, LF, NUL or surrounding whitespace;
//  * arrival does not matter: the input fed in two pieces (split where the
//    data's hash says, the second piece in a fresh buffer) gives the outcome
//    and the fields feeding it whole gives; small inputs are also fed a byte
//    at a time; a decided result stays the same when more bytes follow;
//  * round trip: a complete request, serialised again and re-parsed, gives
//    the same request;
//  * pipelining: the same checks run on each request after the first.
//
// Each input runs under the default limits and under tiny limits derived from
// its hash, so the too-large paths are reached by small inputs.
//
// Built only with Clang (-fsanitize=fuzzer); replay_main.cpp runs the same
// function over the seed corpus in every other configuration.
#include "http_parser.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void broken(const char* invariant) {
  std::fprintf(stderr, "http_parser_fuzz: invariant broken: %s\n", invariant);
  std::abort();
}
void expect(bool ok, const char* invariant) {
  if (!ok) broken(invariant);
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

bool inside(std::string_view v, std::string_view buf) {
  return v.empty() || (v.data() >= buf.data() && v.data() + v.size() <= buf.data() + buf.size());
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equals_lowercase(std::string_view a, std::string_view lower_b) {
  if (a.size() != lower_b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower_b[i]) return false;
  return true;
}

// The Connection option tokens of every Connection field (RFC 9110 5.3: a
// field sent several times is one comma-separated list), read here without
// the parser's helpers so that a shared mistake cannot hide.
void connection_tokens(const http::request& r, bool& close, bool& keep) {
  for (std::size_t i = 0; i < r.header_count; ++i) {
    if (!equals_lowercase(r.headers[i].name, "connection")) continue;
    std::string_view rest = r.headers[i].value;
    while (!rest.empty()) {
      std::size_t comma = rest.find(',');
      std::string_view token = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
      close = close || equals_lowercase(token, "close");
      keep = keep || equals_lowercase(token, "keep-alive");
    }
  }
}

bool same_result(http::parse_result a, http::parse_result b) {
  return a.status == b.status && a.consumed == b.consumed;
}

bool same_request(const http::request& a, const http::request& b) {
  if (a.method != b.method || a.target != b.target || a.path != b.path || a.query != b.query ||
      a.version_minor != b.version_minor || a.header_count != b.header_count || a.content_length != b.content_length ||
      a.body != b.body || a.keep_alive != b.keep_alive)
    return false;
  for (std::size_t i = 0; i < a.header_count; ++i)
    if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value) return false;
  return true;
}

// Same outcome, and for complete parses the same fields.
bool same_outcome(http::parse_result a, const http::request& ra, http::parse_result b, const http::request& rb) {
  return same_result(a, b) && (a.status != http::parse_status::complete || same_request(ra, rb));
}

void check_complete_request(const http::request& r, std::string_view input, std::size_t consumed,
                            const http::limits& lim) {
  std::string_view used = input.substr(0, consumed);
  expect(inside(r.method, used) && inside(r.target, used) && inside(r.path, used) && inside(r.query, used) &&
             inside(r.body, used),
         "request-line views and body lie inside the consumed bytes");
  for (std::size_t i = 0; i < r.header_count; ++i)
    expect(inside(r.headers[i].name, used) && inside(r.headers[i].value, used),
           "header views lie inside the consumed bytes");
  expect(r.header_count <= lim.max_headers && r.header_count <= http::request::header_capacity,
         "header count within limit");
  expect(r.content_length <= lim.max_body_bytes, "Content-Length within limit");
  expect(r.body.size() == r.content_length, "the body is Content-Length bytes");
  expect(r.body.empty() || r.body.data() + r.body.size() == input.data() + consumed, "the body ends the request");
  expect(consumed - r.body.size() <= lim.max_head_bytes, "the head fits the limit");
  expect(http::detail::is_token(r.method), "the method is a token");
  expect(!r.path.empty() && (r.path.front() == '/' || r.path == "*"), "the path is origin-form or *");
  expect(r.target.substr(0, r.path.size()) == r.path, "the target starts with the path");
  expect(r.version_minor == 0 || r.version_minor == 1, "the version is 1.0 or 1.1");
  for (std::size_t i = 0; i < r.header_count; ++i) {
    const http::header& h = r.headers[i];
    expect(http::detail::is_token(h.name), "header names are tokens");
    expect(h.value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos,
           "no CR, LF or NUL in values");
    expect(h.value.empty() || (!http::detail::is_ows(h.value.front()) && !http::detail::is_ows(h.value.back())),
           "values are trimmed");
  }
  bool close = false, keep = false;
  connection_tokens(r, close, keep);
  expect(r.keep_alive == (!close && (r.version_minor == 1 || keep)),
         "keep-alive follows every Connection field's tokens (1.1 keeps, 1.0 closes by default)");
}

std::string serialise(const http::request& r) {
  std::string s;
  s.append(r.method).append(" ").append(r.target).append(" HTTP/1.").append(r.version_minor ? "1" : "0").append("\r\n");
  for (std::size_t i = 0; i < r.header_count; ++i)
    s.append(r.headers[i].name).append(": ").append(r.headers[i].value).append("\r\n");
  return s.append("\r\n").append(r.body);
}

void check_round_trip(const http::request& r, const http::limits& lim) {
  std::string again_bytes = serialise(r);
  http::limits relaxed = lim;
  relaxed.max_head_bytes = again_bytes.size() + 1;  // "a:b" comes back as "a: b", one byte longer
  http::request again;
  http::parse_result res = http::parse_request(again_bytes, again, relaxed);
  expect(res.status == http::parse_status::complete, "a serialised request parses");
  expect(res.consumed == again_bytes.size(), "a serialised request is consumed exactly");
  expect(same_request(r, again), "a serialised request parses to the same fields");
}

// Fed in two pieces, the second in a new buffer.
void check_split(std::string_view data, std::size_t split, const http::limits& lim, http::parse_result whole,
                 const http::request& whole_req) {
  http::request_parser p(lim);
  http::request r;
  std::string first(data.substr(0, split));
  http::parse_result a = p.parse(first, r);
  if (a.status != http::parse_status::incomplete) {
    expect(same_outcome(a, r, whole, whole_req), "a prefix's decided outcome is the whole input's");
    return;
  }
  std::string both(data);
  http::parse_result b = p.parse(both, r);
  expect(same_outcome(b, r, whole, whole_req), "two pieces give the outcome of one");
}

void check_byte_at_a_time(std::string_view data, const http::limits& lim, http::parse_result whole,
                          const http::request& whole_req) {
  http::request_parser p(lim);
  http::request r;
  for (std::size_t n = 0; n <= data.size(); ++n) {
    http::parse_result res = p.parse(data.substr(0, n), r);
    if (res.status == http::parse_status::incomplete) continue;
    expect(same_outcome(res, r, whole, whole_req), "byte-at-a-time feeding decides as one read does");
    return;
  }
  expect(whole.status == http::parse_status::incomplete, "byte-at-a-time feeding stays incomplete only if whole does");
}

void check_more_bytes_change_nothing(std::string_view data, const http::limits& lim, http::parse_result whole,
                                     const http::request& whole_req) {
  if (whole.status == http::parse_status::incomplete) return;
  std::string longer = std::string(data) + "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  http::request r;
  http::parse_result res = http::parse_request(longer, r, lim);
  expect(same_outcome(res, r, whole, whole_req), "a decided outcome does not change when more bytes follow");
}

void check_all(std::string_view data, const http::limits& lim, std::uint64_t hash) {
  std::string_view rest = data;
  for (;;) {
    http::request r;
    http::parse_result whole = http::parse_request(rest, r, lim);
    expect(whole.consumed <= rest.size(), "consumed <= size");
    expect((whole.consumed > 0) == (whole.status == http::parse_status::complete),
           "consumed > 0 exactly when complete");
    if (whole.status == http::parse_status::complete) {
      check_complete_request(r, rest, whole.consumed, lim);
      check_round_trip(r, lim);
    }
    check_split(rest, static_cast<std::size_t>(hash % (rest.size() + 1)), lim, whole, r);
    if (rest.size() <= 512) check_byte_at_a_time(rest, lim, whole, r);
    check_more_bytes_change_nothing(rest, lim, whole, r);
    if (whole.status != http::parse_status::complete) return;
    rest.remove_prefix(whole.consumed);  // the next pipelined request
    hash = hash * 6364136223846793005ull + 1442695040888963407ull;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  std::string_view data(reinterpret_cast<const char*>(bytes), size);
  std::uint64_t hash = fnv1a(data);
  check_all(data, http::limits{}, hash);
  http::limits tiny{.max_head_bytes = 8 + hash % 200,
                    .max_headers = 1 + (hash >> 8) % 8,
                    .max_body_bytes = (hash >> 16) % 64};
  check_all(data, tiny, hash >> 24);
  return 0;
}
