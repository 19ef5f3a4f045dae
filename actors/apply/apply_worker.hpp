// apply_worker.hpp: one subscription's apply worker: walmux as a
// subscriber of a PostgreSQL publisher or a walmux node.
//
// Life: (1) until the initial copy is done, create the slot and copy the
// tables at its consistent point (initial_copy.hpp), which then becomes the
// target's progress; (2) stream from the target's committed progress with
// pgoutput and apply each transaction through the target session
// (target_session.hpp), grouping small transactions into one target
// transaction: a group closes when the socket has nothing more to read,
// at 5000 transactions, at 8MB of values or after 200ms, and never inside
// an upstream transaction. After a failure the transactions up to the
// failing one are applied one per target transaction, so that those before
// it commit while it is retried.
//
// Large transactions (streaming = on): the publisher streams them before
// they commit; their blocks are kept in files (stream_spool.hpp) and the
// transaction is applied at its Stream Commit like any other.
//
// Exactly once: a transaction whose commit LSN is below the target's
// committed progress was applied before and is passed over; the source is
// told flush = only progress the target has flushed, so its slot never
// moves past what the target holds.
//
// Errors: the failing change is logged with PostgreSQL's context
// (message type, relation, transaction, "finished at" LSN for SKIP),
// counted in pg_stat_subscription_stats, and the worker starts over
// after a backoff (1 s doubling to 30 s) from the target's progress, or,
// with disable_on_error, disables the subscription. ALTER SUBSCRIPTION ...
// SKIP (lsn = X) passes over the transaction that finishes at X once.
//
// Reading: while the stream is busy the worker waits 100ms after a step
// before it reads again, so that the publisher's walsender writes large
// batches instead of one send per message (it spent up to 1.7x the CPU on
// an eager reader in tools/bench/apply.sh, and it is the bound on apply
// speed); a quiet stream is read at once, for latency
// (tools/bench/apply_lag.sh).
//
// A detached actor: libpq blocks only its own thread; each step waits at
// most 100ms for data, so a stop request is seen within one step (or
// between rows of the initial copy).
#pragma once

#include "actors/apply/subscription_manager.hpp"

#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

namespace walmux::actors::apply {

caf::actor spawn_apply_worker(caf::actor_system& system,
                              subscription_manager& manager, std::string name,
                              std::shared_ptr<worker_control> control);

} // namespace walmux::actors::apply
