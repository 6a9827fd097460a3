// stream_produce: produces COUNT JSON messages, round-robin over PARTITIONS, to TOPIC at
// BOOTSTRAP, as fast as the producer goes, and waits for every delivery. Message seq is
// {"card_id": "c<seq % 97>", "event_ts": "2024-05-01T00:00:00Z", "seq": seq, "amount": seq.5,
// "n": seq % 1000}: bench/stream_bench.sh builds the same rows for COPY and POST /ingest.
//   stream_produce BOOTSTRAP TOPIC PARTITIONS COUNT
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc != 5) return std::fprintf(stderr, "usage: stream_produce BOOTSTRAP TOPIC PARTITIONS COUNT\n"), 2;
  const char* topic = argv[2];
  int partitions = std::atoi(argv[3]);
  long count = std::atol(argv[4]);
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (auto [k, v] : {std::pair<const char*, const char*>{"bootstrap.servers", argv[1]}, {"enable.idempotence", "true"},
                      {"linger.ms", "20"}, {"batch.num.messages", "10000"}, {"queue.buffering.max.messages", "1000000"}})
    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
      return std::fprintf(stderr, "%s: %s\n", k, errstr), 1;
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) return std::fprintf(stderr, "%s\n", errstr), 1;
  auto start = std::chrono::steady_clock::now();
  for (long seq = 0; seq < count; ++seq) {
    std::string m = "{\"card_id\": \"c" + std::to_string(seq % 97) + "\", \"event_ts\": \"2024-05-01T00:00:00Z\", \"seq\": " +
                    std::to_string(seq) + ", \"amount\": " + std::to_string(seq) + ".5, \"n\": " + std::to_string(seq % 1000) + "}";
    for (;;) {
      rd_kafka_resp_err_t err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(static_cast<int32_t>(seq % partitions)),
                                                  RD_KAFKA_V_VALUE(m.data(), m.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (!err) break;
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) return std::fprintf(stderr, "produce: %s\n", rd_kafka_err2str(err)), 1;
      rd_kafka_poll(rk, 10);
    }
  }
  if (rd_kafka_flush(rk, 300000)) return std::fprintf(stderr, "flush timed out\n"), 1;
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("produced %ld messages in %.2f s\n", count, s);
  rd_kafka_destroy(rk);
  return 0;
}
