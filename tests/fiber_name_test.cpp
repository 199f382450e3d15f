// Fiber names: every fiber has one (fiber_options::name, set_name, or
// "fiber-<id>"), and diagnostics show it.
#include "support.hpp"

#include <jiffy/jiffy.hpp>

#include <algorithm>
#include <string>
#include <vector>

TEST_CASE("an unnamed fiber is called fiber-<id>") {
  jiffy::runtime rt({.workers = 1});
  std::string name;
  std::uint64_t id = 0;
  rt.spawn([&] {
      name = jiffy::this_fiber::name();
      id = jiffy::this_fiber::id();
    }).join();
  CHECK(id != 0);
  CHECK(name == "fiber-" + std::to_string(id));
}

// Workers hand out ids from blocks of their own (detail/spawn.hpp): ids
// from several workers and from a plain thread must still never collide.
TEST_CASE("fiber ids are never 0 and never repeat, whichever worker or thread spawns") {
  constexpr int per_spawner = 3000;  // more than two blocks of ids per worker
  jiffy::runtime rt({.workers = 3});
  std::vector<std::uint64_t> ids[4];
  auto spawn_and_join = [](auto spawn, std::vector<std::uint64_t>& out) {
    for (int i = 0; i < per_spawner; ++i) {
      jiffy::fiber f = spawn();
      out.push_back(f.id());
      f.join();
    }
  };
  std::vector<jiffy::fiber> spawners;
  for (int s = 0; s < 3; ++s)
    spawners.push_back(rt.spawn([&, s] { spawn_and_join([] { return jiffy::spawn([] {}); }, ids[s]); }));
  spawn_and_join([&] { return rt.spawn([] {}); }, ids[3]);  // from outside the runtime, meanwhile
  for (auto& f : spawners) f.join();
  std::vector<std::uint64_t> all;
  for (auto& v : ids) all.insert(all.end(), v.begin(), v.end());
  REQUIRE(all.size() == 4 * per_spawner);
  CHECK(std::count(all.begin(), all.end(), std::uint64_t{0}) == 0);
  std::sort(all.begin(), all.end());
  CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
}

TEST_CASE("a fiber spawned with a name has it, and set_name renames it with a copy") {
  jiffy::runtime rt({.workers = 2});
  std::string spawned, renamed, after_switch;
  rt.block_on([&] {
    jiffy::spawn({.name = "physics"}, [&] {
      spawned = jiffy::this_fiber::name();
      std::string temporary = "audio mixer";
      CHECK(!jiffy::this_fiber::set_name(temporary));
      temporary.assign(temporary.size(), 'x');  // the fiber keeps its own copy
      renamed = jiffy::this_fiber::name();
      jiffy::this_fiber::yield();
      after_switch = jiffy::this_fiber::name();
    }).join();
  });
  CHECK(spawned == "physics");
  CHECK(renamed == "audio mixer");
  CHECK(after_switch == "audio mixer");
}

TEST_CASE("set_name keeps the first 31 bytes of a longer name") {
  jiffy::runtime rt({.workers = 1});
  std::string long_name(100, 'n');
  long_name[0] = 'N';
  std::string kept = rt.block_on([&] {
    CHECK(!jiffy::this_fiber::set_name(long_name));
    return std::string(jiffy::this_fiber::name());
  });
  CHECK(kept == long_name.substr(0, 31));
}

TEST_CASE("on a plain thread name() is empty and set_name() is refused") {
  CHECK(jiffy::this_fiber::name().empty());
  CHECK(jiffy::this_fiber::set_name("main") == std::make_error_code(std::errc::operation_not_permitted));
}
