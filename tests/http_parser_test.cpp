// The example HTTP/1.1 request parser (examples/http_parser.hpp): tables of
// inputs and the outcome each must have, then the properties every input
// must keep — every prefix of a valid request is "incomplete", byte-at-a-time
// feeding decides as one read does, pipelined requests come out in order.
#include "support.hpp"

#include "http_parser.hpp"

#include <string>
#include <string_view>
#include <vector>

using http::parse_status;

namespace {

struct outcome_case {
  const char* what;
  std::string input;
  parse_status expected;
};

http::parse_result parse_whole(std::string_view in, http::request& r, const http::limits& lim = {}) {
  return http::parse_request(in, r, lim);
}

// Feeds `in` one byte more per call, as a slow client would send it; returns
// the first result that is not `incomplete` (or the last one).
http::parse_result parse_byte_by_byte(std::string_view in, http::request& r, const http::limits& lim = {}) {
  http::request_parser p(lim);
  http::parse_result res;
  for (std::size_t n = 0; n <= in.size(); ++n) {
    res = p.parse(in.substr(0, n), r);
    if (res.status != parse_status::incomplete) break;
  }
  return res;
}

void check_outcomes(const std::vector<outcome_case>& table, const http::limits& lim = {}) {
  for (const outcome_case& c : table) {
    CAPTURE(c.what);
    http::request r;
    http::parse_result whole = parse_whole(c.input, r, lim);
    CHECK(whole.status == c.expected);
    if (c.expected == parse_status::complete)
      CHECK(whole.consumed == c.input.size());
    else
      CHECK(whole.consumed == 0);
    http::parse_result slow = parse_byte_by_byte(c.input, r, lim);
    CHECK(slow.status == whole.status);
    CHECK(slow.consumed == whole.consumed);
  }
}

const std::string valid_get = "GET /hello?name=x HTTP/1.1\r\nHost: example\r\nUser-Agent: t\r\n\r\n";

}  // namespace

TEST_CASE("well-formed requests parse completely and consume exactly themselves") {
  check_outcomes({
      {"minimal 1.1 GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", parse_status::complete},
      {"1.0 without Host", "GET / HTTP/1.0\r\n\r\n", parse_status::complete},
      {"HEAD", "HEAD /hello HTTP/1.1\r\nHost: a\r\n\r\n", parse_status::complete},
      {"query", valid_get, parse_status::complete},
      {"asterisk form", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", parse_status::complete},
      {"empty header value", "GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n\r\n", parse_status::complete},
      {"value with inner spaces and tabs", "GET / HTTP/1.1\r\nHost: a\r\nX: a \t b\r\n\r\n", parse_status::complete},
      {"obs-text in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n", parse_status::complete},
      {"leading empty lines are skipped", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", parse_status::complete},
      {"HTTP/1.9 is read as 1.1", "GET / HTTP/1.9\r\nHost: a\r\n\r\n", parse_status::complete},
      {"POST with a body", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", parse_status::complete},
      {"Content-Length 0", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", parse_status::complete},
      {"Content-Length with leading zeros", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 003\r\n\r\nabc",
       parse_status::complete},
      {"header names are case-insensitive", "POST /x HTTP/1.1\r\nhOsT: a\r\ncontent-LENGTH: 2\r\n\r\nok",
       parse_status::complete},
  });
}

TEST_CASE("malformed requests are bad requests, never crashes or guesses") {
  const std::string h = "Host: a\r\n";
  check_outcomes({
      {"garbage", "GARBAGE\r\n\r\n", parse_status::bad_request},
      {"no target", "GET HTTP/1.1\r\n" + h + "\r\n", parse_status::bad_request},
      {"two spaces", "GET  / HTTP/1.1\r\n" + h + "\r\n", parse_status::bad_request},
      {"trailing space", "GET / HTTP/1.1 \r\n" + h + "\r\n", parse_status::bad_request},
      {"tab separator", "GET\t/ HTTP/1.1\r\n" + h + "\r\n", parse_status::bad_request},
      {"bad method char", "G(T / HTTP/1.1\r\n" + h + "\r\n", parse_status::bad_request},
      {"target not origin-form", "GET hello HTTP/1.1\r\n" + h + "\r\n", parse_status::bad_request},
      {"absolute-form unsupported", "GET http://a/ HTTP/1.1\r\n" + h + "\r\n", parse_status::bad_request},
      {"non-ASCII in target", "GET /caf\xc3\xa9 HTTP/1.1\r\n" + h + "\r\n", parse_status::bad_request},
      {"lowercase version", "GET / http/1.1\r\n" + h + "\r\n", parse_status::bad_request},
      {"version without minor", "GET / HTTP/1\r\n" + h + "\r\n", parse_status::bad_request},
      {"version letters", "GET / HTTP/1.x\r\n" + h + "\r\n", parse_status::bad_request},
      {"version too long", "GET / HTTP/1.10\r\n" + h + "\r\n", parse_status::bad_request},
      {"header without colon", "GET / HTTP/1.1\r\n" + h + "NoColon\r\n\r\n", parse_status::bad_request},
      {"space before colon", "GET / HTTP/1.1\r\n" + h + "X : y\r\n\r\n", parse_status::bad_request},
      {"tab before colon", "GET / HTTP/1.1\r\n" + h + "X\t: y\r\n\r\n", parse_status::bad_request},
      {"empty header name", "GET / HTTP/1.1\r\n" + h + ": y\r\n\r\n", parse_status::bad_request},
      {"invalid char in name", "GET / HTTP/1.1\r\n" + h + "X/Y: z\r\n\r\n", parse_status::bad_request},
      {"obsolete line folding", "GET / HTTP/1.1\r\n" + h + "X: a\r\n  b\r\n\r\n", parse_status::bad_request},
      {"bare LF ends the request line", "GET / HTTP/1.1\n" + h + "\r\n", parse_status::bad_request},
      {"bare LF ends a header", "GET / HTTP/1.1\r\nHost: a\n\r\n", parse_status::bad_request},
      {"bare LF as the blank line", "GET / HTTP/1.1\r\nHost: a\r\n\n", parse_status::bad_request},
      {"bare LF first", "\nGET / HTTP/1.1\r\n" + h + "\r\n", parse_status::bad_request},
      {"bare CR in a value", "GET / HTTP/1.1\r\n" + h + "X: a\rb\r\n\r\n", parse_status::bad_request},
      {"NUL in the target", std::string("GET /a\0b HTTP/1.1\r\n", 20) + h + "\r\n", parse_status::bad_request},
      {"NUL in a value", "GET / HTTP/1.1\r\n" + h + std::string("X: a\0\r\n\r\n", 9), parse_status::bad_request},
      {"control byte in a value", "GET / HTTP/1.1\r\n" + h + "X: a\x01\r\n\r\n", parse_status::bad_request},
      {"DEL in a value", "GET / HTTP/1.1\r\n" + h + "X: a\x7f\r\n\r\n", parse_status::bad_request},
      {"1.1 without Host", "GET / HTTP/1.1\r\n\r\n", parse_status::bad_request},
      {"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", parse_status::bad_request},
      {"two Hosts in 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", parse_status::bad_request},
      {"empty request line", "\r\n", parse_status::incomplete},  // an ignorable empty line, not an error
  });
}

TEST_CASE("Content-Length must be one plain non-negative decimal number") {
  auto with_length = [](std::string value) {
    return "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + value + "\r\n\r\n";
  };
  check_outcomes({
      {"empty", with_length(""), parse_status::bad_request},
      {"negative", with_length("-1"), parse_status::bad_request},
      {"plus sign", with_length("+1"), parse_status::bad_request},
      {"hex", with_length("0x10"), parse_status::bad_request},
      {"inner space", with_length("1 2"), parse_status::bad_request},
      {"list", with_length("1, 1"), parse_status::bad_request},
      {"overflows 64 bits", with_length("18446744073709551616"), parse_status::bad_request},
      {"huge but representable", with_length("18446744073709551615"), parse_status::body_too_large},
      {"duplicate equal", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
       parse_status::bad_request},
      {"duplicate conflicting", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy",
       parse_status::bad_request},
  });
}

TEST_CASE("Transfer-Encoding is refused as unsupported, with or without Content-Length") {
  check_outcomes({
      {"chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
       parse_status::unsupported_transfer_encoding},
      {"with Content-Length (smuggling shape)",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
       parse_status::unsupported_transfer_encoding},
      {"identity", "POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: identity\r\n\r\n",
       parse_status::unsupported_transfer_encoding},
  });
}

TEST_CASE("HTTP versions other than 1.x are unsupported, not bad") {
  check_outcomes({
      {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", parse_status::unsupported_version},
      {"HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", parse_status::unsupported_version},
  });
}

TEST_CASE("every prefix of a valid request is incomplete, never an error or a request") {
  const std::string requests[] = {
      valid_get,
      "POST /work?ms=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world",
      "\r\n\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
      "OPTIONS * HTTP/1.1\r\nHost: a\r\nX:\r\nY: \t v \t\r\n\r\n",
  };
  for (const std::string& req : requests) {
    CAPTURE(req);
    for (std::size_t n = 0; n < req.size(); ++n) {
      http::request r;
      http::parse_result res = parse_whole(std::string_view(req).substr(0, n), r);
      CAPTURE(n);
      CHECK(res.status == parse_status::incomplete);
      CHECK(res.consumed == 0);
    }
    http::request r;
    CHECK(parse_whole(req, r).status == parse_status::complete);
  }
}

TEST_CASE("an incremental parser fed in pieces gives the fields one read gives") {
  const std::string req =
      "POST /submit?a=1&b=2 HTTP/1.1\r\nHost: example\r\nContent-Length: 4\r\nX-Thing:  spaced value \r\n\r\nbody";
  http::request whole;
  REQUIRE(parse_whole(req, whole).status == parse_status::complete);
  for (std::size_t split = 0; split <= req.size(); ++split) {
    CAPTURE(split);
    // The second piece arrives in a new buffer (as when a std::string
    // grows), so the parser must not keep views from the first call.
    std::string first = req.substr(0, split);
    http::request_parser p;
    http::request r;
    http::parse_result a = p.parse(first, r);
    if (a.status != parse_status::incomplete) {
      CHECK(split == req.size());
      continue;
    }
    std::string both = req;
    http::parse_result b = p.parse(both, r);
    CHECK(b.status == parse_status::complete);
    CHECK(b.consumed == req.size());
    CHECK(r.method == "POST");
    CHECK(r.target == "/submit?a=1&b=2");
    CHECK(r.path == "/submit");
    CHECK(r.query == "a=1&b=2");
    CHECK(r.header_value("x-thing") == "spaced value");
    CHECK(r.body == "body");
    CHECK(r.body.data() == both.data() + both.size() - 4);  // a view into the latest buffer
  }
}

TEST_CASE("request fields are views of the method, target, version, headers and body") {
  http::request r;
  std::string req = "GET /hello?name=x HTTP/1.0\r\nHost: example\r\nAccept:   text/plain  \r\nEmpty:\r\n\r\n";
  REQUIRE(parse_whole(req, r).status == parse_status::complete);
  CHECK(r.method == "GET");
  CHECK(r.target == "/hello?name=x");
  CHECK(r.path == "/hello");
  CHECK(r.query == "name=x");
  CHECK(r.version_minor == 0);
  REQUIRE(r.header_count == 3);
  CHECK(r.headers[0].name == "Host");
  CHECK(r.headers[0].value == "example");
  CHECK(r.headers[1].value == "text/plain");
  CHECK(r.headers[2].name == "Empty");
  CHECK(r.headers[2].value.empty());
  CHECK(r.header_value("ACCEPT") == "text/plain");
  CHECK(r.header_value("missing").empty());
  CHECK(r.content_length == 0);
  CHECK(r.body.empty());
  CHECK(r.method.data() >= req.data());
  CHECK(r.headers[2].name.data() < req.data() + req.size());
}

TEST_CASE("keep-alive: HTTP/1.1 keeps unless close, HTTP/1.0 closes unless keep-alive") {
  struct keep_case {
    const char* version;
    const char* connection;  // nullptr: no header
    bool keep;
  };
  const keep_case table[] = {
      {"1.1", nullptr, true},           {"1.1", "close", false},
      {"1.1", "Close", false},          {"1.1", "keep-alive", true},
      {"1.1", "upgrade, close", false}, {"1.1", " foo ,  CLOSE ", false},
      {"1.0", nullptr, false},          {"1.0", "keep-alive", true},
      {"1.0", "Keep-Alive", true},      {"1.0", "keep-alive, close", false},
      {"1.0", "closed", false},         {"1.1", "closed", true},  // a different token, not "close"
  };
  for (const keep_case& k : table) {
    std::string req = std::string("GET / HTTP/") + k.version + "\r\nHost: a\r\n";
    if (k.connection) req += std::string("Connection: ") + k.connection + "\r\n";
    req += "\r\n";
    CAPTURE(req);
    http::request r;
    REQUIRE(parse_whole(req, r).status == parse_status::complete);
    CHECK(r.keep_alive == k.keep);
  }
}

TEST_CASE("pipelined requests in one buffer are parsed one after another, in order") {
  const std::string reqs =
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz"
      "HEAD /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
      "GET /d HTTP/1.1\r\nHo";  // the start of a fourth
  std::string_view rest = reqs;
  const char* expected[] = {"/a", "/b", "/c"};
  http::request_parser p;
  for (const char* path : expected) {
    http::request r;
    http::parse_result res = p.parse(rest, r);
    REQUIRE(res.status == parse_status::complete);
    CHECK(r.path == path);
    if (r.path == "/b") CHECK(r.body == "xyz");
    if (r.path == "/c") CHECK(!r.keep_alive);
    rest.remove_prefix(res.consumed);
    p.reset();
  }
  http::request r;
  CHECK(p.parse(rest, r).status == parse_status::incomplete);
  CHECK(rest == "GET /d HTTP/1.1\r\nHo");
}

TEST_CASE("a body is awaited until Content-Length bytes are in, and no further") {
  const std::string head = "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n";
  http::request r;
  for (std::size_t n = 0; n < 10; ++n)
    CHECK(parse_whole(head + std::string(n, 'b'), r).status == parse_status::incomplete);
  const std::string full = head + std::string(10, 'b') + "GET";  // outlives the views into it
  http::parse_result res = parse_whole(full, r);
  CHECK(res.status == parse_status::complete);
  CHECK(res.consumed == head.size() + 10);
  CHECK(r.body == std::string(10, 'b'));
}

TEST_CASE("limits: a head over max_head_bytes or too many fields is too large, a body over the limit too") {
  http::limits lim;  // the defaults: 8 KiB head, 64 fields, 1 MiB body
  http::request r;
  std::string big = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(9000, 'v') + "\r\n\r\n";
  CHECK(parse_whole(big, r, lim).status == parse_status::headers_too_large);
  // Decided once the limit's worth of bytes is in, without waiting for the rest.
  CHECK(parse_whole(std::string_view(big).substr(0, lim.max_head_bytes), r, lim).status ==
        parse_status::headers_too_large);
  CHECK(parse_whole(std::string_view(big).substr(0, lim.max_head_bytes - 1), r, lim).status ==
        parse_status::incomplete);
  // A head of exactly the limit is fine.
  std::string exact = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
  exact += std::string(lim.max_head_bytes - exact.size() - 4, 'v') + "\r\n\r\n";
  REQUIRE(exact.size() == lim.max_head_bytes);
  CHECK(parse_whole(exact, r, lim).status == parse_status::complete);
  // Endless leading empty lines count against the limit too.
  std::string blank_lines;
  while (blank_lines.size() < lim.max_head_bytes) blank_lines += "\r\n";
  CHECK(parse_whole(blank_lines, r, lim).status == parse_status::headers_too_large);

  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 64; ++i)
    many.append("X").append(std::to_string(i)).append(": v\r\n");  // (GCC 12 -Wrestrict misfires on "X" + std::string)
  many += "\r\n";
  CHECK(parse_whole(many, r, lim).status == parse_status::headers_too_large);

  std::string body = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n";
  CHECK(parse_whole(body, r, lim).status == parse_status::body_too_large);  // before any body byte arrives
  body = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\n\r\n";
  CHECK(parse_whole(body, r, lim).status == parse_status::incomplete);

  http::limits tiny{.max_head_bytes = 40, .max_headers = 1, .max_body_bytes = 2};
  check_outcomes(
      {
          {"head fits", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", parse_status::complete},
          {"head over the limit", "GET / HTTP/1.1\r\nHost: abcdefghijklmnopq\r\n\r\n", parse_status::headers_too_large},
          {"second field", "GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\n\r\n", parse_status::headers_too_large},
          {"body over", "POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\n", parse_status::body_too_large},
      },
      tiny);
}

TEST_CASE("an error is final: more bytes after a bad prefix do not change the outcome") {
  const std::string bad[] = {"GET / HTTP/1.1\nHost: a\r\n\r\n", std::string("GE\0T", 4), "GET /\rx"};
  for (const std::string& b : bad) {
    CAPTURE(b);
    http::request r;
    http::parse_result first = parse_whole(b, r);
    CHECK(first.status == parse_status::bad_request);
    CHECK(parse_whole(b + "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", r).status == parse_status::bad_request);
  }
}
