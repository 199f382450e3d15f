// http_parser.hpp — a strict, incremental HTTP/1.1 request parser (header-only,
// standard library only; no jiffy).
//
// Rules:
//  * The caller keeps the bytes received for the current request in one
//    buffer, starting at the request's first byte, and calls parse() again
//    each time more arrive (the same bytes, extended; the buffer may move).
//    The parser remembers how far it has checked, so slowly arriving heads are
//    not rescanned from the start. Once parse() says anything but
//    `incomplete`, call reset() before parsing the next request.
//  * parse() returns complete (with `consumed`: head + body bytes, so the next
//    pipelined request starts right after), incomplete (consumed 0: read more),
//    or an error. Errors are final: more bytes never turn them into a request.
//  * On `complete`, every string_view in the request points into the buffer
//    passed to that call; they are valid while that buffer is.
//  * Every prefix of a valid request is `incomplete`, never an error: the
//    outcome is decided by the first decisive byte, so whether bytes arrive in
//    one read or many cannot change it (the fuzzer checks this).
//  * Strict, as RFC 9112 allows a server to be — anything doubtful is
//    rejected rather than guessed at, because two parsers guessing differently
//    is how request smuggling works:
//      - lines end with CRLF; a bare LF or a bare CR is a bad request;
//      - NUL and other control bytes (except HTAB inside field values) are
//        bad requests; bytes >= 0x80 are allowed in field values only;
//      - request line: token SP target SP HTTP/d.d, single spaces; the target is
//        origin-form ("/path?query") or "*" (absolute-form is not supported);
//        HTTP/1.x only (other majors: unsupported_version), 1.2+ read as 1.1;
//      - header fields: token ":" OWS value OWS; no whitespace before the
//        colon, no obsolete line folding, no empty names;
//      - Content-Length: digits only, no lists, no duplicates, no overflow;
//      - Transfer-Encoding of any kind: unsupported_transfer_encoding (this
//        parser does not decode chunked bodies; the server answers 501);
//      - HTTP/1.1 needs exactly one Host header; more than one is always bad;
//      - empty lines before the request line are skipped (RFC 9112 2.2), and
//        count towards the head-size limit.
//  * Limits: the head (leading empty lines, request line, headers, blank line)
//    must fit in max_head_bytes and hold at most max_headers fields, else
//    headers_too_large; a Content-Length above max_body_bytes is
//    body_too_large (decided as soon as the head is in, before any body).
//  * Keep-alive: HTTP/1.1 keeps the connection unless "Connection: close";
//    HTTP/1.0 closes unless "Connection: keep-alive" (and no "close").
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace http {

enum class parse_status {
  complete,
  incomplete,
  bad_request,                    // 400
  headers_too_large,              // 413 in our server (431 would also fit)
  body_too_large,                 // 413
  unsupported_version,            // 505
  unsupported_transfer_encoding,  // 501
};

inline const char* to_string(parse_status s) noexcept {
  switch (s) {
    case parse_status::complete: return "complete";
    case parse_status::incomplete: return "incomplete";
    case parse_status::bad_request: return "bad request";
    case parse_status::headers_too_large: return "headers too large";
    case parse_status::body_too_large: return "body too large";
    case parse_status::unsupported_version: return "unsupported version";
    case parse_status::unsupported_transfer_encoding: return "unsupported transfer encoding";
  }
  return "?";
}

struct limits {
  std::size_t max_head_bytes = 8192;
  std::size_t max_headers = 64;  // at most request::header_capacity
  std::uint64_t max_body_bytes = 1u << 20;
};

struct header {
  std::string_view name;
  std::string_view value;  // without surrounding spaces and tabs
};

// ASCII case-insensitive equality (header names, Connection tokens).
inline bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

struct request {
  static constexpr std::size_t header_capacity = 64;

  std::string_view method;
  std::string_view target;  // path, then "?query" if any
  std::string_view path;    // target before '?'
  std::string_view query;   // target after '?' (empty if none)
  int version_minor = 1;    // HTTP/1.<minor>; 1.2 and up are reported as 1
  std::array<header, header_capacity> headers{};
  std::size_t header_count = 0;
  std::uint64_t content_length = 0;  // 0 without a Content-Length header
  std::string_view body;             // content_length bytes
  bool keep_alive = true;

  // The first field called `name` (case-insensitive); empty if none.
  std::string_view header_value(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < header_count; ++i)
      if (iequals(headers[i].name, name)) return headers[i].value;
    return {};
  }
};

struct parse_result {
  parse_status status = parse_status::incomplete;
  std::size_t consumed = 0;  // bytes of this request (head + body) when complete, else 0
};

namespace detail {

// RFC 9110 tchar: the characters of methods and header names.
inline bool is_tchar(unsigned char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}
inline bool is_token(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); });
}
// Control bytes other than HTAB, CR and LF (which have their own rules).
inline bool is_forbidden_control(unsigned char c) noexcept {
  return (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f;
}
inline bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

inline std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// 1*DIGIT into a uint64; false on anything else or overflow.
inline bool parse_decimal(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty()) return false;
  std::uint64_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
    unsigned d = static_cast<unsigned>(ch - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

// "GET /path?q HTTP/1.1" (without CRLF).
inline parse_status parse_request_line(std::string_view line, request& r) noexcept {
  std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return parse_status::bad_request;
  std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return parse_status::bad_request;
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method) || target.empty()) return parse_status::bad_request;
  for (char ch : target)
    if (static_cast<unsigned char>(ch) <= 0x20 || static_cast<unsigned char>(ch) >= 0x7f)
      return parse_status::bad_request;
  if (target.front() != '/' && target != "*") return parse_status::bad_request;
  // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive.
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' || version[5] < '0' ||
      version[5] > '9' || version[7] < '0' || version[7] > '9')
    return parse_status::bad_request;
  if (version[5] != '1') return parse_status::unsupported_version;
  r.method = method;
  r.target = target;
  std::size_t q = target.find('?');
  r.path = target.substr(0, q);
  r.query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  r.version_minor = version[7] == '0' ? 0 : 1;
  return parse_status::complete;
}

// What the header fields say, beyond the list itself.
struct field_facts {
  bool has_content_length = false;
  bool has_transfer_encoding = false;
  int hosts = 0;
  bool connection_close = false;
  bool connection_keep_alive = false;
};

inline void note_connection_tokens(std::string_view value, field_facts& f) noexcept {
  while (!value.empty()) {
    std::size_t comma = value.find(',');
    std::string_view token = trim_ows(value.substr(0, comma));
    if (iequals(token, "close")) f.connection_close = true;
    if (iequals(token, "keep-alive")) f.connection_keep_alive = true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

// "Name: value" (without CRLF).
inline parse_status parse_field_line(std::string_view line, const limits& lim, request& r, field_facts& f) noexcept {
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return parse_status::bad_request;
  std::string_view name = line.substr(0, colon);
  // Not a token: empty, whitespace before the colon, or obsolete folding
  // (a line starting with whitespace).
  if (!is_token(name)) return parse_status::bad_request;
  std::string_view value = trim_ows(line.substr(colon + 1));
  if (r.header_count >= std::min(lim.max_headers, request::header_capacity)) return parse_status::headers_too_large;
  r.headers[r.header_count++] = header{name, value};
  if (iequals(name, "content-length")) {
    if (f.has_content_length) return parse_status::bad_request;  // duplicates, even equal ones
    if (!parse_decimal(value, r.content_length)) return parse_status::bad_request;
    f.has_content_length = true;
  } else if (iequals(name, "transfer-encoding")) {
    f.has_transfer_encoding = true;
  } else if (iequals(name, "host")) {
    ++f.hosts;
  } else if (iequals(name, "connection")) {
    note_connection_tokens(value, f);
  }
  return parse_status::complete;
}

// The head's lines, each without its CRLF; `head` ends with the blank line.
inline parse_status parse_head(std::string_view head, const limits& lim, request& r) noexcept {
  std::size_t eol = head.find("\r\n");
  parse_status s = parse_request_line(head.substr(0, eol), r);
  if (s != parse_status::complete) return s;
  field_facts f;
  for (std::size_t pos = eol + 2;;) {
    eol = head.find("\r\n", pos);
    if (eol == pos) break;  // the blank line
    s = parse_field_line(head.substr(pos, eol - pos), lim, r, f);
    if (s != parse_status::complete) return s;
    pos = eol + 2;
  }
  if (f.has_transfer_encoding) return parse_status::unsupported_transfer_encoding;
  if (f.hosts > 1 || (r.version_minor >= 1 && f.hosts != 1)) return parse_status::bad_request;
  if (r.content_length > lim.max_body_bytes) return parse_status::body_too_large;
  r.keep_alive = !f.connection_close && (r.version_minor >= 1 || f.connection_keep_alive);
  return parse_status::complete;
}

}  // namespace detail

class request_parser {
 public:
  explicit request_parser(limits lim = {}) noexcept : limits_(lim) {}

  // Forgets the current request: call after any result but `incomplete`.
  void reset() noexcept { *this = request_parser(limits_); }

  // `received`: the bytes of this request so far (and maybe of requests
  // pipelined after it), from its first byte.
  parse_result parse(std::string_view received, request& out) noexcept {
    if (received.size() < scanned_) reset();  // not the same bytes extended: start over
    if (head_end_ == 0) {
      parse_status s = scan_head(received);
      if (s != parse_status::complete) return {s, 0};
    }
    out = request{};
    std::string_view head = received.substr(request_start_, head_end_ - request_start_);
    parse_status s = detail::parse_head(head, limits_, out);
    if (s != parse_status::complete) return {s, 0};
    if (received.size() - head_end_ < out.content_length) return {parse_status::incomplete, 0};
    std::size_t body_size = static_cast<std::size_t>(out.content_length);  // <= received.size()
    out.body = received.substr(head_end_, body_size);
    return {parse_status::complete, head_end_ + body_size};
  }

 private:
  // Checks the head's bytes from where the last call stopped, and finds the
  // blank line that ends it. Returns complete once head_end_ is known.
  parse_status scan_head(std::string_view received) noexcept {
    const std::size_t end = std::min(received.size(), limits_.max_head_bytes);
    std::size_t i = scanned_;
    for (; i < end; ++i) {
      unsigned char c = static_cast<unsigned char>(received[i]);
      unsigned char prev = i > 0 ? static_cast<unsigned char>(received[i - 1]) : 0;
      if (prev == '\r' && c != '\n') return parse_status::bad_request;  // bare CR
      if (detail::is_forbidden_control(c)) return parse_status::bad_request;
      if (c != '\n') continue;
      if (prev != '\r') return parse_status::bad_request;  // bare LF
      bool empty_line = i == line_start_ + 1;
      line_start_ = i + 1;
      if (!empty_line) continue;
      if (request_start_ + 2 == line_start_) {
        request_start_ = line_start_;  // an empty line before the request line: skipped
        continue;
      }
      head_end_ = line_start_;
      scanned_ = line_start_;
      return parse_status::complete;
    }
    scanned_ = i;
    return received.size() >= limits_.max_head_bytes ? parse_status::headers_too_large : parse_status::incomplete;
  }

  limits limits_;
  std::size_t scanned_ = 0;        // bytes of the head checked so far
  std::size_t line_start_ = 0;     // where the line being scanned starts
  std::size_t request_start_ = 0;  // after any leading empty lines
  std::size_t head_end_ = 0;       // just past the blank line; 0 until found
};

// Parses one complete request from `bytes` in one go.
inline parse_result parse_request(std::string_view bytes, request& out, const limits& lim = {}) noexcept {
  request_parser p(lim);
  return p.parse(bytes, out);
}

}  // namespace http
