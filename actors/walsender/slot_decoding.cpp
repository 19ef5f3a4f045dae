// slot_decoding.cpp: see slot_decoding.hpp.
#include "actors/walsender/slot_decoding.hpp"

#include "actors/source/source.hpp"
#include "actors/walsender/slot_commands.hpp"
#include "actors/walsender/upstream_lookup.hpp"
#include "protocol/pg_text.hpp"
#include "storage/wal_reader.hpp"

#include <algorithm>
#include <shared_mutex>

namespace walmux::actors {

error slot_invalidated(const std::string& slot) {
  return error{"55000", "can no longer get changes from replication slot \"" +
                            slot + "\""}
      .with_detail("This slot has been invalidated because it exceeded the "
                   "maximum reserved size.");
}

expected<std::unique_ptr<decoder>>
open_slot_decoder(walsender_env& env, const storage::slot_record& slot,
                  lsn start_point, const std::vector<repl::option>& options,
                  upstream_lookup* lookup, uint64_t& restart) {
  decoder_params p;
  p.plugin = slot.plugin;
  p.start_point = start_point;
  p.options = options;
  p.max_proto_version =
      pgoutput_version_for(env.upstream->server_version_num());
  p.upstream_publications = env.upstream_publications;
  p.lookup = lookup;
  auto dec = decoder::create(std::move(p));
  if (!dec)
    return std::move(dec).err().with_context(
        "slot \"" + slot.name + "\", output plugin \"" + slot.plugin +
        "\", in the startup callback");
  // The relation definitions stored before the start point: the retention
  // snapshot, then the store from START up to the slot's restart position.
  restart = env.store->scan_start_for((*dec)->start_point());
  auto snap = env.catalog->read_relation_snapshot();
  if (!snap)
    return std::move(snap).err();
  if (*snap) {
    storage::transaction_view known;
    for (const auto& [at, b] : (*snap)->messages)
      known.messages.push_back({at, b});
    if (auto l = (*dec)->learn(known); !l)
      return std::move(l).err();
  }
  storage::wal_reader prescan(*env.store, env.store->start_position());
  storage::transaction_view txn;
  while (prescan.position() < restart) {
    auto more = prescan.next_view(txn);
    if (!more)
      return std::move(more).err();
    if (!*more)
      break;
    if (auto l = (*dec)->learn(txn); !l)
      return std::move(l).err();
  }
  return dec;
}

namespace {

// A slot acquired for one SQL call, released when the call ends.
class acquired_slot {
 public:
  acquired_slot(walsender_env& env, int pid)
      : env_(env)
      , pid_(pid) {}
  ~acquired_slot() {
    if (!name_.empty())
      env_.slots->release(name_, pid_);
  }
  expected<storage::slot_record> acquire(const std::string& name,
                                         const std::string& database) {
    auto slot = env_.slots->acquire(name, pid_);
    if (!slot)
      return std::move(slot).err();
    name_ = name;
    if (slot->database != database)
      return error{"55000", "replication slot \"" + name +
                                "\" was not created in this database"};
    if (!slot->invalidation_reason.empty())
      return slot_invalidated(name);
    return slot;
  }

 private:
  walsender_env& env_;
  int pid_;
  std::string name_;
};

// pgoutput writes binary data; wal2json text.
bool binary_plugin(const std::string& plugin) {
  return plugin == "pgoutput";
}

std::string bytea_text(std::string_view bytes) {
  std::string out = "\\x";
  pgtext::append_hex(out, bytes);
  return out;
}

} // namespace

expected<std::vector<slot_change>>
slot_changes(walsender_env& env, int pid, const std::string& database,
             const slot_changes_request& request, size_t max_bytes) {
  acquired_slot held(env, pid);
  auto slot = held.acquire(request.slot, database);
  if (!slot)
    return std::move(slot).err();
  pq_upstream_lookup lookup(env.upstream_conninfo, false);
  std::shared_lock no_removal(*env.store_start_lock);
  uint64_t restart = 0;
  auto dec = open_slot_decoder(env, *slot, slot->confirmed_flush,
                               request.options, &lookup, restart);
  if (!dec)
    return std::move(dec).err();
  // After the plugin's startup, as PostgreSQL checks it.
  if (!request.binary && binary_plugin(slot->plugin))
    return error{sqlstate::feature_not_supported,
                 "logical decoding output plugin \"" + slot->plugin +
                     "\" produces binary output, but function \"" +
                     request.function_signature + "\" expects textual data"};
  storage::wal_reader reader(
      *env.store, std::max(restart, env.store->start_position()), 256 << 10,
      nullptr, static_cast<size_t>(env.transaction_piece_bytes.load()));
  no_removal.unlock();

  std::vector<slot_change> rows;
  std::vector<decoder::output> out;
  storage::transaction_view txn;
  size_t bytes = 0;
  std::optional<lsn> read_end; // end of the last whole transaction read
  while (true) {
    auto more = reader.next_view(txn);
    if (!more)
      return std::move(more).err();
    if (!*more)
      break; // the end of what the node has stored
    if (txn.first_piece && request.upto_lsn &&
        txn.commit.commit_lsn >= *request.upto_lsn)
      break;
    out.clear();
    if (auto st = (*dec)->feed(txn, out); !st)
      return std::move(st).err();
    const bool transactional =
        (txn.commit.flags & storage::commit_flag_non_transactional) == 0;
    // A message the plugin wrote ahead of another (a Relation before its
    // change) goes over the replication protocol without an LSN, as
    // PostgreSQL's walsender sends it; the SQL functions show the LSN it
    // was written under, the following message's.
    lsn following;
    for (auto o = out.rbegin(); o != out.rend(); ++o) {
      if (o->data_start.valid())
        following = o->data_start;
      else
        o->data_start = following;
    }
    for (auto& o : out) {
      bytes += o.payload.size();
      if (bytes > max_bytes)
        return error{sqlstate::program_limit_exceeded,
                     "the changes of replication slot \"" + request.slot +
                         "\" exceed the node's result limit"}
            .with_hint("Use upto_nchanges or upto_lsn to read them in parts.");
      rows.push_back(
          {o.data_start, transactional ? txn.commit.xid : 0,
           request.binary ? bytea_text(o.payload) : std::move(o.payload)});
    }
    if (!txn.last_piece)
      continue;
    // A non-transactional message is stored at its own LSN (its end is not
    // known); PostgreSQL confirms past its record, and so does this.
    read_end = transactional ? txn.commit.end_lsn
                             : lsn{std::max(txn.commit.end_lsn.value,
                                            txn.commit.commit_lsn.value + 1)};
    if (request.upto_nchanges != 0 &&
        static_cast<int64_t>(rows.size()) >= request.upto_nchanges)
      break;
    if (request.upto_lsn && *request.upto_lsn <= txn.commit.end_lsn)
      break;
  }
  if (request.confirm && read_end && *read_end > slot->confirmed_flush) {
    // Saved now, as PostgreSQL saves a slot its SQL functions moved: a
    // caller cannot give a start position of its own next time.
    env.slots->confirm(request.slot, *read_end);
    if (auto st = env.slots->persist(true); !st)
      return std::move(st).err();
  }
  return rows;
}

expected<lsn> advance_slot(walsender_env& env, int pid,
                           const std::string& database,
                           const std::string& slot_name, lsn upto) {
  if (!upto.valid())
    return error{sqlstate::invalid_parameter_value, "invalid target WAL LSN"};
  acquired_slot held(env, pid);
  auto slot = held.acquire(slot_name, database);
  if (!slot)
    return std::move(slot).err();
  const lsn moveto = std::min(upto, creation_point(env));
  if (moveto < slot->confirmed_flush)
    return error{sqlstate::invalid_parameter_value,
                 "cannot advance replication slot to " + lsn_to_string(moveto) +
                     ", minimum is " + lsn_to_string(slot->confirmed_flush)};
  env.slots->confirm(slot_name, moveto);
  if (auto st = env.slots->persist(true); !st)
    return std::move(st).err();
  return moveto;
}

} // namespace walmux::actors
