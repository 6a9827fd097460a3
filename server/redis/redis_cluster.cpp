#include "redis/redis_cluster.hpp"

#include "log.hpp"

namespace fstore::server {

namespace net = boost::asio;

// One submitted batch: its commands split apart, the replies in order, how many node groups are
// still out, and whether redirects were already followed once.
struct RedisCluster::Batch {
  std::string resp;
  std::vector<RespCommand> cmds;
  std::vector<RedisValue> replies;
  RedisCallback done;
  size_t outstanding = 0;
  bool retried = false;
  std::string error;  // a group failed (connection): the batch fails
};

RedisCluster::RedisCluster(IoLoops& loops, RedisEndpoint endpoint, Metrics& metrics, std::chrono::milliseconds timeout)
    : loops_(loops), endpoint_(std::move(endpoint)), metrics_(metrics), timeout_(timeout), per_loop_(loops.size()),
      refresh_timer_(loops.at(0)) {}

void RedisCluster::start() {
  net::dispatch(loops_.at(0), [self = shared_from_this()] {
    for (const auto& [host, port] : self->endpoint_.seeds) self->pipe(0, host, port);
    self->schedule_refresh(std::chrono::milliseconds(20));
  });
}

void RedisCluster::stop() {
  net::dispatch(loops_.at(0), [self = shared_from_this()] {
    self->stopped_ = true;
    self->refresh_timer_.cancel();
  });
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& p : all_) p->stop();
}

std::shared_ptr<const SlotMap> RedisCluster::map() const {
  std::lock_guard<std::mutex> lock(mu_);
  return map_;
}

void RedisCluster::set_error(const std::string& e) {
  std::lock_guard<std::mutex> lock(mu_);
  last_error_ = e;
}

bool RedisCluster::connected() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!map_ || !map_->complete()) return false;
  for (const auto& node : map_->nodes) {
    bool up = false;
    for (const auto& p : all_) up = up || (p->connected() && p->address() == node.address());
    if (!up) return false;
  }
  return true;
}

std::string RedisCluster::last_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!map_) return last_error_.empty() ? "the Redis Cluster slot map is not loaded yet" : last_error_;
  for (const auto& p : all_) if (auto e = p->last_error(); !e.empty()) return e;
  return last_error_;
}

// The pipeline to host:port on `loop`, made (and started) on first use. On that loop only.
RedisPipeline* RedisCluster::pipe(size_t loop, const std::string& host, int port) {
  auto& pipes = per_loop_[loop].pipes;
  std::string address = host + ":" + std::to_string(port);
  auto it = pipes.find(address);
  if (it != pipes.end()) return it->second.get();
  RedisEndpoint ep = endpoint_;
  ep.host = host;
  ep.port = port;
  ep.cluster = false;
  ep.seeds.clear();
  auto p = std::make_shared<RedisPipeline>(loops_.at(loop), ep, metrics_, timeout_);
  p->start();
  {
    std::lock_guard<std::mutex> lock(mu_);
    all_.push_back(p);
  }
  return pipes.emplace(address, std::move(p)).first->second.get();
}

// Makes a pipeline to every master of `map` on `loop`, so they connect before they are needed.
void RedisCluster::ensure_pipes(size_t loop, const std::shared_ptr<const SlotMap>& map) {
  for (const auto& n : map->nodes) pipe(loop, n.host, n.port);
}

void RedisCluster::submit(std::string commands, size_t count, RedisCallback done) {
  int loop = IoLoops::current();
  if (loop >= 0 && static_cast<size_t>(loop) < per_loop_.size())
    return dispatch(static_cast<size_t>(loop), std::move(commands), count, std::move(done));
  net::post(loops_.at(0), [self = shared_from_this(), commands = std::move(commands), count,
                           done = std::move(done)]() mutable { self->dispatch(0, std::move(commands), count, std::move(done)); });
}

// On `loop`: splits the batch and sends each command to the master of its key's slot.
void RedisCluster::dispatch(size_t loop, std::string commands, size_t count, RedisCallback done) {
  auto batch = std::make_shared<Batch>();
  batch->resp = std::move(commands);
  batch->done = std::move(done);
  if (!split_commands(batch->resp, batch->cmds) || batch->cmds.size() != count)
    return batch->done(false, {}, "malformed Redis batch");
  batch->replies.resize(count);
  std::vector<size_t> all(count);
  for (size_t i = 0; i < count; ++i) all[i] = i;
  send(loop, batch, all, false);
}

// Sends the commands `which` of `batch`, grouped by node: by the slot map, or (retry) by the
// redirect each one got. finish() runs when every group answered.
void RedisCluster::send(size_t loop, const std::shared_ptr<Batch>& batch, const std::vector<size_t>& which, bool retry) {
  auto map = this->map();
  if (!map) return batch->done(false, {}, last_error());
  struct Group { std::string host; int port; std::string resp; std::vector<size_t> index; size_t count = 0; bool ask = false; };
  std::map<std::string, Group> groups;
  for (size_t i : which) {
    const auto& c = batch->cmds[i];
    std::string host;
    int port = 0;
    bool ask = false;
    if (retry) {
      auto r = parse_redirect(batch->replies[i].str);
      host = r->host;
      port = r->port;
      ask = r->ask;
    } else {
      const ClusterNode* node = map->node_of(key_slot(c.key));
      if (!node) return batch->done(false, {}, "no Redis Cluster node serves the slot of " + std::string(c.key));
      host = node->host;
      port = node->port;
    }
    auto& g = groups[host + ":" + std::to_string(port) + (ask ? "/ask" : "")];
    g.host = host;
    g.port = port;
    g.ask = ask;
    if (ask) {  // ASKING holds for the one command after it
      append_command(g.resp, {"ASKING"});
      ++g.count;
    }
    g.resp.append(batch->resp, c.begin, c.size);
    ++g.count;
    g.index.push_back(i);
  }
  batch->outstanding = groups.size();
  std::vector<Group> list;
  for (auto& [_, g] : groups) list.push_back(std::move(g));
  for (auto& g : list) {
    auto index = std::make_shared<std::vector<size_t>>(std::move(g.index));
    bool ask = g.ask;
    pipe(loop, g.host, g.port)->submit(std::move(g.resp), g.count,
        [self = shared_from_this(), loop, batch, index, ask](bool ok, std::vector<RedisValue>&& replies, const std::string& err) {
          if (!ok) {
            batch->error = err;
            self->request_refresh();  // a master down: maybe a failover is under way
          } else {
            size_t step = ask ? 2 : 1;
            for (size_t k = 0; k < index->size(); ++k) batch->replies[(*index)[k]] = std::move(replies[k * step + step - 1]);
          }
          if (--batch->outstanding == 0) self->finish(loop, batch);
        });
  }
}

// All groups answered: follows MOVED/ASK once, then hands the replies over.
void RedisCluster::finish(size_t loop, const std::shared_ptr<Batch>& batch) {
  if (!batch->error.empty()) return batch->done(false, {}, batch->error);
  std::vector<size_t> redirected;
  bool moved = false;
  for (size_t i = 0; i < batch->replies.size(); ++i) {
    const auto& r = batch->replies[i];
    if (r.type != RedisValue::Type::error) continue;
    if (auto redirect = parse_redirect(r.str)) {
      redirected.push_back(i);
      moved = moved || !redirect->ask;
    }
  }
  if (moved) request_refresh();
  if (redirected.empty() || batch->retried) return batch->done(true, std::move(batch->replies), "");
  ++metrics_.redis_redirects;
  batch->retried = true;
  send(loop, batch, redirected, true);
}

// Asks loop 0 for a fresh slot map (at most one read in flight, at most one per 100 ms).
void RedisCluster::request_refresh() {
  net::post(loops_.at(0), [self = shared_from_this()] {
    if (self->stopped_ || self->refreshing_) return;
    auto since = std::chrono::steady_clock::now() - self->last_refresh_;
    if (since < std::chrono::milliseconds(100)) return self->schedule_refresh(std::chrono::milliseconds(100));
    self->refresh();
  });
}

void RedisCluster::schedule_refresh(std::chrono::milliseconds after) {
  if (stopped_) return;
  refresh_timer_.expires_after(after);
  refresh_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec && !self->stopped_ && !self->refreshing_) self->refresh();
  });
}

// On loop 0: CLUSTER SLOTS from a connected node (known masters first, then the seeds); installs
// the map and connects every loop to its masters. Every 5 s again (every 100 ms until loaded).
void RedisCluster::refresh() {
  last_refresh_ = std::chrono::steady_clock::now();
  const bool loaded = map() != nullptr;
  schedule_refresh(std::chrono::milliseconds(loaded ? 5000 : 100));
  RedisPipeline* from = nullptr;
  for (auto& [_, p] : per_loop_[0].pipes)
    if (p->connected()) { from = p.get(); break; }
  if (!from) {
    set_error("no Redis Cluster node is reachable");
    return;
  }
  refreshing_ = true;
  std::string cmd;
  append_command(cmd, {"CLUSTER", "SLOTS"});
  std::string default_host = from->endpoint().host;
  from->submit(std::move(cmd), 1, [self = shared_from_this(), default_host](bool ok, std::vector<RedisValue>&& r, const std::string& err) {
    self->refreshing_ = false;
    if (!ok) return self->set_error("reading the Redis Cluster slot map failed: " + err);
    std::string error;
    auto parsed = parse_cluster_slots(r[0], default_host, &error);
    if (!parsed) return self->set_error(error);
    auto map = std::make_shared<const SlotMap>(std::move(*parsed));
    auto old = self->map();
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->map_ = map;
      self->last_error_.clear();
    }
    if (!old) log_info("Redis Cluster: " + std::to_string(map->nodes.size()) + " masters");
    for (size_t i = 0; i < self->loops_.size(); ++i)
      net::dispatch(self->loops_.at(i), [self, i, map] { self->ensure_pipes(i, map); });
  });
}

}  // namespace fstore::server
