#include "support/kafka.hpp"

#include "support/stack.hpp"

#include <librdkafka/rdkafka.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>

namespace fstore::testing {

namespace {

// One line from `f` without its newline; throws at end of input.
std::string read_line(FILE* f) {
  std::string line;
  int c;
  while ((c = std::fgetc(f)) != EOF && c != '\n') line += static_cast<char>(c);
  if (c == EOF && line.empty()) throw std::runtime_error("kafka_mock_cluster exited");
  return line;
}

extern "C" void delivery_report(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  static_cast<KafkaProducer*>(opaque)->delivered(m->err == RD_KAFKA_RESP_ERR_NO_ERROR);
}

}  // namespace

MockKafka::MockKafka(int brokers) {
  int to_child[2], from_child[2];
  if (pipe(to_child) != 0 || pipe(from_child) != 0) throw std::runtime_error("pipe failed");
  std::string binary = build_dir() + "/kafka_mock_cluster";
  std::string count = std::to_string(brokers);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    dup2(to_child[0], 0);
    dup2(from_child[1], 1);
    close(to_child[1]);
    close(from_child[0]);
    execl(binary.c_str(), binary.c_str(), "--brokers", count.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  to_ = fdopen(to_child[1], "w");
  from_ = fdopen(from_child[0], "r");
  std::string first = read_line(from_);
  if (first.rfind("bootstrap ", 0) != 0) throw std::runtime_error("kafka_mock_cluster said: " + first);
  bootstrap_ = first.substr(10);
}

MockKafka::~MockKafka() {
  if (to_) std::fclose(to_);  // end of input: the harness stops
  if (from_) std::fclose(from_);
  if (pid_ > 0) {
    for (int i = 0; i < 50; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void MockKafka::command(const std::string& line) {
  std::fprintf(to_, "%s\n", line.c_str());
  std::fflush(to_);
  std::string answer = read_line(from_);
  if (answer != "ok") throw std::runtime_error("kafka_mock_cluster: " + line + ": " + answer);
}

void MockKafka::create_topic(const std::string& topic, int partitions) {
  command("create " + topic + " " + std::to_string(partitions));
}
void MockKafka::broker_down(int id) { command("down " + std::to_string(id)); }
void MockKafka::broker_up(int id) { command("up " + std::to_string(id)); }
void MockKafka::hide_topic(const std::string& topic) { command("hide " + topic); }
void MockKafka::show_topic(const std::string& topic) { command("show " + topic); }

KafkaProducer::KafkaProducer(const std::string& bootstrap) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (auto [k, v] : {std::pair<const char*, const char*>{"bootstrap.servers", bootstrap.c_str()},
                      {"enable.idempotence", "true"}, {"linger.ms", "5"}, {"log_level", "2"}})
    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
      throw std::runtime_error(std::string("producer setting ") + k + ": " + errstr);
  rd_kafka_conf_set_opaque(conf, this);
  rd_kafka_conf_set_dr_msg_cb(conf, delivery_report);
  rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk_) throw std::runtime_error(std::string("producer: ") + errstr);
}

KafkaProducer::~KafkaProducer() {
  if (rk_) {
    rd_kafka_flush(rk_, 10000);
    rd_kafka_destroy(rk_);
  }
}

void KafkaProducer::produce(const std::string& topic, int32_t partition, const std::string& payload) {
  for (;;) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) throw std::runtime_error(std::string("produce: ") + rd_kafka_err2str(err));
    rd_kafka_poll(rk_, 10);
  }
}

void KafkaProducer::flush() {
  rd_kafka_resp_err_t err = rd_kafka_flush(rk_, 120000);
  if (err) throw std::runtime_error(std::string("flush: ") + rd_kafka_err2str(err));
  if (failed_ > 0) throw std::runtime_error(std::to_string(failed_.load()) + " messages were not delivered");
}

}  // namespace fstore::testing
