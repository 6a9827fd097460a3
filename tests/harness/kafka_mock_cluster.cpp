// kafka_mock_cluster: a Kafka cluster for tests, from librdkafka's mock cluster (rdkafka_mock.h):
// in-process brokers that speak the real Kafka protocol over TCP on loopback, with consumer
// groups and offsets. Prints "bootstrap HOST:PORT,..." on its first line, then reads commands
// on stdin, one per line, answering "ok" or "error <why>" to each:
//   create TOPIC PARTITIONS     create a topic (replication factor: every broker, up to 3)
//   down BROKER_ID | up BROKER_ID   take a broker (1..N) off the network and back
//   hide TOPIC | show TOPIC     answer metadata requests for TOPIC with "unknown topic" and back
//                               (the mock creates topics clients ask for: this is how a topic
//                               is missing)
//   quit                        stop (end of input does too, so a dead test never leaves it behind)
// Usage: kafka_mock_cluster [--brokers N] [--topic NAME:PARTITIONS]...
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

// Creates `spec` ("name:partitions"); prints nothing, returns the error text or "".
std::string create_topic(rd_kafka_mock_cluster_t* mc, const std::string& name, int partitions, int brokers) {
  if (name.empty() || partitions < 1 || partitions > 10000) return "bad topic or partition count";
  rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, name.c_str(), partitions, brokers < 3 ? brokers : 3);
  return err ? rd_kafka_err2str(err) : "";
}

// One command line; the answer line.
std::string run_command(rd_kafka_mock_cluster_t* mc, const std::string& line, int brokers, bool& quit) {
  std::istringstream in(line);
  std::string cmd;
  in >> cmd;
  if (cmd == "quit") {
    quit = true;
    return "ok";
  }
  if (cmd == "create") {
    std::string topic;
    int partitions = 0;
    in >> topic >> partitions;
    std::string err = create_topic(mc, topic, partitions, brokers);
    return err.empty() ? "ok" : "error " + err;
  }
  if (cmd == "down" || cmd == "up") {
    int id = 0;
    in >> id;
    if (id < 1 || id > brokers) return "error no broker " + std::to_string(id);
    rd_kafka_resp_err_t err = cmd == "down" ? rd_kafka_mock_broker_set_down(mc, id) : rd_kafka_mock_broker_set_up(mc, id);
    return err ? std::string("error ") + rd_kafka_err2str(err) : "ok";
  }
  if (cmd == "hide" || cmd == "show") {
    std::string topic;
    in >> topic;
    if (topic.empty()) return "error hide/show TOPIC";
    rd_kafka_mock_topic_set_error(mc, topic.c_str(),
                                  cmd == "hide" ? RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART : RD_KAFKA_RESP_ERR_NO_ERROR);
    return "ok";
  }
  return "error unknown command '" + cmd + "' (create TOPIC N, down ID, up ID, hide TOPIC, show TOPIC, quit)";
}

}  // namespace

int main(int argc, char** argv) {
  int brokers = 3;
  std::vector<std::pair<std::string, int>> topics;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--brokers" && i + 1 < argc) {
      brokers = std::atoi(argv[++i]);
    } else if (a == "--topic" && i + 1 < argc) {
      std::string spec = argv[++i];
      size_t colon = spec.rfind(':');
      if (colon == std::string::npos) return std::fprintf(stderr, "--topic NAME:PARTITIONS\n"), 2;
      topics.emplace_back(spec.substr(0, colon), std::atoi(spec.c_str() + colon + 1));
    } else {
      std::fprintf(stderr, "usage: kafka_mock_cluster [--brokers N] [--topic NAME:PARTITIONS]...\n");
      return 2;
    }
  }
  if (brokers < 1 || brokers > 16) return std::fprintf(stderr, "--brokers: 1 to 16\n"), 2;

  // The mock cluster lives in a (producer) handle of its own, as librdkafka's tests make it.
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "client.id", "fstore-mock-cluster", errstr, sizeof errstr);
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) return std::fprintf(stderr, "kafka_mock_cluster: %s\n", errstr), 1;
  rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (!mc) return std::fprintf(stderr, "kafka_mock_cluster: cannot start the mock cluster\n"), 1;
  for (const auto& [name, partitions] : topics) {
    std::string err = create_topic(mc, name, partitions, brokers);
    if (!err.empty()) return std::fprintf(stderr, "kafka_mock_cluster: topic %s: %s\n", name.c_str(), err.c_str()), 1;
  }
  std::cout << "bootstrap " << rd_kafka_mock_cluster_bootstraps(mc) << std::endl;

  std::string line;
  bool quit = false;
  while (!quit && std::getline(std::cin, line)) {
    if (line.empty()) continue;
    std::cout << run_command(mc, line, brokers, quit) << std::endl;
  }
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}
