// PLACEHOLDER until the sync worker lands (issue 5): keeps the server linkable; syncs nothing.
#include "sync/sync_worker.hpp"

namespace fstore::sync {

struct SyncWorker::Impl {
  SyncOptions options;
};

SyncWorker::SyncWorker(SyncOptions options) : impl_(std::make_unique<Impl>(Impl{std::move(options)})) {}
SyncWorker::~SyncWorker() = default;
void SyncWorker::start() {}
void SyncWorker::stop() {}
SyncStatus SyncWorker::status() const { return SyncStatus{}; }

}  // namespace fstore::sync
