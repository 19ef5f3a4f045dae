// metrics.cpp: Prometheus text exposition and its HTTP endpoint
// (metrics.hpp).
#include "actors/admin/metrics.hpp"

#include "actors/apply/subscription_manager.hpp"
#include "actors/common/clock.hpp"
#include "actors/walsender/slot_commands.hpp"

#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include <uv.h>

namespace walmux::actors::admin {
namespace {

// Label values escape backslash, double quote and newline.
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

class exposition {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name +
            " " + type + "\n";
  }
  void sample(const std::string& name, const std::string& labels,
              double value) {
    char v[64];
    std::snprintf(v, sizeof v, "%.17g", value);
    out_ += name + (labels.empty() ? "" : "{" + labels + "}") + " " + v + "\n";
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

} // namespace

std::string render_metrics(walsender_env& env) {
  exposition e;
  const auto slots = env.slots->list();
  const auto senders = env.senders.list();
  const uint64_t head = creation_point(env).value;
  const int64_t now = unix_micros_now();
  std::map<std::string, const sender_status*> by_slot;
  for (const auto& s : senders)
    if (!s.slot.empty())
      by_slot[s.slot] = &s;

  e.family("walmux_slot_lag_bytes", "gauge",
           "Upstream WAL the slot's consumer has not confirmed, in bytes.");
  for (const auto& v : slots) {
    const uint64_t flushed = v.record.confirmed_flush.value;
    e.sample("walmux_slot_lag_bytes", "slot=\"" + label(v.record.name) + "\"",
             static_cast<double>(head > flushed ? head - flushed : 0));
  }
  e.family("walmux_slot_lag_seconds", "gauge",
           "Seconds since the active slot's client last confirmed all it "
           "had been sent.");
  for (const auto& [slot, s] : by_slot) {
    const int64_t since = s->caught_up_at ? s->caught_up_at : s->backend_start;
    const bool current = s->flush >= s->sent;
    e.sample("walmux_slot_lag_seconds", "slot=\"" + label(slot) + "\"",
             current ? 0.0 : static_cast<double>(now - since) / 1e6);
  }
  e.family("walmux_slot_active", "gauge",
           "1 while a walsender streams the slot.");
  for (const auto& v : slots)
    e.sample("walmux_slot_active", "slot=\"" + label(v.record.name) + "\"",
             v.active_pid != 0 ? 1 : 0);

  const std::tuple<const char*, const char*, uint64_t slot_counts::*>
      decoded[] = {
          {"walmux_slot_decoded_transactions_total",
           "Transactions decoded for the slot's clients (total_txns).",
           &slot_counts::total_txns},
          {"walmux_slot_decoded_bytes_total",
           "Bytes decoded for the slot's clients (total_bytes).",
           &slot_counts::total_bytes},
          {"walmux_slot_spilled_transactions_total",
           "Transactions read for the slot in pieces, larger than a quarter "
           "of logical_decoding_work_mem (spill_txns).",
           &slot_counts::spill_txns}};
  for (const auto& [name, help, field] : decoded) {
    e.family(name, "counter", help);
    for (const auto& v : slots)
      e.sample(name, "slot=\"" + label(v.record.name) + "\"",
               static_cast<double>(env.slot_counts.get(v.record.name).*field));
  }

  const auto counters = env.cache->counters();
  const std::pair<const char*, uint64_t storage::cache_counters::*> cache[] = {
      {"walmux_wal_cache_hits_total", &storage::cache_counters::hits},
      {"walmux_wal_cache_misses_total", &storage::cache_counters::misses},
      {"walmux_wal_cache_blocks_read_total",
       &storage::cache_counters::blocks_read}};
  for (const auto& [name, field] : cache) {
    e.family(name, "counter",
             "Write-through WAL cache block reads of the slot (since its "
             "last reset).");
    for (const auto& c : counters)
      e.sample(name, "slot=\"" + label(c.slot) + "\"",
               static_cast<double>(c.counters.*field));
  }

  const std::tuple<const char*, const char*, uint64_t sender_status::*> sent[] =
      {{"walmux_walsender_sent_bytes_total",
        "Bytes of CopyData a walsender has sent.", &sender_status::bytes_sent},
       {"walmux_walsender_sent_messages_total",
        "Logical replication messages a walsender has sent.",
        &sender_status::messages_sent}};
  for (const auto& [name, help, field] : sent) {
    e.family(name, "counter", help);
    for (const auto& s : senders)
      e.sample(name,
               "slot=\"" + label(s.slot) + "\",pid=\"" + std::to_string(s.pid) +
                   "\"",
               static_cast<double>(s.*field));
  }

  e.family("walmux_connections", "gauge", "Open client connections.");
  e.sample("walmux_connections", "kind=\"replication\"",
           env.active_senders.load());
  e.sample("walmux_connections", "kind=\"sql\"", env.admin_sessions.load());

  e.family("walmux_upstream_streaming", "gauge",
           "1 while the source streams from the upstream.");
  e.sample("walmux_upstream_streaming", "",
           env.upstream->streaming.load() ? 1 : 0);
  e.family("walmux_upstream_receive_lag_bytes", "gauge",
           "Upstream WAL announced but not yet durable in walmux's store.");
  const uint64_t wal_end = env.upstream->wal_end.load();
  const uint64_t confirmed = env.upstream->confirmed.load();
  e.sample("walmux_upstream_receive_lag_bytes", "",
           static_cast<double>(wal_end > confirmed ? wal_end - confirmed : 0));

  if (env.subscriptions != nullptr) {
    const auto subs = env.subscriptions->list();
    e.family("walmux_subscription_worker_running", "gauge",
             "1 while the subscription's apply worker runs.");
    for (const auto& v : subs)
      e.sample("walmux_subscription_worker_running",
               "subscription=\"" + label(v.record.name) + "\"",
               v.activity.pid != 0 ? 1 : 0);
    e.family("walmux_subscription_apply_lag_bytes", "gauge",
             "Source WAL received but not yet committed on the target.");
    for (const auto& v : subs) {
      const uint64_t got = v.activity.received_lsn.value;
      const uint64_t done = v.activity.applied_lsn.value;
      e.sample("walmux_subscription_apply_lag_bytes",
               "subscription=\"" + label(v.record.name) + "\"",
               static_cast<double>(got > done && done != 0 ? got - done : 0));
    }
    const std::tuple<const char*, const char*,
                     int64_t apply::subscription_counts::*>
        counts[] = {{"walmux_subscription_apply_errors_total",
                     "Errors while applying the stream.",
                     &apply::subscription_counts::apply_error_count},
                    {"walmux_subscription_sync_errors_total",
                     "Errors during the initial copy.",
                     &apply::subscription_counts::sync_error_count},
                    {"walmux_subscription_update_missing_total",
                     "Updates of rows the target lacks (skipped).",
                     &apply::subscription_counts::confl_update_missing},
                    {"walmux_subscription_delete_missing_total",
                     "Deletes of rows the target lacks (skipped).",
                     &apply::subscription_counts::confl_delete_missing}};
    for (const auto& [name, help, field] : counts) {
      e.family(name, "counter", help);
      for (const auto& v : subs)
        e.sample(name, "subscription=\"" + label(v.record.name) + "\"",
                 static_cast<double>(v.activity.counts.*field));
    }
  }

  const uint64_t start = env.store->start_position();
  const uint64_t end = env.store->written_position();
  const uint64_t segment = env.store->segment_size();
  e.family("walmux_store_bytes", "gauge", "Bytes held in the WAL store.");
  e.sample("walmux_store_bytes", "", static_cast<double>(end - start));
  e.family("walmux_store_segments", "gauge", "Segment files of the WAL store.");
  e.sample("walmux_store_segments", "",
           static_cast<double>(
               end == 0 ? 0 : (end - 1) / segment - start / segment + 1));
  return e.take();
}

// --- The HTTP endpoint --------------------------------------------------

struct metrics_server::impl {
  uv_loop_t loop{};
  uv_tcp_t server{};
  uv_async_t stop{};
  std::thread thread;
  std::function<std::string()> render;
};

namespace {

// One HTTP connection: the request is read up to its blank line (at most
// 8kB), answered, and the connection closed.
struct http_connection {
  uv_tcp_t handle{};
  std::string request;
  std::string response;
  uv_write_t write{};
  const std::function<std::string()>* render = nullptr;
};

constexpr size_t max_request_bytes = 8192;

void close_connection(http_connection* c) {
  uv_close(reinterpret_cast<uv_handle_t*>(&c->handle), [](uv_handle_t* h) {
    delete static_cast<http_connection*>(h->data);
  });
}

void respond(http_connection* c, const char* status, const std::string& type,
             const std::string& body) {
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->handle));
  c->response = std::string("HTTP/1.1 ") + status +
                "\r\nContent-Type: " + type +
                "\r\nContent-Length: " + std::to_string(body.size()) +
                "\r\nConnection: close\r\n\r\n" + body;
  uv_buf_t buf = uv_buf_init(c->response.data(),
                             static_cast<unsigned>(c->response.size()));
  c->write.data = c;
  if (uv_write(&c->write, reinterpret_cast<uv_stream_t*>(&c->handle), &buf, 1,
               [](uv_write_t* w, int) {
                 close_connection(static_cast<http_connection*>(w->data));
               }) != 0)
    close_connection(c);
}

void on_request(http_connection* c) {
  const size_t line_end = c->request.find("\r\n");
  const std::string line = c->request.substr(0, line_end);
  if (line.rfind("GET ", 0) != 0) {
    respond(c, "405 Method Not Allowed", "text/plain", "use GET /metrics\n");
    return;
  }
  const size_t path_end = line.find(' ', 4);
  const std::string path = line.substr(4, path_end - 4);
  if (path != "/metrics" && path.rfind("/metrics?", 0) != 0) {
    respond(c, "404 Not Found", "text/plain", "walmux serves /metrics\n");
    return;
  }
  respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8",
          (*c->render)());
}

} // namespace

metrics_server::metrics_server(std::unique_ptr<impl> p)
    : impl_(std::move(p)) {}

metrics_server::~metrics_server() {
  uv_async_send(&impl_->stop);
  if (impl_->thread.joinable())
    impl_->thread.join();
  uv_loop_close(&impl_->loop);
}

expected<std::unique_ptr<metrics_server>>
metrics_server::start(const std::string& address, int port,
                      std::function<std::string()> render) {
  auto im = std::make_unique<impl>();
  im->render = std::move(render);
  uv_loop_init(&im->loop);
  uv_tcp_init(&im->loop, &im->server);
  im->server.data = im.get();
  sockaddr_in addr{};
  int rc =
      uv_ip4_addr(address == "*" ? "0.0.0.0" : address.c_str(), port, &addr);
  if (rc == 0)
    rc = uv_tcp_bind(&im->server, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0)
    rc = uv_listen(
        reinterpret_cast<uv_stream_t*>(&im->server), 16,
        [](uv_stream_t* s, int status) {
          if (status != 0)
            return;
          auto* c = new http_connection;
          c->render = &static_cast<impl*>(s->data)->render;
          uv_tcp_init(s->loop, &c->handle);
          c->handle.data = c;
          if (uv_accept(s, reinterpret_cast<uv_stream_t*>(&c->handle)) != 0) {
            close_connection(c);
            return;
          }
          uv_read_start(
              reinterpret_cast<uv_stream_t*>(&c->handle),
              [](uv_handle_t*, size_t, uv_buf_t* buf) {
                static thread_local char chunk[4096];
                *buf = uv_buf_init(chunk, sizeof chunk);
              },
              [](uv_stream_t* st, ssize_t n, const uv_buf_t* buf) {
                auto* conn = static_cast<http_connection*>(st->data);
                if (n < 0) {
                  uv_read_stop(st);
                  close_connection(conn);
                  return;
                }
                conn->request.append(buf->base, static_cast<size_t>(n));
                if (conn->request.find("\r\n\r\n") != std::string::npos)
                  on_request(conn);
                else if (conn->request.size() > max_request_bytes)
                  respond(conn, "431 Request Header Fields Too Large",
                          "text/plain", "");
              });
        });
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&im->server), nullptr);
    uv_run(&im->loop, UV_RUN_DEFAULT);
    uv_loop_close(&im->loop);
    return error{"08006", "could not bind the metrics endpoint on " + address +
                              " port " + std::to_string(port) + ": " +
                              uv_strerror(rc)};
  }
  uv_async_init(&im->loop, &im->stop, [](uv_async_t* a) {
    // Stop: close the server, this handle and every open connection.
    uv_walk(
        a->loop,
        [](uv_handle_t* h, void* arg) {
          auto* self = static_cast<impl*>(arg);
          if (uv_is_closing(h))
            return;
          if (h == reinterpret_cast<uv_handle_t*>(&self->server) ||
              h == reinterpret_cast<uv_handle_t*>(&self->stop))
            uv_close(h, nullptr);
          else
            close_connection(static_cast<http_connection*>(h->data));
        },
        a->data);
  });
  im->stop.data = im.get();
  im->loop.data = im.get();
  auto* loop = &im->loop;
  im->thread = std::thread([loop] { uv_run(loop, UV_RUN_DEFAULT); });
  return std::unique_ptr<metrics_server>(new metrics_server(std::move(im)));
}

} // namespace walmux::actors::admin
