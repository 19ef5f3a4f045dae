// source.hpp: the source role: walmux's one replication connection to the
// upstream PostgreSQL.
//
// On first start it creates its upstream slot (pgoutput, SNAPSHOT
// 'nothing'), named walmux_<system identifier>, and records it in the
// catalog; a slot of that name that already exists is walmux's own (a crash
// between creating and recording it) and is adopted. It streams with the
// highest pgoutput protocol version the upstream offers, the publications
// of upstream_publications and messages 'true', hands every transaction to
// its store writer thread (store_writer.hpp: group commit off the reading
// thread), and reports upstream flush = what is durable, at most ten times a
// second, so the upstream slot retains nothing for walmux's downstream lag.
//
// Restart: it resumes after the last stored transaction's end LSN, and
// drops any transaction the upstream sends again that ends at or before it:
// nothing is stored twice or lost. Lost connections are retried with
// backoff (1 s doubling to 30 s).
//
// The source is a detached actor: libpq calls block its own thread only;
// its store writer is the WAL store's only writer.
#pragma once

#include "actors/source/upstream_state.hpp"
#include "storage/catalog.hpp"
#include "storage/wal_store.hpp"

#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

namespace walmux::actors {

struct source_config {
  std::string conninfo;                  // upstream_conninfo
  std::vector<std::string> publications; // upstream_publications
  uint64_t system_identifier = 0;
};

// REQUIRES: store, catalog and state outlive the actor.
caf::actor spawn_source(caf::actor_system& system, source_config config,
                        storage::wal_store& store, storage::catalog& catalog,
                        upstream_state& state);

// The highest pgoutput protocol version a server version number offers.
int pgoutput_version_for(int server_version_num);

} // namespace walmux::actors
