// node.cpp: walmux init and the node's life cycle (see node.hpp).
//
// Start-up order: data directory check, lock, settings (walmux.conf then -c),
// catalog, then the actor system. Signals are blocked in every thread before
// any thread starts, and the main thread takes them with sigwait(), so no
// handler runs inside CAF or RocksDB threads. Shutdown runs the other way:
// actor system, catalog, lock (which removes walmux.pid).
#include "tools/walmux/node.hpp"

#include "actors/system/node_config.hpp"
#include "common/log.hpp"
#include "config/conf_file.hpp"
#include "config/settings.hpp"
#include "storage/catalog.hpp"
#include "storage/data_dir.hpp"

#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <unistd.h>

#include <caf/actor_system.hpp>

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
  {
    actors::node_config cfg(settings);
    caf::actor_system system(cfg);
    if (!settings.logical_replication())
      log_message(elevel::log,
                  "rds.logical_replication is off: no replication slots, WAL "
                  "senders or upstream stream will be started");
    // Honest about what this build does: the listeners and the replication
    // roles arrive with the streaming and SQL surface issues.
    log_message(elevel::log,
                "walmux node is running with " +
                    std::to_string(cfg.scheduler_threads()) +
                    " scheduler threads; it does not accept connections yet");

    while (true) {
      int sig = 0;
      if (sigwait(&waited, &sig) != 0)
        continue;
      if (sig == SIGHUP) {
        log_message(elevel::log,
                    "received SIGHUP, reloading configuration files");
        auto fresh =
            config::load_settings(storage::conf_path(dir), cl.overrides, facts);
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
        log_set_min_level(
            level_from_name(settings.get_string("log_min_messages")));
        continue;
      }
      log_message(elevel::log, sig == SIGTERM
                                   ? "received smart shutdown request"
                                   : "received fast shutdown request");
      break;
    }
    // ~actor_system waits for every actor to terminate.
  }
  cat->reset();
  log_message(elevel::log, "walmux is shut down");
  return 0;
}

} // namespace walmux::tools
