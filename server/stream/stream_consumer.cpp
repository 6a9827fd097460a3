#include "stream/stream_consumer.hpp"

#include "config.hpp"
#include "log.hpp"

#include <librdkafka/rdkafka.h>
#include <pqxx/pqxx>

#include <algorithm>

namespace fstore::stream {

using server::log_error;
using server::log_info;
using server::log_warn;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr int kMaxBackoffMs = 10000;
constexpr auto kReportEvery = std::chrono::seconds(2);

// First line of an error text, trimmed.
std::string first_line(const std::string& s) {
  std::string out = s.substr(0, s.find('\n'));
  while (!out.empty() && (out.back() == ' ' || out.back() == '\r')) out.pop_back();
  return out;
}

// SQLSTATEs of a batch whose text PostgreSQL could not take as jsonb (a number beyond numeric,
// an escape it refuses, nesting past its stack): the batch is split until the one message that
// causes it is found, which is then rejected. Every other error is the source's, not a row's.
bool is_batch_input_error(const std::string& sqlstate) {
  return sqlstate == "22P02" || sqlstate == "22P05" || sqlstate == "22003" || sqlstate == "22021" ||
         sqlstate == "54000" || sqlstate == "54001";
}

extern "C" void rebalance_trampoline(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                                     void* opaque) {
  static_cast<StreamConsumer*>(opaque)->on_rebalance(err, parts);
}

extern "C" void error_trampoline(rd_kafka_t*, int err, const char* reason, void* opaque) {
  static_cast<StreamConsumer*>(opaque)->on_error(err, reason);
}

// librdkafka's own log lines: warnings and worse, into the server's log.
extern "C" void log_trampoline(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  if (level <= 4) log_warn(std::string("librdkafka ") + fac + ": " + buf);
}

}  // namespace

StreamConsumer::StreamConsumer(SourceConfig source, std::string pg_url, std::string reporter)
    : source_(std::move(source)), pg_url_(std::move(pg_url)), reporter_(std::move(reporter)) {
  status_.name = source_.name;
  status_.view = source_.view;
  status_.topic = source_.topic;
}

StreamConsumer::~StreamConsumer() { stop(); }

void StreamConsumer::start() { thread_ = std::thread([this] { run(); }); }

void StreamConsumer::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

SourceStatus StreamConsumer::status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return status_;
}

// Records the state this consumer is in; "running" clears the error. Logged on change.
void StreamConsumer::set_state(const std::string& state, const std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (status_.state != state || (!error.empty() && status_.last_error != error)) {
    if (state == "running") log_info("stream source " + source_.name + ": running");
    else log_warn("stream source " + source_.name + ": " + state + (error.empty() ? "" : ": " + error));
  }
  status_.state = state;
  status_.last_error = state == "running" ? "" : error;
  if (!error.empty()) ++status_.errors;
}

// Sleeps with exponential backoff (100 ms doubling to 10 s), waking early on stop.
void StreamConsumer::backoff() {
  backoff_ms_ = backoff_ms_ == 0 ? 100 : std::min(kMaxBackoffMs, backoff_ms_ * 2);
  auto until = clock_type::now() + std::chrono::milliseconds(backoff_ms_);
  while (!stop_ && clock_type::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

bool StreamConsumer::connect_pg() {
  if (pg_ && pg_->is_open()) return true;
  try {
    pg_ = std::make_unique<pqxx::connection>(pg_url_);
    return true;
  } catch (const std::exception& e) {
    pg_.reset();
    set_state("retrying", "PostgreSQL is not reachable: " + first_line(e.what()));
    return false;
  }
}

// A consumer of options.topic in options.group, with fstore's forced settings and callbacks.
bool StreamConsumer::create_consumer() {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] : consumer_settings(source_)) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      set_state("error", "librdkafka setting " + k + ": " + errstr);
      return false;
    }
  }
  rd_kafka_conf_set_opaque(conf, this);
  rd_kafka_conf_set_rebalance_cb(conf, rebalance_trampoline);
  rd_kafka_conf_set_error_cb(conf, error_trampoline);
  rd_kafka_conf_set_log_cb(conf, log_trampoline);
  rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);  // owns conf on success
  if (!rk_) {
    rd_kafka_conf_destroy(conf);
    set_state("error", std::string("cannot create the Kafka consumer: ") + errstr);
    return false;
  }
  rd_kafka_poll_set_consumer(rk_);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, source_.topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(rk_, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err) {
    set_state("error", std::string("cannot subscribe to ") + source_.topic + ": " + rd_kafka_err2str(err));
    destroy_consumer();
    return false;
  }
  log_info("stream source " + source_.name + ": consuming topic " + source_.topic + " in group " + source_.group +
           " from " + source_.brokers + " into " + source_.view);
  return true;
}

void StreamConsumer::destroy_consumer() {
  if (!rk_) return;
  rd_kafka_consumer_close(rk_);  // leaves the group (revoke runs here, on this thread)
  rd_kafka_destroy(rk_);
  rk_ = nullptr;
}

// Eager rebalancing: on assignment, offsets come from PostgreSQL (or the partition is assigned
// paused until they can be read); on revocation the batch is stored first (the fence in
// _stream_store makes that safe even when another member already took the partition).
void StreamConsumer::on_rebalance(int err, rd_kafka_topic_partition_list_t* parts) {
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    batch_.clear();
    expected_.clear();
    bool known = read_offsets(parts);
    rd_kafka_assign(rk_, parts);
    if (!known) {
      rd_kafka_pause_partitions(rk_, parts);
      need_resync_ = true;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    status_.partitions.clear();
    for (int i = 0; i < parts->cnt; ++i) {
      PartitionStatus p;
      p.partition = parts->elems[i].partition;
      p.next_offset = parts->elems[i].offset >= 0 ? parts->elems[i].offset : -1;
      status_.partitions.push_back(p);
    }
    return;
  }
  if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !batch_.empty()) flush();
  batch_.clear();
  expected_.clear();
  rd_kafka_assign(rk_, nullptr);
  std::lock_guard<std::mutex> lock(mutex_);
  status_.partitions.clear();
}

// Consumer-level errors (brokers unreachable, topic missing, authentication): librdkafka keeps
// retrying; the state says so, and the assignment is re-read from PostgreSQL.
void StreamConsumer::on_error(int err, const char* reason) {
  set_state("retrying", std::string("Kafka: ") + reason);
  if (err == RD_KAFKA_RESP_ERR__FATAL) need_resync_ = true;
}

bool StreamConsumer::read_offsets(rd_kafka_topic_partition_list_t* parts) {
  std::map<int32_t, int64_t> stored;
  try {
    if (!connect_pg()) return false;
    pqxx::work tx(*pg_);
    auto rows = tx.exec_params("SELECT partition, next_offset FROM fstore.stream_offsets WHERE source = $1 AND topic = $2",
                               source_.name, source_.topic);
    tx.commit();
    for (const auto& r : rows) stored[r[0].as<int32_t>()] = r[1].as<int64_t>();
  } catch (const std::exception& e) {
    pg_.reset();
    set_state("retrying", "cannot read stored offsets: " + first_line(e.what()));
    return false;
  }
  int64_t fallback = source_.start == "latest" ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
  for (int i = 0; i < parts->cnt; ++i) {
    auto it = stored.find(parts->elems[i].partition);
    parts->elems[i].offset = it == stored.end() ? fallback : it->second;
    expected_[parts->elems[i].partition] = it == stored.end() ? -1 : it->second;
  }
  return true;
}

bool StreamConsumer::resync() {
  rd_kafka_topic_partition_list_t* parts = nullptr;
  if (rd_kafka_assignment(rk_, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  batch_.clear();
  expected_.clear();
  bool ok = read_offsets(parts);
  if (ok) {
    rd_kafka_assign(rk_, parts);  // replaces the fetch positions; queued messages of the old ones are dropped
    rd_kafka_resume_partitions(rk_, parts);
    need_resync_ = false;
    last_resync_ = clock_type::now();
  }
  rd_kafka_topic_partition_list_destroy(parts);
  return ok;
}

void StreamConsumer::run() {
  set_state("starting", "");
  while (!stop_) {
    if (!connect_pg() || (!rk_ && !create_consumer())) {
      backoff();
      continue;
    }
    if (need_resync_ && !resync()) {
      backoff();
      continue;
    }
    poll_once();
    bool full = batch_.size() >= static_cast<size_t>(source_.batch_size);
    bool due = !batch_.empty() && clock_type::now() - batch_started_ >= std::chrono::milliseconds(source_.batch_ms);
    if ((full || due) && !flush()) backoff();
    report(false);
  }
  if (rk_) {
    if (!batch_.empty() && pg_) flush();
    destroy_consumer();
  }
}

// Waits for one message (at most the time left of the batch) and adds it to the batch.
void StreamConsumer::poll_once() {
  int wait_ms = 100;
  if (!batch_.empty()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        batch_started_ + std::chrono::milliseconds(source_.batch_ms) - clock_type::now()).count();
    wait_ms = static_cast<int>(std::clamp<long>(left, 0, 100));
  }
  rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk_, wait_ms);
  if (!msg) return;
  if (msg->err) {
    if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      std::string what = rd_kafka_message_errstr(msg);
      set_state("retrying", "Kafka: " + what);
      // After a consumer error, positions are re-read from PostgreSQL (at most once a second).
      if (clock_type::now() - last_resync_ > std::chrono::seconds(1)) {
        if (!batch_.empty()) flush();
        need_resync_ = true;
      }
    }
    rd_kafka_message_destroy(msg);
    return;
  }
  int32_t p = msg->partition;
  int64_t o = msg->offset;
  auto it = expected_.find(p);
  // A message of a partition no longer assigned, or below the position read from PostgreSQL.
  if (it == expected_.end() || (it->second >= 0 && o < it->second)) {
    rd_kafka_message_destroy(msg);
    return;
  }
  it->second = o + 1;
  if (batch_.empty()) batch_started_ = clock_type::now();
  std::string_view payload(static_cast<const char*>(msg->payload), msg->payload ? msg->len : 0);
  batch_.push_back(encode_message(p, o, payload, source_.max_message_bytes));
  rd_kafka_message_destroy(msg);
  std::lock_guard<std::mutex> lock(mutex_);
  ++status_.messages_in;
}

bool StreamConsumer::flush() {
  if (batch_.empty()) return true;
  if (!pg_ || !pg_->is_open()) {  // e.g. a revocation while PostgreSQL is down: read again later
    batch_.clear();
    need_resync_ = true;
    return false;
  }
  bool ok = store_range(0, batch_.size(), 0);
  if (ok) {
    commit_to_kafka();
    reset_backoff();
    set_state("running", "");
  } else {
    need_resync_ = true;  // the batch is dropped; it is read again from the stored offsets
  }
  batch_.clear();
  return ok;
}

// Stores messages [first, last) in one transaction with their offsets. A batch PostgreSQL
// cannot take as jsonb is halved (messages stay whole) until the message at fault is alone,
// which is then stored as a rejected message with PostgreSQL's reason.
bool StreamConsumer::store_range(size_t first, size_t last, int depth) {
  if (first >= last) return true;
  try {
    pqxx::work tx(*pg_);
    auto r = tx.exec_params("SELECT fstore._stream_store($1, $2, $3::jsonb, $4::jsonb)::text", source_.name,
                            source_.topic, batch_text(batch_, first, last), watermarks_json());
    tx.commit();
    auto counts = nlohmann::json::parse(r[0][0].c_str());
    std::lock_guard<std::mutex> lock(mutex_);
    status_.rows_loaded += counts.value("loaded", 0ull);
    status_.rejected += counts.value("rejected", 0ull);
    status_.skipped += counts.value("skipped", 0ull);
    ++status_.batches;
    for (size_t i = first; i < last; ++i)
      for (auto& p : status_.partitions)
        if (p.partition == batch_[i].partition) p.next_offset = std::max(p.next_offset, batch_[i].offset + 1);
    return true;
  } catch (const pqxx::sql_error& e) {
    std::string state = e.sqlstate();
    if (is_batch_input_error(state) && depth < 64) {
      if (last - first > 1) {
        size_t mid = first + (last - first) / 2;
        return store_range(first, mid, depth + 1) && store_range(mid, last, depth + 1);
      }
      EncodedMessage& m = batch_[first];
      std::string raw = m.entries.empty() ? "" : m.entries.front();
      m.entries = {error_entry(m.partition, m.offset, raw, "PostgreSQL cannot store the message: " + first_line(e.what()), state)};
      return store_range(first, last, 64);  // once more, as a rejected message; never split again
    }
    set_state("error", "storing a batch into " + source_.view + " failed: " + state + " " + first_line(e.what()));
    return false;
  } catch (const std::exception& e) {  // broken connection, commit in doubt: PostgreSQL's offsets decide
    pg_.reset();
    set_state("retrying", "PostgreSQL connection lost while storing a batch: " + first_line(e.what()));
    return false;
  }
}

// Kafka's committed offsets follow PostgreSQL's, asynchronously, for tools that read them; fstore
// never reads them back.
void StreamConsumer::commit_to_kafka() {
  std::map<int32_t, int64_t> next;
  for (const auto& m : batch_) next[m.partition] = std::max(next[m.partition], m.offset + 1);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(next.size()));
  for (const auto& [p, o] : next) rd_kafka_topic_partition_list_add(list, source_.topic.c_str(), p)->offset = o;
  rd_kafka_commit(rk_, list, 1);
  rd_kafka_topic_partition_list_destroy(list);
}

// {"partition": high watermark} of the assigned partitions, from librdkafka's cache (no request).
std::string StreamConsumer::watermarks_json() {
  nlohmann::json w = nlohmann::json::object();
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& p : status_.partitions) {
    int64_t lo = -1, hi = -1;
    if (rk_ && rd_kafka_get_watermark_offsets(rk_, source_.topic.c_str(), p.partition, &lo, &hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        hi >= 0) {
      p.high_watermark = hi;
      w[std::to_string(p.partition)] = hi;
    }
  }
  return w.dump();
}

// Writes state, last error and watermarks to fstore.stream_status on change or every 2 s.
void StreamConsumer::report(bool force) {
  auto now = clock_type::now();
  std::string state, error;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    state = status_.state;
    error = status_.last_error;
  }
  bool changed = state != reported_state_ || error != reported_error_;
  if (!force && !changed && now - last_report_ < kReportEvery) return;
  if (!pg_ || !pg_->is_open()) return;
  try {
    std::string marks = watermarks_json();
    pqxx::work tx(*pg_);
    tx.exec_params("SELECT fstore._stream_report($1, $2, $3, $4, $5::jsonb)", source_.name, state,
                   error.empty() ? std::optional<std::string>() : std::optional<std::string>(error), reporter_, marks);
    tx.commit();
    reported_state_ = state;
    reported_error_ = error;
    last_report_ = now;
  } catch (const pqxx::sql_error& e) {
    last_report_ = now;
    log_warn("stream source " + source_.name + ": cannot report its state: " + first_line(e.what()));
  } catch (const std::exception&) {
    pg_.reset();
  }
}

}  // namespace fstore::stream
