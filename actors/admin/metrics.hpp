// metrics.hpp: the node's figures for Prometheus: a text exposition
// (render_metrics) and a small HTTP endpoint serving it (metrics_server,
// `metrics_port`, off when 0).
//
// Families (all gauges unless _total; labels in braces):
//   walmux_slot_lag_bytes{slot}             upstream position -
//   confirmed_flush_lsn walmux_slot_lag_seconds{slot}           active slots:
//   time since the client's
//                                           flush position last reached what
//                                           was sent
//   walmux_slot_active{slot}                1 while a walsender streams it
//   walmux_wal_cache_hits_total{slot}, walmux_wal_cache_misses_total{slot},
//   walmux_wal_cache_blocks_read_total{slot}
//   walmux_walsender_sent_bytes_total{slot,pid},
//   walmux_walsender_sent_messages_total{slot,pid}
//   walmux_connections{kind="replication"|"sql"}
//   walmux_upstream_streaming               1 while the source streams
//   walmux_upstream_receive_lag_bytes       upstream walEnd - durable position
//   walmux_store_bytes, walmux_store_segments
//
// The endpoint runs its own libuv loop thread; each request renders the
// state of its moment (a few mutex-guarded copies, no I/O).
#pragma once

#include "actors/walsender/walsender.hpp"
#include "common/expected.hpp"

#include <functional>
#include <memory>
#include <string>

namespace walmux::actors::admin {

std::string render_metrics(walsender_env& env);

class metrics_server {
 public:
  // Serves GET /metrics with `render()`'s text on address:port.
  static expected<std::unique_ptr<metrics_server>>
  start(const std::string& address, int port,
        std::function<std::string()> render);
  ~metrics_server(); // stops and joins

 private:
  struct impl;
  explicit metrics_server(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace walmux::actors::admin
