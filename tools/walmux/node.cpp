// node.cpp: walmux init and the node's life cycle (see node.hpp).
//
// Start-up order: data directory check, lock, settings (walmux.conf then -c),
// catalog, then the actor system. Signals are blocked in every thread before
// any thread starts, and the main thread takes them with sigwait(), so no
// handler runs inside CAF or RocksDB threads. Shutdown runs the other way:
// actor system, catalog, lock (which removes walmux.pid).
#include "tools/walmux/node.hpp"

#include "actors/admin/metrics.hpp"
#include "actors/apply/subscription_manager.hpp"
#include "actors/common/clock.hpp"
#include "actors/slots/checkpointer.hpp"
#include "actors/slots/retention.hpp"
#include "actors/slots/slot_manager.hpp"
#include "actors/source/source.hpp"
#include "actors/system/node_config.hpp"
#include "actors/wal_cache/wal_cache.hpp"
#include "actors/walsender/listener.hpp"
#include "actors/walsender/walsender.hpp"
#include "common/log.hpp"
#include "config/conf_file.hpp"
#include "config/settings.hpp"
#include "storage/catalog.hpp"
#include "storage/data_dir.hpp"
#include "storage/wal_store.hpp"

#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

namespace walmux::tools {
namespace {

elevel level_from_name(const std::string& name) {
  // log_min_messages is validated against elevel_names when set.
  return elevel_from_name(name, elevel::warning);
}

int fatal(const error& e) {
  log_error(elevel::fatal, e);
  return 1;
}

std::string describe_start(const config::settings& s,
                           const storage::node_meta& meta,
                           const std::string& dir) {
  return "starting walmux " WALMUX_VERSION " in data directory \"" + dir +
         "\", system identifier " + std::to_string(meta.system_identifier) +
         ", wal_level " + std::string(s.wal_level()) +
         ", write-through WAL cache " + *s.show("rds.logical_wal_cache");
}

} // namespace

int online_vcpus() {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

int run_init(const command_line& cl) {
  config::machine_facts facts{online_vcpus()};
  config::settings values(facts);
  std::string explicit_lines;
  for (const auto& [name, value] : cl.overrides) {
    if (auto st = values.set(name, value, config::value_source::command_line);
        !st) {
      std::fprintf(stderr, "walmux init: %s\n", to_string(st.err()).c_str());
      return 1;
    }
    explicit_lines += name + " = " + config::conf_quote(value) + "\n";
  }
  if (auto st = values.check_cross_rules(); !st) {
    std::fprintf(stderr, "walmux init: %s\n", to_string(st.err()).c_str());
    return 1;
  }
  std::string conf = config::sample_config_text(facts);
  if (!explicit_lines.empty())
    conf += "\n# Set by walmux init -c\n" + explicit_lines;

  auto id = storage::new_system_identifier();
  if (!id) {
    std::fprintf(stderr, "walmux init: %s\n", to_string(id.err()).c_str());
    return 1;
  }
  storage::node_meta meta;
  meta.system_identifier = *id;
  meta.wal_segment_size =
      static_cast<uint64_t>(values.get_int("wal_segment_size"));
  if (auto st = storage::data_dir_init(cl.data_dir, conf, meta); !st) {
    std::fprintf(stderr, "walmux init: %s\n", to_string(st.err()).c_str());
    return 1;
  }
  std::printf("Data directory: %s\n"
              "System identifier: %llu\n"
              "WAL segment size: %s\n"
              "\n"
              "Success. You can now start walmux with:\n"
              "\n"
              "    walmux -D %s\n",
              cl.data_dir.c_str(),
              static_cast<unsigned long long>(meta.system_identifier),
              values.show("wal_segment_size")->c_str(), cl.data_dir.c_str());
  return 0;
}

int run_show_config(const command_line& cl) {
  if (auto st = storage::data_dir_check(cl.data_dir); !st)
    return fatal(st.err());
  auto loaded =
      config::load_settings(storage::conf_path(cl.data_dir), cl.overrides,
                            config::machine_facts{online_vcpus()});
  if (!loaded)
    return fatal(loaded.err());
  if (cl.show_name == "all") {
    for (const auto& row : loaded->show_all())
      std::printf("%s = %s\n", row.name.c_str(), row.setting.c_str());
    return 0;
  }
  auto value = loaded->show(cl.show_name);
  if (!value)
    return fatal(value.err());
  std::printf("%s\n", value->c_str());
  return 0;
}

int run_node(const command_line& cl) {
  const std::string& dir = cl.data_dir;
  if (auto st = storage::data_dir_check(dir); !st)
    return fatal(st.err());
  auto lock = storage::data_dir_lock::acquire(dir);
  if (!lock)
    return fatal(lock.err());

  config::machine_facts facts{online_vcpus()};
  auto loaded =
      config::load_settings(storage::conf_path(dir), cl.overrides, facts);
  if (!loaded)
    return fatal(loaded.err());
  config::settings settings = std::move(*loaded);
  log_set_min_level(level_from_name(settings.get_string("log_min_messages")));

  auto cat = storage::catalog::open(storage::catalog_path(dir));
  if (!cat)
    return fatal(cat.err());
  auto meta = (*cat)->read_node_meta();
  if (!meta)
    return fatal(meta.err());
  // Unless the configuration sets it, wal_segment_size is what the data
  // directory was initialized with (as PostgreSQL reads it from
  // pg_control): a directory made when the default was 16MB starts as it
  // is, and a reload does not see a change.
  const uint64_t initialized_segment_size = meta->wal_segment_size;
  auto directory_segment_size =
      [initialized_segment_size](config::settings& s) -> status {
    if (s.source_of("wal_segment_size") !=
            config::value_source::default_value ||
        initialized_segment_size == 0)
      return ok();
    return s.set("wal_segment_size", std::to_string(initialized_segment_size),
                 config::value_source::default_value);
  };
  if (auto st = directory_segment_size(settings); !st)
    return fatal(st.err());
  auto segment_size =
      static_cast<uint64_t>(settings.get_int("wal_segment_size"));
  if (meta->wal_segment_size != segment_size)
    return fatal(
        error{sqlstate::invalid_parameter_value,
              "database files are incompatible with the configuration"}
            .with_detail("The data directory was initialized with "
                         "wal_segment_size " +
                         std::to_string(meta->wal_segment_size) +
                         " bytes, but the configuration sets " +
                         std::to_string(segment_size) + " bytes.")
            .with_hint("wal_segment_size is fixed when the data directory is "
                       "created; remove the setting or initialize a new one."));

  // Block the signals we wait for in every thread, before any thread starts.
  sigset_t waited;
  sigemptyset(&waited);
  sigaddset(&waited, SIGHUP);
  sigaddset(&waited, SIGINT);
  sigaddset(&waited, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &waited, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  log_message(elevel::log, describe_start(settings, *meta, dir));

  // The replication roles' shared objects; declared before the actor
  // system so that they outlive every actor (~actor_system waits for them).
  actors::wal_cache* cache_hook = nullptr;
  storage::wal_store::options store_opts;
  store_opts.dir = storage::wal_path(dir);
  store_opts.segment_size = segment_size;
  store_opts.on_write = [&cache_hook](uint64_t position, std::string_view b) {
    if (cache_hook != nullptr)
      cache_hook->write_through(position, b);
  };
  auto store = storage::wal_store::open(store_opts);
  if (!store)
    return fatal(store.err());
  if (!(*store)->recovery().cut_reason.empty())
    log_message(elevel::log,
                "WAL store recovery cut " +
                    std::to_string((*store)->recovery().cut_bytes) +
                    " bytes at its end: " + (*store)->recovery().cut_reason);
  actors::wal_cache cache(
      **store, static_cast<uint64_t>(settings.logical_wal_cache_bytes()));
  cache_hook = &cache;
  actors::slot_manager slots(
      **cat, static_cast<int>(settings.get_int("max_replication_slots")));
  if (auto st = slots.load(); !st)
    return fatal(st.err());
  if (!settings.logical_replication()) {
    // PostgreSQL refuses to start with logical slots and wal_level below
    // logical; the reference's procedure drops the slots first.
    std::string names;
    for (const auto& v : slots.list())
      names += (names.empty() ? "" : ", ") + v.record.name;
    if (!names.empty())
      return fatal(
          error{"55000", "logical replication slots exist, but "
                         "rds.logical_replication is off"}
              .with_detail("Slots to drop: " + names + ".")
              .with_hint(
                  "Start walmux with rds.logical_replication = on, "
                  "drop them (SELECT pg_drop_replication_slot(slot_name) "
                  "FROM pg_replication_slots), then turn it off."));
  }
  actors::upstream_state upstream;
  actors::walsender_env env;
  env.slots = &slots;
  env.store = store->get();
  env.cache = &cache;
  std::shared_mutex store_start_lock;
  env.catalog = cat->get();
  env.store_start_lock = &store_start_lock;
  actors::retention_env retention;
  retention.slots = &slots;
  retention.store = store->get();
  retention.catalog = cat->get();
  retention.store_start_lock = &store_start_lock;
  env.upstream = &upstream;
  env.system_identifier = meta->system_identifier;
  env.started_at_unix_us = actors::unix_micros_now();
  env.upstream_conninfo = settings.get_string("upstream_conninfo");
  env.upstream_publications = settings.upstream_publications();
  env.logical_replication = settings.logical_replication();
  env.max_wal_senders = static_cast<int>(settings.get_int("max_wal_senders"));
  env.max_connections = static_cast<int>(settings.get_int("max_connections"));
  // Client authentication: an error in the files stops the start; at a
  // reload it keeps the rules in force, as PostgreSQL keeps pg_hba.conf.
  auto auth_files_of = [](const config::settings& s) {
    actors::auth_files f;
    f.hba_file = s.get_string("hba_file");
    f.auth_file = s.get_string("auth_file");
    f.ident_file = s.get_string("ident_file");
    f.ssl = s.get_bool("ssl");
    f.tls.cert = s.get_string("ssl_cert_file");
    f.tls.key = s.get_string("ssl_key_file");
    f.tls.ca = s.get_string("ssl_ca_file");
    f.tls.crl_file = s.get_string("ssl_crl_file");
    f.tls.crl_dir = s.get_string("ssl_crl_dir");
    f.tls.min_protocol = s.get_string("ssl_min_protocol_version");
    f.tls.max_protocol = s.get_string("ssl_max_protocol_version");
    f.tls.ciphers = s.get_string("ssl_ciphers");
    f.tls.prefer_server_ciphers = s.get_bool("ssl_prefer_server_ciphers");
    f.tls.ecdh_curve = s.get_string("ssl_ecdh_curve");
    f.tls.dh_params_file = s.get_string("ssl_dh_params_file");
    f.tls.passphrase_command = s.get_string("ssl_passphrase_command");
    f.tls.passphrase_command_supports_reload =
        s.get_bool("ssl_passphrase_command_supports_reload");
    return f;
  };
  auto auth = actors::load_auth_config(dir, auth_files_of(settings));
  if (!auth)
    return fatal(auth.err());
  env.auth.set(std::move(*auth));
  auto reload_auth = [&env, &dir, &auth_files_of](const config::settings& s) {
    auto files = auth_files_of(s);
    files.tls.server_start = false; // ssl_passphrase_command_supports_reload
    auto fresh = actors::load_auth_config(dir, files);
    if (!fresh) {
      log_error(elevel::log, fresh.err());
      log_message(elevel::log,
                  "pg_hba.conf, the password file and the SSL configuration "
                  "were not reloaded");
      return;
    }
    env.auth.set(std::move(*fresh));
  };
  auto apply_reloadable = [&env, &retention](const config::settings& s) {
    retention.max_slot_wal_keep_size_mb = s.get_int("max_slot_wal_keep_size");
    env.wal_sender_timeout_ms = s.get_int("wal_sender_timeout");
    env.authentication_timeout_s = s.get_int("authentication_timeout");
    env.send_buffer_bytes = s.get_int("wal_sender_buffer_size") * 1024;
    // A piece is held about three times (read, decoded, queued to send).
    env.transaction_piece_bytes =
        s.get_int("logical_decoding_work_mem") * 1024 / 4;
    env.settings.set(s);
  };
  apply_reloadable(settings);
  actors::apply::subscription_manager subscriptions(
      **cat,
      {static_cast<int>(settings.get_int("max_logical_replication_workers")),
       static_cast<int>(settings.get_int("max_sync_workers_per_subscription"))},
      env.next_pid, storage::stream_spool_path(dir));
  if (auto st = subscriptions.load(); !st)
    return fatal(st.err());
  env.subscriptions = &subscriptions;
  {
    actors::node_config cfg(settings);
    caf::actor_system system(cfg);
    std::vector<caf::actor> roles;
    std::unique_ptr<actors::listener> listener;
    if (!settings.logical_replication()) {
      log_message(elevel::log,
                  "rds.logical_replication is off: no replication slots, WAL "
                  "senders or upstream stream will be started");
    } else {
      roles.push_back(actors::spawn_checkpointer(system, retention));
      if (env.upstream_conninfo.empty())
        log_message(elevel::log, "upstream_conninfo is not set: serving the "
                                 "stored stream only");
      else
        roles.push_back(actors::spawn_source(
            system,
            actors::source_config{env.upstream_conninfo,
                                  env.upstream_publications,
                                  meta->system_identifier},
            **store, **cat, upstream));
    }
    auto started = actors::listener::start(
        settings.get_string("listen_addresses"),
        static_cast<int>(settings.get_int("port")),
        [&system, &env](std::shared_ptr<actors::connection_link> link) {
          return actors::spawn_walsender(system, env, std::move(link));
        });
    if (!started) {
      for (auto& a : roles)
        caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
      return fatal(started.err());
    }
    listener = std::move(*started);
    log_message(elevel::log, "listening on IPv4 address \"" +
                                 settings.get_string("listen_addresses") +
                                 "\", port " +
                                 std::to_string(settings.get_int("port")));
    std::unique_ptr<actors::admin::metrics_server> metrics;
    if (const int mport = static_cast<int>(settings.get_int("metrics_port"));
        mport > 0) {
      std::string address = settings.get_string("listen_addresses");
      address = address.substr(0, address.find(','));
      auto served =
          actors::admin::metrics_server::start(address, mport, [&env] {
            return actors::admin::render_metrics(env);
          });
      if (!served) {
        listener->stop();
        for (auto& a : roles)
          caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
        return fatal(served.err());
      }
      metrics = std::move(*served);
      log_message(elevel::log, "serving metrics on http://" + address + ":" +
                                   std::to_string(mport) + "/metrics");
    }
    // Subscriptions apply whether or not this node publishes.
    subscriptions.start(system);
    log_message(elevel::log, "walmux node is running with " +
                                 std::to_string(cfg.scheduler_threads()) +
                                 " scheduler threads");

    while (true) {
      int sig = 0;
      if (sigwait(&waited, &sig) != 0)
        continue;
      if (sig == SIGHUP) {
        log_message(elevel::log,
                    "received SIGHUP, reloading configuration files");
        auto fresh =
            config::load_settings(storage::conf_path(dir), cl.overrides, facts);
        if (fresh)
          if (auto st = directory_segment_size(*fresh); !st)
            fresh = std::move(st).err();
        if (!fresh) {
          log_error(elevel::log, fresh.err());
          log_message(elevel::log, "configuration file \"" +
                                       storage::conf_path(dir) +
                                       "\" contains errors; no changes were "
                                       "applied");
          continue;
        }
        for (const auto& line : config::apply_reload(settings, *fresh))
          log_message(elevel::log, line);
        apply_reloadable(settings);
        reload_auth(settings);
        log_set_min_level(
            level_from_name(settings.get_string("log_min_messages")));
        continue;
      }
      log_message(elevel::log, sig == SIGTERM
                                   ? "received smart shutdown request"
                                   : "received fast shutdown request");
      break;
    }
    // Order (stack.md P7/P8): stop the connections (their walsenders get
    // closed_atom and quit), the apply workers, then the roles;
    // ~actor_system waits for all.
    listener->stop();
    subscriptions.shutdown();
    for (auto& a : roles)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }
  if (auto st = slots.persist(true); !st)
    log_error(elevel::warning, st.err());
  cat->reset();
  log_message(elevel::log, "walmux is shut down");
  return 0;
}

} // namespace walmux::tools
