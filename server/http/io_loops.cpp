#include "http/io_loops.hpp"

#include <algorithm>
#include <thread>

namespace fstore::server {

namespace {
thread_local int current_loop = -1;  // set by run() on the thread of each loop
}

IoLoops::IoLoops(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    loops_.push_back(std::make_unique<boost::asio::io_context>(1));  // one thread each
    guards_.push_back(boost::asio::make_work_guard(*loops_.back()));
  }
}

boost::asio::io_context& IoLoops::next() { return *loops_[next_++ % loops_.size()]; }

int IoLoops::current() { return current_loop; }

void IoLoops::run() {
  std::vector<std::thread> threads;
  for (size_t i = 1; i < loops_.size(); ++i)
    threads.emplace_back([this, i] {
      current_loop = static_cast<int>(i);
      loops_[i]->run();
    });
  current_loop = 0;
  loops_[0]->run();
  for (auto& t : threads) t.join();
  current_loop = -1;
}

void IoLoops::stop() {
  for (auto& g : guards_) g.reset();
  for (auto& l : loops_) l->stop();
}

}  // namespace fstore::server
