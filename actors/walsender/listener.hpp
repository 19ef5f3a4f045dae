// listener.hpp: the libuv side of the walsender role: one loop thread that
// accepts connections on listen_addresses:port and moves bytes between the
// sockets and each connection's walsender actor.
//
// Per connection, a connection_link is shared by the loop and the actor:
// the actor send()s encoded messages (any thread; the loop writes them),
// and the link counts the bytes queued but not yet written. A walsender
// stops producing while queued() is at its bound and waits in
// wait_for_room(): a client that stops reading costs at most that bound
// (plus one message) and slows no other connection.
// Received bytes go to the actor as (data_atom, std::string); the end of
// the connection as (closed_atom). The actor reports each chunk it has
// handled with consumed(); the loop stops reading a connection while more
// than max_unread_bytes are in its actor's mailbox, so a client that floods
// walmux costs bounded memory too.
//
// Threading: uv_* calls happen on the loop thread only; other threads post
// tasks through one uv_async handle (stack.md P6).
#pragma once

#include "actors/walsender/tls_channel.hpp"
#include "common/expected.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor.hpp>

namespace walmux::actors {

class listener;

class connection_link : public std::enable_shared_from_this<connection_link> {
 public:
  connection_link(listener& owner, uint64_t id, std::string peer,
                  int peer_port = 0)
      : owner_(owner)
      , id_(id)
      , peer_(std::move(peer))
      , peer_port_(peer_port) {}

  // Queues bytes for writing (encrypted once TLS is on); ignored after
  // close.
  void send(std::string bytes);
  // From now on, bytes are TLS records (after the 'S' answer to
  // SSLRequest).
  void start_tls(std::shared_ptr<tls_context> context);
  bool encrypted() const { return encrypted_.load(); }
  // Ciphertext received -> the plaintext it held; handshake records it
  // calls for are sent. An error ends the connection.
  expected<std::string> tls_receive(std::string_view cipher);
  // The TLS version, cipher and its bits (empty without TLS).
  tls_description tls_state();
  // Closes the connection once the queued bytes are written.
  void close();

  size_t queued() const { return queued_.load(); }
  // Waits until fewer than `bound` bytes are queued (true) or `timeout`
  // passes (false).
  bool wait_for_room(size_t bound, std::chrono::milliseconds timeout);
  bool closed() const { return closed_.load(); }
  const std::string& peer_address() const { return peer_; }
  int peer_port() const { return peer_port_; }

  // The actor has handled `n` received bytes (any thread).
  void consumed(size_t n);

  static constexpr size_t max_unread_bytes = 1 << 20;
  ~connection_link();
  static constexpr size_t resume_unread_bytes = 256 << 10;

  // Loop thread only.
  void written(size_t n);
  void mark_closed();

 private:
  void queue(std::string bytes); // the bytes as they go on the wire

 public:
  // Counts received bytes; true when reading should pause.
  bool received(size_t n) { return (unread_ += n) >= max_unread_bytes; }
  size_t unread() const { return unread_.load(); }
  std::atomic<bool> paused{false}; // reading stopped for unread bytes

 private:
  listener& owner_;
  const uint64_t id_;
  const std::string peer_;
  const int peer_port_;
  std::atomic<size_t> queued_{0};
  std::atomic<size_t> unread_{0};
  std::atomic<bool> closed_{false};
  // Encrypts in send order: held from encryption to queueing.
  std::mutex tls_mu_;
  std::unique_ptr<tls_channel> tls_;
  std::atomic<bool> encrypted_{false};
  std::mutex mu_;
  std::condition_variable room_;
};

class listener {
 public:
  // Makes the actor that serves a new connection.
  using session_factory =
      std::function<caf::actor(std::shared_ptr<connection_link>)>;

  // Binds every address of `addresses` (comma-separated; "*" = all IPv4)
  // on `port` and starts the loop thread. 08006-style error naming the
  // address when a bind fails (like PostgreSQL's "could not bind").
  static expected<std::unique_ptr<listener>>
  start(const std::string& addresses, int port, session_factory factory);
  ~listener(); // stop()s

  // Stops accepting, closes every connection (their actors get
  // closed_atom) and joins the loop thread.
  void stop();

 private:
  friend class connection_link;
  struct impl;
  explicit listener(std::unique_ptr<impl> p);
  void post(std::function<void()> task);
  std::unique_ptr<impl> impl_;
};

} // namespace walmux::actors
