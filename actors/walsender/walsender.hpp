// walsender.hpp: the walsender role: one detached actor per downstream
// connection, speaking PostgreSQL's replication protocol as a publisher
// (see shared/notes/protocol.md for each obligation).
//
// Startup: SSLRequest is answered 'S' and TLS follows when ssl = on
// (tls_channel.hpp), else 'N'; GSSENCRequest is refused with 'N';
// replication=database connections are walsenders, connections without
// replication are handed to the admin role (actors/admin/admin_session.hpp)
// after startup, physical replication is refused; clients authenticate by
// pg_hba.conf rules (client_auth.hpp); max_wal_senders, max_connections (SQL
// sessions) and rds.logical_replication are enforced with PostgreSQL's texts.
// The ParameterStatus set is PostgreSQL 15's, with the upstream's
// server_version, because clients choose their queries by it and walmux answers
// their catalog queries from the upstream.
//
// Commands: IDENTIFY_SYSTEM, CREATE/DROP/READ_REPLICATION_SLOT,
// START_REPLICATION ... LOGICAL, SHOW; the set_config that every client
// sends is answered here; the other SQL of subscribers (catalog queries,
// the table copy) runs on the upstream through the strict proxy of
// walsender_proxy.cpp.
//
// Streaming: the actor's decoder walks the slot's stored stream; each pump
// step sends what the link has room for (wal_sender_buffer_size), so a
// client that does not read stops only its own walsender. Keepalives
// advertise only positions up to which everything has been sent; standby
// status updates move the slot's confirmed_flush_lsn.
#pragma once

#include "actors/slots/slot_manager.hpp"
#include "actors/slots/slot_stats.hpp"
#include "actors/source/upstream_state.hpp"
#include "actors/system/settings_holder.hpp"
#include "actors/wal_cache/wal_cache.hpp"
#include "actors/walsender/client_auth.hpp"
#include "actors/walsender/listener.hpp"
#include "actors/walsender/sender_registry.hpp"
#include "storage/catalog.hpp"
#include "storage/wal_store.hpp"

#include <atomic>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

namespace walmux::actors {
namespace apply {
class subscription_manager;
}

// What every walsender shares; REQUIRES: outlives every walsender.
struct walsender_env {
  slot_manager* slots = nullptr;
  const storage::wal_store* store = nullptr;
  storage::catalog* catalog = nullptr;           // the relation snapshot
  std::shared_mutex* store_start_lock = nullptr; // shared while learning
  wal_cache* cache = nullptr;
  upstream_state* upstream = nullptr;
  uint64_t system_identifier = 0;
  int64_t started_at_unix_us = 0; // pg_postmaster_start_time()
  std::string upstream_conninfo;
  std::vector<std::string> upstream_publications;
  bool logical_replication = false;
  int max_wal_senders = 0;
  int max_connections = 100; // SQL sessions
  std::atomic<int> active_senders{0};
  std::atomic<int> admin_sessions{0};
  // Reloadable (SIGHUP): read at each use.
  std::atomic<int64_t> wal_sender_timeout_ms{60000};
  std::atomic<int64_t> authentication_timeout_s{60};
  std::atomic<int64_t> send_buffer_bytes{1 << 20};
  // A quarter of logical_decoding_work_mem: the reader's piece of a large
  // transaction, read when a stream starts.
  std::atomic<int64_t> transaction_piece_bytes{16 << 20};
  std::atomic<int> next_pid{0};
  // pg_hba.conf rules, secrets, TLS certificate (reloadable).
  auth_config_holder auth;
  settings_holder settings;   // SHOW and the admin catalog
  sender_registry senders;    // pg_stat_replication
  activity_registry activity; // pg_stat_activity
  slot_stats slot_counts;     // pg_stat_replication_slots
  apply::subscription_manager* subscriptions = nullptr; // the apply role
};

caf::actor spawn_walsender(caf::actor_system& system, walsender_env& env,
                           std::shared_ptr<connection_link> link);

} // namespace walmux::actors
