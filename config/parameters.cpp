// parameters.cpp: the parameter table (see parameters.hpp).
//
// Names, defaults, bounds and units follow the reference document
// (shared/reference/aurora-logical-replication.md) and PostgreSQL 15's GUCs of
// the same name: max_* counts are bounded by PostgreSQL's MAX_BACKENDS
// (262143), shared_buffers counts 8kB blocks from 16 (128kB), times are in
// milliseconds up to INT_MAX.
#include "config/parameters.hpp"

#include "common/log.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <climits>

namespace walmux::config {
namespace {

constexpr int64_t max_backends = 262143;
constexpr int64_t int_max = INT_MAX;

constexpr std::string_view wal_levels[] = {"replica", "logical"};
constexpr std::string_view tls_versions[] = {"TLSv1", "TLSv1.1", "TLSv1.2",
                                             "TLSv1.3"};
constexpr std::string_view tls_versions_or_none[] = {"", "TLSv1", "TLSv1.1",
                                                     "TLSv1.2", "TLSv1.3"};

// GREATEST(2 x vCPU, 8), the reference document's default.
int64_t default_worker_processes(const machine_facts& facts) {
  return std::max<int64_t>(2 * static_cast<int64_t>(facts.vcpu_count), 8);
}

// rds.logical_wal_cache: -1 selects the automatic size; a positive value
// under 32kB counts as 32kB (applied when the size is derived), so only 0 is
// refused: it names no size.
std::string check_logical_wal_cache(int64_t value) {
  if (value == 0)
    return "Use -1 for the automatic size (1/32 of shared_buffers) or a "
           "positive size.";
  return {};
}

// wal_segment_size: a power of two from 1MB to 1GB, as initdb --wal-segsize.
std::string check_wal_segment_size(int64_t bytes) {
  if (bytes < (1 << 20) || bytes > (1 << 30) || (bytes & (bytes - 1)) != 0)
    return "wal_segment_size must be a power of two between 1MB and 1GB.";
  return {};
}

constexpr std::string_view group_replication = "Replication";
constexpr std::string_view group_resources = "Resource Usage";
constexpr std::string_view group_connections = "Connections";
constexpr std::string_view group_upstream = "Upstream";
constexpr std::string_view group_logging = "Reporting and Logging";

const std::array<parameter_def, 39> table = {{
    {.name = "rds.logical_replication",
     .type = param_type::boolean,
     .context = param_context::postmaster,
     .group = group_replication,
     .description = "Enables logical replication: slots, walsenders and the "
                    "upstream stream.",
     .default_bool = false},
    {.name = "wal_level",
     .type = param_type::enumeration,
     .context = param_context::internal,
     .group = group_replication,
     .description = "Shows the level of information written to the WAL: "
                    "logical when rds.logical_replication is on, else replica.",
     .default_string = "replica",
     .enum_values = wal_levels,
     .hidden_in_sample = true},
    {.name = "max_replication_slots",
     .type = param_type::integer,
     .context = param_context::postmaster,
     .group = group_replication,
     .description = "Sets the maximum number of simultaneously defined "
                    "replication slots.",
     .min = 0,
     .max = max_backends,
     .default_int = 20},
    {.name = "max_wal_senders",
     .type = param_type::integer,
     .context = param_context::postmaster,
     .group = group_replication,
     .description = "Sets the maximum number of simultaneously running WAL "
                    "sender processes.",
     .min = 0,
     .max = max_backends,
     .default_int = 20},
    {.name = "max_connections",
     .type = param_type::integer,
     .context = param_context::postmaster,
     .group = group_connections,
     .description = "Sets the maximum number of concurrent SQL (non-"
                    "replication) connections.",
     .min = 1,
     .max = max_backends,
     .default_int = 100},
    {.name = "max_logical_replication_workers",
     .type = param_type::integer,
     .context = param_context::postmaster,
     .group = group_replication,
     .description = "Maximum number of logical replication worker processes.",
     .min = 0,
     .max = max_backends,
     .default_int = 4},
    {.name = "max_sync_workers_per_subscription",
     .type = param_type::integer,
     .context = param_context::postmaster,
     .group = group_replication,
     .description = "Maximum number of table synchronization workers per "
                    "subscription.",
     .min = 0,
     .max = max_backends,
     .default_int = 2},
    {.name = "wal_sender_timeout",
     .type = param_type::integer,
     .context = param_context::sighup,
     .group = group_replication,
     .description = "Sets the maximum time to wait for WAL replication.",
     .base_unit = unit::milliseconds,
     .min = 0,
     .max = int_max,
     .default_int = 60000},
    {.name = "wal_sender_buffer_size",
     .type = param_type::integer,
     .context = param_context::sighup,
     .group = group_replication,
     .description = "Sets the most memory one WAL sender may hold in "
                    "messages its client has not read yet.",
     .base_unit = unit::kilobytes,
     .min = 64,
     .max = 1048576,
     .default_int = 1024},
    {.name = "max_slot_wal_keep_size",
     .type = param_type::integer,
     .context = param_context::sighup,
     .group = group_replication,
     .description = "Sets the maximum WAL size that can be reserved by "
                    "replication slots (-1 means no limit).",
     .base_unit = unit::megabytes,
     .min = -1,
     .max = int_max,
     .default_int = -1},
    {.name = "logical_decoding_work_mem",
     .type = param_type::integer,
     .context = param_context::sighup,
     .group = group_resources,
     .description = "Sets the memory a WAL sender may use for one stored "
                    "transaction; a larger one is read and sent in pieces "
                    "of a quarter of this size.",
     .base_unit = unit::kilobytes,
     .min = 64,
     .max = int_max,
     .default_int = 65536},
    {.name = "max_worker_processes",
     .type = param_type::integer,
     .context = param_context::postmaster,
     .group = group_resources,
     .description = "Maximum number of concurrent worker processes.",
     .min = 0,
     .max = max_backends,
     .dynamic_default = default_worker_processes,
     .dynamic_default_rule = "GREATEST(2 x vCPU, 8)"},
    {.name = "shared_buffers",
     .type = param_type::integer,
     .context = param_context::postmaster,
     .group = group_resources,
     .description = "Sets the buffer memory that rds.logical_wal_cache's "
                    "automatic size is derived from.",
     .base_unit = unit::blocks,
     .min = 16,
     .max = INT_MAX / 2,
     .default_int = 16384},
    {.name = "rds.logical_wal_cache",
     .type = param_type::integer,
     .context = param_context::postmaster,
     .group = group_resources,
     .description = "Sets the size of the logical replication write-through "
                    "WAL cache (-1: 1/32 of shared_buffers, at least 64kB, at "
                    "most wal_segment_size).",
     .base_unit = unit::blocks,
     .min = -1,
     .max = INT_MAX / block_size,
     .default_int = -1,
     .check = check_logical_wal_cache},
    {.name = "wal_segment_size",
     .type = param_type::integer,
     .context = param_context::postmaster,
     .group = group_resources,
     .description = "Sets the size of walmux's WAL store segment files; fixed "
                    "when the data directory is initialized.",
     .base_unit = unit::bytes,
     .min = 1 << 20,
     .max = 1 << 30,
     // 64MB, as Amazon RDS for PostgreSQL sets its WAL segments (not
     // PostgreSQL's 16MB): sequential reads cross a file boundary a
     // quarter as often (storage/README.md, "Fourteenth session").
     .default_int = 64 << 20,
     .check = check_wal_segment_size},
    {.name = "listen_addresses",
     .type = param_type::string,
     .context = param_context::postmaster,
     .group = group_connections,
     .description = "Sets the host name(s) or IP address(es) to listen to.",
     .default_string = "127.0.0.1"},
    {.name = "authentication_timeout",
     .type = param_type::integer,
     .context = param_context::sighup,
     .group = group_connections,
     .description = "Sets the maximum allowed time to complete client "
                    "authentication.",
     .base_unit = unit::seconds,
     .min = 1,
     .max = 600,
     .default_int = 60},
    {.name = "hba_file",
     .type = param_type::string,
     .context = param_context::sighup,
     .group = group_connections,
     .description = "Sets the server's \"hba\" configuration file (relative "
                    "to the data directory); empty: trust from 127.0.0.1 "
                    "only.",
     .default_string = ""},
    {.name = "ident_file",
     .type = param_type::string,
     .context = param_context::sighup,
     .group = group_connections,
     .description = "Sets the server's \"ident\" configuration file: the "
                    "user name maps of map= (relative to the data directory; "
                    "empty: none).",
     .default_string = ""},
    {.name = "auth_file",
     .type = param_type::string,
     .context = param_context::sighup,
     .group = group_connections,
     .description = "Sets the file of \"user\" \"secret\" lines that "
                    "password authentication checks against (relative to "
                    "the data directory).",
     .default_string = ""},
    {.name = "ssl",
     .type = param_type::boolean,
     .context = param_context::sighup,
     .group = group_connections,
     .description = "Enables SSL connections.",
     .default_bool = false},
    {.name = "ssl_cert_file",
     .type = param_type::string,
     .context = param_context::sighup,
     .group = group_connections,
     .description = "Location of the SSL server certificate file (relative "
                    "to the data directory).",
     .default_string = "server.crt"},
    {.name = "ssl_key_file",
     .type = param_type::string,
     .context = param_context::sighup,
     .group = group_connections,
     .description = "Location of the SSL server private key file (relative "
                    "to the data directory).",
     .default_string = "server.key"},
    {.name = "ssl_ca_file",
     .type = param_type::string,
     .context = param_context::sighup,
     .group = group_connections,
     .description = "Location of the SSL certificate authority file "
                    "(relative to the data directory).",
     .default_string = ""},
    {.name = "ssl_crl_file",
     .type = param_type::string,
     .context = param_context::sighup,
     .group = group_connections,
     .description = "Location of the SSL certificate revocation list file "
                    "(relative to the data directory).",
     .default_string = ""},
    {.name = "ssl_crl_dir",
     .type = param_type::string,
     .context = param_context::sighup,
     .group = group_connections,
     .description = "Location of the SSL certificate revocation list "
                    "directory (relative to the data directory).",
     .default_string = ""},
    {.name = "ssl_min_protocol_version",
     .type = param_type::enumeration,
     .context = param_context::sighup,
     .group = group_connections,
     .description = "Sets the minimum SSL/TLS protocol version to use.",
     .default_string = "TLSv1.2",
     .enum_values = tls_versions},
    {.name = "ssl_max_protocol_version",
     .type = param_type::enumeration,
     .context = param_context::sighup,
     .group = group_connections,
     .description = "Sets the maximum SSL/TLS protocol version to use "
                    "(empty: the highest the library supports).",
     .default_string = "",
     .enum_values = tls_versions_or_none},
    {.name = "ssl_ciphers",
     .type = param_type::string,
     .context = param_context::sighup,
     .group = group_connections,
     .description = "Sets the list of allowed SSL ciphers (TLS 1.2 and "
                    "below, in OpenSSL's cipher list format).",
     .default_string = "HIGH:MEDIUM:+3DES:!aNULL"},
    {.name = "ssl_prefer_server_ciphers",
     .type = param_type::boolean,
     .context = param_context::sighup,
     .group = group_connections,
     .description = "Gives priority to the server's cipher order.",
     .default_bool = true},
    {.name = "ssl_ecdh_curve",
     .type = param_type::string,
     .context = param_context::sighup,
     .group = group_connections,
     .description = "Sets the curve to use for ECDH.",
     .default_string = "prime256v1"},
    {.name = "ssl_dh_params_file",
     .type = param_type::string,
     .context = param_context::sighup,
     .group = group_connections,
     .description = "Location of the SSL DH parameters file (relative to "
                    "the data directory; empty: OpenSSL's built-in group).",
     .default_string = ""},
    {.name = "ssl_passphrase_command",
     .type = param_type::string,
     .context = param_context::sighup,
     .group = group_connections,
     .description = "Command to obtain passphrases for SSL (its first line "
                    "of output; %p is the prompt).",
     .default_string = ""},
    {.name = "ssl_passphrase_command_supports_reload",
     .type = param_type::boolean,
     .context = param_context::sighup,
     .group = group_connections,
     .description = "Controls whether ssl_passphrase_command is called "
                    "during server reload.",
     .default_bool = false},
    {.name = "port",
     .type = param_type::integer,
     .context = param_context::postmaster,
     .group = group_connections,
     .description = "Sets the TCP port walmux listens on.",
     .min = 1,
     .max = 65535,
     .default_int = 5433},
    {.name = "metrics_port",
     .type = param_type::integer,
     .context = param_context::postmaster,
     .group = group_connections,
     .description = "Sets the TCP port of the Prometheus metrics endpoint "
                    "(HTTP, on listen_addresses); 0 turns it off.",
     .min = 0,
     .max = 65535,
     .default_int = 0},
    {.name = "upstream_conninfo",
     .type = param_type::string,
     .context = param_context::postmaster,
     .group = group_upstream,
     .description = "Sets the libpq connection string of the upstream "
                    "PostgreSQL that walmux streams from.",
     .default_string = ""},
    {.name = "upstream_publications",
     .type = param_type::string,
     .context = param_context::postmaster,
     .group = group_upstream,
     .description = "Sets the comma-separated list of upstream publications "
                    "that walmux ingests.",
     .default_string = ""},
    {.name = "log_min_messages",
     .type = param_type::enumeration,
     .context = param_context::sighup,
     .group = group_logging,
     .description = "Sets the message levels that are logged.",
     .default_string = "warning",
     .enum_values = elevel_names},
}};

} // namespace

std::span<const parameter_def> parameter_table() {
  return table;
}

const parameter_def* find_parameter(std::string_view name) {
  for (const auto& def : parameter_table()) {
    if (def.name.size() != name.size())
      continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i)
      same = std::tolower(static_cast<unsigned char>(name[i])) == def.name[i];
    if (same)
      return &def;
  }
  return nullptr;
}

} // namespace walmux::config
