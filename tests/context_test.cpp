// The raw context switch: data passing, callee-saved state, FP control state.
#include "support.hpp"

#include <jiffy/detail/context.hpp>

#include <cfenv>
#include <cstdint>
#include <cstdlib>
#include <vector>

using jiffy::detail::jump_context;
using jiffy::detail::make_context;
using jiffy::detail::transfer;

namespace {

struct ping_pong {
  void* main_ctx = nullptr;
  long bounces = 0;
};

void bounce_entry(transfer t) noexcept {
  auto* pp = static_cast<ping_pong*>(t.data);
  for (;;) {
    pp->main_ctx = t.from;
    ++pp->bounces;
    t = jump_context(pp->main_ctx, pp);
  }
}

struct stack_mem {
  std::vector<unsigned char> bytes = std::vector<unsigned char>(64 * 1024);
  void* top() { return bytes.data() + bytes.size(); }
};

}  // namespace

TEST_CASE("a jump passes data both ways and resumes where each side left") {
  stack_mem stack;
  ping_pong pp;
  void* ctx = make_context(stack.top(), &bounce_entry);
  for (int i = 0; i < 1000; ++i) {
    transfer t = jump_context(ctx, &pp);
    ctx = t.from;
    CHECK(t.data == &pp);
  }
  CHECK(pp.bounces == 1000);
}

namespace {
// Values live across jumps in as many locals as the compiler will keep in
// callee-saved registers; each side checks its own survived.
void busy_entry(transfer t) noexcept {
  void* back = t.from;
  std::uint64_t a = 0x1111, b = 0x2222, c = 0x3333, d = 0x4444, e = 0x5555, f = 0x6666;
  double x = 1.5, y = 2.5, z = 3.5;
  for (;;) {
    a *= 3, b *= 5, c *= 7, d *= 11, e *= 13, f *= 17;
    x *= 1.25, y *= 1.5, z *= 1.75;
    std::uint64_t mix = a ^ b ^ c ^ d ^ e ^ f ^ static_cast<std::uint64_t>(x + y + z);
    t = jump_context(back, reinterpret_cast<void*>(mix));
    back = t.from;
  }
}
}  // namespace

TEST_CASE("callee-saved integer and FP values survive jumps on both sides") {
  stack_mem stack;
  void* ctx = make_context(stack.top(), &busy_entry);
  // Recompute the other side's sequence here while keeping our own locals live.
  std::uint64_t a = 0x1111, b = 0x2222, c = 0x3333, d = 0x4444, e = 0x5555, f = 0x6666;
  double x = 1.5, y = 2.5, z = 3.5;
  std::uint64_t mine = 0xdeadbeef;
  double my_fp = 0.5;
  for (int i = 0; i < 50; ++i) {
    a *= 3, b *= 5, c *= 7, d *= 11, e *= 13, f *= 17;
    x *= 1.25, y *= 1.5, z *= 1.75;
    std::uint64_t expect = a ^ b ^ c ^ d ^ e ^ f ^ static_cast<std::uint64_t>(x + y + z);
    transfer t = jump_context(ctx, nullptr);
    ctx = t.from;
    CHECK(reinterpret_cast<std::uint64_t>(t.data) == expect);
    mine = mine * 31 + 7;
    my_fp = my_fp * 1.125;
  }
  std::uint64_t check = 0xdeadbeef;
  double check_fp = 0.5;
  for (int i = 0; i < 50; ++i) check = check * 31 + 7, check_fp *= 1.125;
  CHECK(mine == check);
  CHECK(my_fp == check_fp);
}

namespace {
struct round_probe {
  void* back = nullptr;
  int seen_round = -1;
};
void round_entry(transfer t) noexcept {
  auto* p = static_cast<round_probe*>(t.data);
  p->seen_round = std::fegetround();  // a fresh context starts with its creator's mode
  std::fesetround(FE_UPWARD);         // ...and its own change stays its own
  t = jump_context(t.from, nullptr);
  p->seen_round = std::fegetround();
  jump_context(t.from, nullptr);
  std::abort();
}
}  // namespace

TEST_CASE("each context keeps its own floating-point control state, starting from its creator's") {
  stack_mem stack;
  round_probe probe;
  std::fesetround(FE_DOWNWARD);
  void* ctx = make_context(stack.top(), &round_entry);
  std::fesetround(FE_TOWARDZERO);
  transfer t = jump_context(ctx, &probe);
  CHECK(probe.seen_round == FE_DOWNWARD);
  CHECK(std::fegetround() == FE_TOWARDZERO);  // the other side's FE_UPWARD did not leak here
  t = jump_context(t.from, nullptr);
  CHECK(probe.seen_round == FE_UPWARD);  // and ours did not leak there
  CHECK(std::fegetround() == FE_TOWARDZERO);
  std::fesetround(FE_TONEAREST);
}
