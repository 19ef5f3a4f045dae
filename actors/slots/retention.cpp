// retention.cpp: segment removal and slot invalidation (retention.hpp).
#include "actors/slots/retention.hpp"

#include "common/log.hpp"
#include "protocol/pgoutput.hpp"
#include "storage/retention.hpp"
#include "storage/wal_reader.hpp"

#include <map>
#include <mutex>

namespace walmux::actors {
namespace {

// Folds the Relation and Type messages stored in [START, end) into the
// snapshot `snap`, newest definition per relation and per type.
status fold_definitions(const storage::wal_store& store, uint64_t end,
                        storage::relation_snapshot& snap) {
  std::map<std::pair<char, uint32_t>, std::pair<lsn, std::string>> latest;
  const pgoutput::decode_context plain{};
  auto note = [&](lsn at, std::string_view bytes) -> status {
    auto info = pgoutput::scan(bytes, plain);
    if (!info)
      return std::move(info).err();
    latest[{static_cast<char>(info->type), info->relation_oid}] = {
        at, std::string(bytes)};
    return ok();
  };
  for (const auto& [at, bytes] : snap.messages)
    if (auto st = note(at, bytes); !st)
      return st;
  storage::wal_reader reader(store, store.start_position());
  storage::transaction_view txn;
  while (reader.position() < end) {
    auto more = reader.next_view(txn);
    if (!more)
      return std::move(more).err();
    if (!*more)
      break;
    for (const auto& m : txn.messages) {
      auto k = pgoutput::peek_kind(m.bytes);
      if (!k)
        return std::move(k).err();
      if (*k == pgoutput::kind::relation || *k == pgoutput::kind::type)
        if (auto st = note(m.data_start, m.bytes); !st)
          return st;
    }
  }
  snap.messages.clear();
  // Types first, so that a learner has them before the Relations using them.
  for (char kind : {'Y', 'R'})
    for (auto& [key, value] : latest)
      if (key.first == kind)
        snap.messages.push_back(std::move(value));
  snap.position = end;
  return ok();
}

} // namespace

expected<uint64_t> run_retention(retention_env& env) {
  auto& store = *env.store;
  std::vector<storage::slot_retention> needs;
  for (const auto& v : env.slots->list())
    needs.push_back({v.record.name,
                     store.scan_start_for(v.record.confirmed_flush),
                     !v.record.invalidation_reason.empty()});
  const uint64_t durable = store.durable_position();
  const int64_t keep_mb = env.max_slot_wal_keep_size_mb.load();
  auto plan =
      storage::plan_retention(needs, store.start_position(), durable, keep_mb);
  for (const auto& name : plan.invalidate) {
    log_message(elevel::log,
                "invalidating obsolete replication slot \"" + name +
                    "\": it needs more than max_slot_wal_keep_size = " +
                    std::to_string(keep_mb) + "MB of WAL");
    env.slots->invalidate(name, "wal_removed");
  }
  const uint64_t segment = store.segment_size();
  const uint64_t first_kept = plan.remove_before / segment;
  const uint64_t first_now = store.start_position() / segment;
  if (first_kept <= first_now || plan.remove_before > durable)
    return uint64_t{0};

  std::unique_lock exclusive(*env.store_start_lock);
  auto old = env.catalog->read_relation_snapshot();
  if (!old)
    return std::move(old).err();
  storage::relation_snapshot snap = old->value_or(storage::relation_snapshot{});
  if (auto st = fold_definitions(store, plan.remove_before, snap); !st)
    return std::move(st).err();
  storage::catalog_batch batch;
  batch.put_relation_snapshot(snap);
  if (auto st = env.catalog->apply(batch, true); !st)
    return std::move(st).err();
  if (auto st = store.remove_before(plan.remove_before); !st)
    return std::move(st).err();
  log_message(elevel::log, "removed " + std::to_string(first_kept - first_now) +
                               " WAL segment(s) no slot needs any more");
  return first_kept - first_now;
}

} // namespace walmux::actors
