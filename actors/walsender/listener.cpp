// listener.cpp: the libuv loop of the walsender role (listener.hpp).
#include "actors/walsender/listener.hpp"

#include "actors/common/atoms.hpp"
#include "common/log.hpp"

#include <arpa/inet.h>
#include <deque>
#include <map>
#include <thread>

#include <caf/send.hpp>
#include <uv.h>

namespace walmux::actors {
namespace {

// One accepted socket; lives on the loop thread until its close callback.
struct connection {
  uv_tcp_t handle; // first: the callbacks cast handles back
  std::shared_ptr<connection_link> link;
  caf::actor actor;
  uint64_t id = 0;
  std::map<uint64_t, connection*>* registry = nullptr; // the loop's map
  bool closing = false;  // uv_close requested or pending shutdown
  bool notified = false; // the actor got closed_atom
};

// Closes the socket once; safe to call again (shutdown, read error and
// stop may each want to).
void close_handle(connection* c) {
  c->closing = true;
  auto* h = reinterpret_cast<uv_handle_t*>(&c->handle);
  if (uv_is_closing(h))
    return;
  uv_close(h, [](uv_handle_t* handle) {
    delete reinterpret_cast<connection*>(handle);
  });
}

// Tells the actor its connection is gone; once.
void notify_closed(connection* c) {
  if (c->notified)
    return;
  c->notified = true;
  c->link->mark_closed();
  caf::anon_send(c->actor, closed_atom::value);
}

struct write_request {
  uv_write_t req;
  std::string bytes;
  connection* conn;
};

} // namespace

namespace {

void on_alloc(uv_handle_t*, size_t suggested, uv_buf_t* buf) {
  buf->base = new char[suggested];
  buf->len = static_cast<decltype(buf->len)>(suggested);
}

void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* conn = static_cast<connection*>(s->data);
  if (n > 0) {
    caf::anon_send(conn->actor, data_atom::value,
                   std::string(buf->base, static_cast<size_t>(n)));
    if (conn->link->received(static_cast<size_t>(n))) {
      uv_read_stop(s);
      conn->link->paused = true;
      // consumed() may have run in between: look again.
      if (conn->link->unread() < connection_link::resume_unread_bytes) {
        conn->link->paused = false;
        uv_read_start(s, on_alloc, on_read);
      }
    }
  }
  delete[] buf->base;
  if (n < 0) {
    conn->registry->erase(conn->id); // no-op after close() erased it
    uv_read_stop(s);
    notify_closed(conn);
    // A pending shutdown closes the handle itself.
    if (!conn->closing)
      close_handle(conn);
  }
}

} // namespace

struct listener::impl {
  uv_loop_t loop;
  uv_async_t wake;
  std::vector<std::unique_ptr<uv_tcp_t>> servers;
  std::map<uint64_t, connection*> connections;
  session_factory factory;
  uint64_t next_id = 1;
  std::thread thread;

  std::mutex mu; // guards tasks and stopping
  std::deque<std::function<void()>> tasks;
  bool stopping = false;
  bool stopped = false;
};

connection_link::~connection_link() = default;

void connection_link::send(std::string bytes) {
  if (closed_.load() || bytes.empty())
    return;
  if (!encrypted_.load()) {
    queue(std::move(bytes));
    return;
  }
  std::lock_guard g(tls_mu_);
  std::string records;
  if (!tls_->send(bytes, records)) {
    close();
    return;
  }
  queue(std::move(records));
}

void connection_link::start_tls(std::shared_ptr<tls_context> context) {
  std::lock_guard g(tls_mu_);
  tls_ = std::make_unique<tls_channel>(std::move(context));
  encrypted_ = true;
}

expected<std::string> connection_link::tls_receive(std::string_view cipher) {
  std::lock_guard g(tls_mu_);
  std::string plain, records;
  auto st = tls_->receive(cipher, plain, records);
  queue(std::move(records));
  if (!st)
    return std::move(st).err();
  return plain;
}

tls_description connection_link::tls_state() {
  std::lock_guard g(tls_mu_);
  if (!tls_)
    return {};
  return tls_->description();
}

void connection_link::queue(std::string bytes) {
  if (closed_.load() || bytes.empty())
    return;
  queued_ += bytes.size();
  owner_.post([this, self = shared_from_this(), id = id_,
               data = std::move(bytes)]() mutable {
    auto& im = *owner_.impl_;
    auto it = im.connections.find(id);
    if (it == im.connections.end() || it->second->closing) {
      written(data.size());
      return;
    }
    auto* w = new write_request{{}, std::move(data), it->second};
    uv_buf_t buf =
        uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
    int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&w->conn->handle),
                      &buf, 1, [](uv_write_t* req, int status) {
                        auto* wr = reinterpret_cast<write_request*>(req);
                        wr->conn->link->written(wr->bytes.size());
                        (void)status; // a failed write ends in a read error
                        delete wr;
                      });
    if (rc != 0) {
      written(w->bytes.size());
      delete w;
    }
  });
}

void connection_link::close() {
  owner_.post([this, self = shared_from_this(), id = id_] {
    auto& im = *owner_.impl_;
    auto it = im.connections.find(id);
    if (it == im.connections.end())
      return;
    connection* c = it->second;
    im.connections.erase(it);
    // uv_shutdown waits for the queued writes, then the socket closes.
    c->closing = true;
    c->link->mark_closed();
    auto* req = new uv_shutdown_t;
    req->data = c;
    if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&c->handle),
                    [](uv_shutdown_t* r, int) {
                      auto* conn = static_cast<connection*>(r->data);
                      delete r;
                      close_handle(conn);
                    }) != 0) {
      delete req;
      close_handle(c);
    }
  });
}

void connection_link::consumed(size_t n) {
  unread_ -= n;
  if (!paused.load() || unread_.load() >= resume_unread_bytes)
    return;
  owner_.post([this, self = shared_from_this(), id = id_] {
    auto& im = *owner_.impl_;
    auto it = im.connections.find(id);
    if (it == im.connections.end() || it->second->closing || !paused.load() ||
        unread_.load() >= resume_unread_bytes)
      return;
    paused = false;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&it->second->handle), on_alloc,
                  on_read);
  });
}

bool connection_link::wait_for_room(size_t bound,
                                    std::chrono::milliseconds timeout) {
  std::unique_lock g(mu_);
  return room_.wait_for(
      g, timeout, [&] { return queued_.load() < bound || closed_.load(); });
}

void connection_link::written(size_t n) {
  queued_ -= n;
  std::lock_guard g(mu_);
  room_.notify_all();
}

void connection_link::mark_closed() {
  closed_ = true;
  std::lock_guard g(mu_);
  room_.notify_all();
}

listener::listener(std::unique_ptr<impl> p)
    : impl_(std::move(p)) {}

listener::~listener() {
  stop();
}

void listener::post(std::function<void()> task) {
  std::lock_guard g(impl_->mu);
  if (impl_->stopping || impl_->stopped)
    return; // the async handle may be closed already
  impl_->tasks.push_back(std::move(task));
  uv_async_send(&impl_->wake);
}

expected<std::unique_ptr<listener>>
listener::start(const std::string& addresses, int port,
                session_factory factory) {
  auto im = std::make_unique<impl>();
  im->factory = std::move(factory);
  uv_loop_init(&im->loop);
  im->loop.data = im.get();

  std::vector<std::string> hosts;
  size_t pos = 0;
  while (pos <= addresses.size()) {
    size_t comma = addresses.find(',', pos);
    if (comma == std::string::npos)
      comma = addresses.size();
    std::string h = addresses.substr(pos, comma - pos);
    h.erase(0, h.find_first_not_of(" \t"));
    h.erase(h.find_last_not_of(" \t") + 1);
    if (h == "*")
      h = "0.0.0.0";
    if (h == "localhost")
      h = "127.0.0.1";
    if (!h.empty())
      hosts.push_back(h);
    pos = comma + 1;
  }
  auto fail = [&](std::string message) -> expected<std::unique_ptr<listener>> {
    for (auto& s : im->servers)
      uv_close(reinterpret_cast<uv_handle_t*>(s.get()), nullptr);
    uv_run(&im->loop, UV_RUN_DEFAULT);
    uv_loop_close(&im->loop);
    return error{"58000", std::move(message)}.with_hint(
        "Is another walmux or PostgreSQL already running on port " +
        std::to_string(port) + "?");
  };
  for (const auto& h : hosts) {
    sockaddr_in addr{};
    if (uv_ip4_addr(h.c_str(), port, &addr) != 0)
      return fail("invalid listen address \"" + h + "\"");
    auto server = std::make_unique<uv_tcp_t>();
    uv_tcp_init(&im->loop, server.get());
    server->data = im.get();
    int rc =
        uv_tcp_bind(server.get(), reinterpret_cast<const sockaddr*>(&addr), 0);
    if (rc == 0)
      rc = uv_listen(
          reinterpret_cast<uv_stream_t*>(server.get()), 128,
          [](uv_stream_t* srv, int status) {
            if (status < 0)
              return;
            auto* self = static_cast<impl*>(srv->data);
            auto* c = new connection{};
            uv_tcp_init(&self->loop, &c->handle);
            if (uv_accept(srv, reinterpret_cast<uv_stream_t*>(&c->handle)) !=
                0) {
              uv_close(reinterpret_cast<uv_handle_t*>(&c->handle),
                       [](uv_handle_t* h) {
                         delete reinterpret_cast<connection*>(h);
                       });
              return;
            }
            uv_tcp_nodelay(&c->handle, 1);
            sockaddr_storage peer{};
            int len = sizeof(peer);
            char ip[64] = "";
            int port = 0;
            if (uv_tcp_getpeername(&c->handle,
                                   reinterpret_cast<sockaddr*>(&peer),
                                   &len) == 0 &&
                peer.ss_family == AF_INET) {
              auto* in = reinterpret_cast<sockaddr_in*>(&peer);
              uv_ip4_name(in, ip, sizeof(ip));
              port = ntohs(in->sin_port);
            }
            const uint64_t id = self->next_id++;
            c->link = std::make_shared<connection_link>(
                *static_cast<listener*>(self->wake.data), id, ip, port);
            c->handle.data = c;
            self->connections[id] = c;
            c->id = id;
            c->registry = &self->connections;
            c->actor = self->factory(c->link);
            uv_read_start(reinterpret_cast<uv_stream_t*>(&c->handle), on_alloc,
                          on_read);
          });
    if (rc != 0) {
      im->servers.push_back(std::move(server));
      return fail("could not bind IPv4 address \"" + h + "\" port " +
                  std::to_string(port) + ": " + uv_strerror(rc));
    }
    im->servers.push_back(std::move(server));
  }
  if (im->servers.empty())
    return fail("could not create any TCP/IP sockets");

  uv_async_init(&im->loop, &im->wake, [](uv_async_t* a) {
    auto* self = static_cast<impl*>(a->loop->data);
    std::deque<std::function<void()>> run;
    bool stop_now = false;
    {
      std::lock_guard g(self->mu);
      run.swap(self->tasks);
      stop_now = self->stopping;
    }
    for (auto& t : run)
      t();
    if (stop_now) {
      for (auto& s : self->servers)
        uv_close(reinterpret_cast<uv_handle_t*>(s.get()), nullptr);
      auto conns = self->connections;
      self->connections.clear();
      for (auto& [id, c] : conns) {
        notify_closed(c);
        close_handle(c);
      }
      uv_close(reinterpret_cast<uv_handle_t*>(&self->wake), nullptr);
    }
  });
  std::unique_ptr<listener> l(new listener(std::move(im)));
  l->impl_->wake.data = l.get();
  l->impl_->thread =
      std::thread([p = l->impl_.get()] { uv_run(&p->loop, UV_RUN_DEFAULT); });
  return l;
}

void listener::stop() {
  if (!impl_)
    return;
  {
    std::lock_guard g(impl_->mu);
    if (impl_->stopped)
      return;
    impl_->stopping = true;
    uv_async_send(&impl_->wake);
  }
  if (impl_->thread.joinable())
    impl_->thread.join();
  {
    std::lock_guard g(impl_->mu);
    impl_->stopped = true;
    impl_->tasks.clear();
  }
  uv_loop_close(&impl_->loop);
}

} // namespace walmux::actors
