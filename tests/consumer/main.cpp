#include <jiffy/jiffy.hpp>

#include <cstdio>

int main() {
  jiffy::runtime rt({.workers = 2});
  int sum = rt.block_on([] {
    jiffy::wait_group wg;
    std::atomic<int> total{0};
    for (int i = 1; i <= 10; ++i) {
      wg.add();
      jiffy::spawn([&, i] {
        total += i;
        wg.done();
      }).detach();
    }
    wg.wait();
    return total.load();
  });
  std::printf("consumer: %d\n", sum);
  return sum == 55 ? 0 : 1;
}
