// settings_test.cpp: every parameter's default and derived rule, bounds,
// PostgreSQL's error texts, cross-parameter rules, file loading with file and
// line in errors, -c overrides, SIGHUP reload, and the generated sample file.
#include "config/conf_file.hpp"
#include "config/settings.hpp"
#include "tests/support/process.hpp"

#include <fstream>

#include <gtest/gtest.h>

namespace walmux::config {
namespace {

settings with(std::initializer_list<std::pair<const char*, const char*>> kv,
              int vcpus = 2) {
  settings s(machine_facts{vcpus});
  for (const auto& [k, v] : kv) {
    auto st = s.set(k, v, value_source::command_line);
    EXPECT_TRUE(st) << k << "=" << v << ": " << to_string(st.err());
  }
  return s;
}

error set_error(const char* name, const char* value) {
  settings s(machine_facts{2});
  auto st = s.set(name, value, value_source::command_line);
  EXPECT_FALSE(st) << name << "=" << value;
  return st ? error{} : st.err();
}

TEST(settings, defaults_of_every_parameter) {
  settings s(machine_facts{2});
  EXPECT_EQ(*s.show("rds.logical_replication"), "off");
  EXPECT_EQ(*s.show("wal_level"), "replica");
  EXPECT_EQ(*s.show("max_replication_slots"), "20");
  EXPECT_EQ(*s.show("max_wal_senders"), "20");
  EXPECT_EQ(*s.show("max_logical_replication_workers"), "4");
  EXPECT_EQ(*s.show("max_worker_processes"), "8");
  EXPECT_EQ(*s.show("shared_buffers"), "128MB");
  EXPECT_EQ(*s.show("rds.logical_wal_cache"), "4MB");
  EXPECT_EQ(*s.show("wal_segment_size"), "64MB");
  EXPECT_EQ(*s.show("listen_addresses"), "127.0.0.1");
  EXPECT_EQ(*s.show("port"), "5433");
  EXPECT_EQ(*s.show("upstream_conninfo"), "");
  EXPECT_EQ(*s.show("upstream_publications"), "");
  EXPECT_EQ(*s.show("wal_sender_timeout"), "1min");
  EXPECT_EQ(*s.show("max_slot_wal_keep_size"), "-1");
  EXPECT_EQ(*s.show("log_min_messages"), "warning");
  EXPECT_EQ(s.show_all().size(), parameter_table().size());
  EXPECT_TRUE(s.check_cross_rules());
}

TEST(settings, every_parameter_default_is_within_its_bounds) {
  for (const auto& def : parameter_table()) {
    if (def.type != param_type::integer)
      continue;
    int64_t d = def.dynamic_default ? def.dynamic_default(machine_facts{64})
                                    : def.default_int;
    EXPECT_GE(d, def.min) << def.name;
    EXPECT_LE(d, def.max) << def.name;
    EXPECT_FALSE(def.description.empty()) << def.name;
  }
}

TEST(settings, max_worker_processes_default_is_greatest_of_twice_vcpu_and_8) {
  EXPECT_EQ(settings(machine_facts{1}).get_int("max_worker_processes"), 8);
  EXPECT_EQ(settings(machine_facts{4}).get_int("max_worker_processes"), 8);
  EXPECT_EQ(settings(machine_facts{5}).get_int("max_worker_processes"), 10);
  EXPECT_EQ(settings(machine_facts{16}).get_int("max_worker_processes"), 32);
}

TEST(settings, wal_level_follows_rds_logical_replication) {
  EXPECT_EQ(*with({{"rds.logical_replication", "on"}}).show("wal_level"),
            "logical");
  EXPECT_EQ(*with({{"rds.logical_replication", "1"}}).show("wal_level"),
            "logical");
  EXPECT_EQ(*with({{"rds.logical_replication", "off"}}).show("wal_level"),
            "replica");
  auto e = set_error("wal_level", "logical");
  EXPECT_EQ(e.message, "parameter \"wal_level\" cannot be changed");
  EXPECT_EQ(e.code, "55P02");
}

TEST(settings, logical_wal_cache_automatic_size_rule) {
  // 1/32 of shared_buffers, at least 64kB, at most one WAL segment.
  auto s1 = with({{"shared_buffers", "1MB"}});
  EXPECT_EQ(s1.logical_wal_cache_bytes(), 64 * 1024);
  EXPECT_EQ(*s1.show("rds.logical_wal_cache"), "64kB");
  auto s128 = with({{"shared_buffers", "128MB"}});
  EXPECT_EQ(s128.logical_wal_cache_bytes(), 4 << 20);
  EXPECT_EQ(*s128.show("rds.logical_wal_cache"), "4MB");
  auto s1g = with({{"shared_buffers", "1GB"}});
  EXPECT_EQ(s1g.logical_wal_cache_bytes(), 32 << 20);
  EXPECT_EQ(*s1g.show("rds.logical_wal_cache"), "32MB");
  auto s1g16 = with({{"shared_buffers", "1GB"}, {"wal_segment_size", "16MB"}});
  EXPECT_EQ(s1g16.logical_wal_cache_bytes(), 16 << 20);
  auto s8g = with({{"shared_buffers", "8GB"}});
  EXPECT_EQ(s8g.logical_wal_cache_bytes(), 64 << 20);
}

TEST(settings, logical_wal_cache_explicit_values) {
  // Any positive value under 32kB counts as 32kB.
  auto s10k = with({{"rds.logical_wal_cache", "10kB"}});
  EXPECT_EQ(s10k.logical_wal_cache_bytes(), 32 * 1024);
  EXPECT_EQ(*s10k.show("rds.logical_wal_cache"), "32kB");
  EXPECT_EQ(with({{"rds.logical_wal_cache", "1"}}).logical_wal_cache_bytes(),
            32 * 1024);
  EXPECT_EQ(with({{"rds.logical_wal_cache", "40kB"}}).logical_wal_cache_bytes(),
            40 * 1024);
  EXPECT_EQ(with({{"rds.logical_wal_cache", "64MB"}}).logical_wal_cache_bytes(),
            64 << 20);
  auto zero = set_error("rds.logical_wal_cache", "0");
  EXPECT_EQ(zero.message,
            "invalid value for parameter \"rds.logical_wal_cache\": 0");
  EXPECT_FALSE(zero.detail.empty());
  EXPECT_EQ(set_error("rds.logical_wal_cache", "-2").message,
            "-2 8kB is outside the valid range for parameter "
            "\"rds.logical_wal_cache\" (-1 .. 262143)");
}

TEST(settings, integer_bounds_are_rejected_never_clamped) {
  auto e = set_error("max_wal_senders", "-5");
  EXPECT_EQ(e.message, "-5 is outside the valid range for parameter "
                       "\"max_wal_senders\" (0 .. 262143)");
  EXPECT_EQ(e.code, "22023");
  EXPECT_EQ(set_error("max_replication_slots", "262144").message,
            "262144 is outside the valid range for parameter "
            "\"max_replication_slots\" (0 .. 262143)");
  EXPECT_EQ(set_error("shared_buffers", "64kB").message,
            "8 8kB is outside the valid range for parameter \"shared_buffers\" "
            "(16 .. 1073741823)");
  EXPECT_EQ(set_error("wal_sender_timeout", "-5").message,
            "-5 ms is outside the valid range for parameter "
            "\"wal_sender_timeout\" (0 .. 2147483647)");
  EXPECT_EQ(set_error("port", "0").message,
            "0 is outside the valid range for parameter \"port\" (1 .. 65535)");
  EXPECT_EQ(set_error("max_slot_wal_keep_size", "-2").message,
            "-2 MB is outside the valid range for parameter "
            "\"max_slot_wal_keep_size\" (-1 .. 2147483647)");
  // Values at the bounds are accepted as they are.
  EXPECT_EQ(with({{"max_wal_senders", "262143"}}).get_int("max_wal_senders"),
            262143);
  EXPECT_EQ(with({{"max_wal_senders", "0"}}).get_int("max_wal_senders"), 0);
}

TEST(settings, wal_segment_size_must_be_power_of_two_from_1MB_to_1GB) {
  EXPECT_EQ(with({{"wal_segment_size", "64MB"}}).get_int("wal_segment_size"),
            64 << 20);
  EXPECT_EQ(with({{"wal_segment_size", "1GB"}}).get_int("wal_segment_size"),
            1 << 30);
  auto e = set_error("wal_segment_size", "3MB");
  EXPECT_EQ(e.message,
            "invalid value for parameter \"wal_segment_size\": 3145728");
  EXPECT_EQ(e.detail,
            "wal_segment_size must be a power of two between 1MB and 1GB.");
  EXPECT_EQ(set_error("wal_segment_size", "512kB").message,
            "524288 B is outside the valid range for parameter "
            "\"wal_segment_size\" (1048576 .. 1073741824)");
}

TEST(settings, type_errors_use_postgres_wording) {
  auto e = set_error("max_wal_senders", "abc");
  EXPECT_EQ(e.message,
            "invalid value for parameter \"max_wal_senders\": \"abc\"");
  EXPECT_EQ(e.code, "22023");
  EXPECT_EQ(set_error("rds.logical_replication", "maybe").message,
            "parameter \"rds.logical_replication\" requires a Boolean value");
  auto units = set_error("shared_buffers", "12XB");
  EXPECT_EQ(units.message,
            "invalid value for parameter \"shared_buffers\": \"12XB\"");
  EXPECT_EQ(units.hint, "Valid units for this parameter are \"B\", \"kB\", "
                        "\"MB\", \"GB\", and \"TB\".");
  auto level = set_error("log_min_messages", "loud");
  EXPECT_EQ(level.message,
            "invalid value for parameter \"log_min_messages\": \"loud\"");
  EXPECT_EQ(level.hint,
            "Available values: debug5, debug4, debug3, debug2, debug1, info, "
            "notice, warning, error, log, fatal, panic.");
  auto unknown = set_error("no_such_thing", "1");
  EXPECT_EQ(unknown.message,
            "unrecognized configuration parameter \"no_such_thing\"");
  EXPECT_EQ(unknown.code, "42704");
}

TEST(settings, booleans_and_enums_accept_postgres_spellings) {
  for (const char* yes : {"on", "ON", "true", "t", "yes", "y", "1", "TRUE"})
    EXPECT_TRUE(with({{"rds.logical_replication", yes}})
                    .get_bool("rds.logical_replication"))
        << yes;
  for (const char* no : {"off", "of", "false", "f", "no", "n", "0"})
    EXPECT_FALSE(with({{"rds.logical_replication", no}})
                     .get_bool("rds.logical_replication"))
        << no;
  set_error("rds.logical_replication", "o"); // ambiguous: on or off
  EXPECT_EQ(*with({{"log_min_messages", "DEBUG1"}}).show("log_min_messages"),
            "debug1");
  EXPECT_EQ(*with({{"Max_WAL_Senders", "3"}}).show("max_wal_senders"), "3");
  // An enum keeps PostgreSQL's spelling whatever the case written.
  EXPECT_EQ(*with({{"ssl_min_protocol_version", "tlsv1.3"}})
                 .show("ssl_min_protocol_version"),
            "TLSv1.3");
  EXPECT_EQ(*with({{"ssl_max_protocol_version", ""}})
                 .show("ssl_max_protocol_version"),
            "");
  EXPECT_EQ(set_error("ssl_max_protocol_version", "SSLv3").hint,
            "Available values: , TLSv1, TLSv1.1, TLSv1.2, TLSv1.3.");
}

TEST(settings, upstream_publications_is_an_identifier_list) {
  auto s = with({{"upstream_publications", "testpub, \"Other Pub\",THIRD"}});
  EXPECT_EQ(s.upstream_publications(),
            (std::vector<std::string>{"testpub", "Other Pub", "third"}));
  EXPECT_TRUE(
      with({{"upstream_publications", ""}}).upstream_publications().empty());
  for (const char* bad :
       {"a,,b", "a,", ",a", "\"unterminated", "a b", "\"\""}) {
    auto e = set_error("upstream_publications", bad);
    EXPECT_EQ(e.message,
              "invalid list syntax in parameter \"upstream_publications\"")
        << bad;
  }
}

TEST(settings, cross_rule_logical_workers_within_worker_processes) {
  auto s = with({{"max_logical_replication_workers", "9"}}, 2);
  auto st = s.check_cross_rules();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().message, "invalid value for parameter "
                              "\"max_logical_replication_workers\": 9");
  EXPECT_EQ(st.err().detail, "\"max_logical_replication_workers\" (9) must not "
                             "exceed \"max_worker_processes\" (8).");
  EXPECT_TRUE(with({{"max_logical_replication_workers", "9"}}, 8)
                  .check_cross_rules()); // 16 worker processes on 8 vCPU
  EXPECT_TRUE(with({{"max_logical_replication_workers", "9"},
                    {"max_worker_processes", "9"}})
                  .check_cross_rules());
}

TEST(settings, cross_rule_upstream_needs_publications) {
  auto s = with({{"upstream_conninfo", "host=127.0.0.1 port=5432"}});
  auto st = s.check_cross_rules();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().message, "parameter \"upstream_publications\" must be set "
                              "when \"upstream_conninfo\" is set");
  EXPECT_TRUE(with({{"upstream_conninfo", "host=127.0.0.1"},
                    {"upstream_publications", "testpub"}})
                  .check_cross_rules());
}

class settings_file : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    std::string path = dir_.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  testing::temp_dir dir_;
};

TEST_F(settings_file, loads_values_and_command_line_overrides_file) {
  auto path = write("walmux.conf",
                    "# comment\n"
                    "rds.logical_replication = on\n"
                    "max_wal_senders 7   # no equals sign\n"
                    "shared_buffers = '256MB'\n"
                    "wal_sender_timeout = 30s\n"
                    "max_wal_senders = 9\n"); // later line wins
  auto s =
      load_settings(path, {{"wal_sender_timeout", "45s"}}, machine_facts{2});
  ASSERT_TRUE(s) << to_string(s.err());
  EXPECT_EQ(*s->show("wal_level"), "logical");
  EXPECT_EQ(s->get_int("max_wal_senders"), 9);
  EXPECT_EQ(*s->show("shared_buffers"), "256MB");
  EXPECT_EQ(*s->show("wal_sender_timeout"), "45s");
  EXPECT_EQ(s->source_of("wal_sender_timeout"), value_source::command_line);
  EXPECT_EQ(s->source_of("shared_buffers"), value_source::file);
  EXPECT_EQ(s->source_of("port"), value_source::default_value);
}

TEST_F(settings_file, invalid_value_names_file_and_line) {
  auto path = write("walmux.conf", "port = 6000\n\nmax_wal_senders = abc\n");
  auto s = load_settings(path, {}, machine_facts{2});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.err().message,
            "invalid value for parameter \"max_wal_senders\": \"abc\"");
  EXPECT_EQ(s.err().context, "line 3 of configuration file \"" + path + "\"");
}

TEST_F(settings_file, unknown_parameter_and_syntax_errors_name_file_and_line) {
  auto p1 = write("a.conf", "max_wal_sender = 3\n");
  auto s1 = load_settings(p1, {}, machine_facts{2});
  ASSERT_FALSE(s1);
  EXPECT_EQ(s1.err().message,
            "unrecognized configuration parameter \"max_wal_sender\"");
  EXPECT_EQ(s1.err().context, "line 1 of configuration file \"" + p1 + "\"");

  auto p2 = write("b.conf", "port = 1\nport = 1 2\n");
  auto s2 = load_settings(p2, {}, machine_facts{2});
  ASSERT_FALSE(s2);
  EXPECT_EQ(s2.err().message,
            "syntax error in file \"" + p2 + "\" line 2, near token \"2\"");
}

TEST_F(settings_file, cross_rules_checked_after_file_and_overrides) {
  auto path = write("walmux.conf", "max_logical_replication_workers = 10\n");
  EXPECT_FALSE(load_settings(path, {}, machine_facts{2}));
  EXPECT_TRUE(
      load_settings(path, {{"max_worker_processes", "10"}}, machine_facts{2}));
}

TEST_F(settings_file, missing_file_is_an_error) {
  auto s = load_settings(dir_.path() + "/nope.conf", {}, machine_facts{2});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.err().message, "could not open configuration file \"" +
                                 dir_.path() +
                                 "/nope.conf\": No such file or directory");
}

TEST_F(settings_file, sample_config_loads_to_defaults_with_replication_on) {
  auto path = write("walmux.conf", sample_config_text(machine_facts{2}));
  auto s = load_settings(path, {}, machine_facts{2});
  ASSERT_TRUE(s) << to_string(s.err());
  settings defaults(machine_facts{2});
  for (const auto& def : parameter_table()) {
    if (def.name == "rds.logical_replication" || def.name == "wal_level")
      continue;
    EXPECT_EQ(*s->show(def.name), *defaults.show(def.name)) << def.name;
  }
  EXPECT_TRUE(s->logical_replication());
  EXPECT_EQ(*s->show("wal_level"), "logical");
  // Every settable parameter appears in the sample with its description.
  auto text = sample_config_text(machine_facts{2});
  for (const auto& def : parameter_table()) {
    if (def.hidden_in_sample)
      continue;
    EXPECT_NE(text.find(std::string(def.name) + " = "), std::string::npos)
        << def.name;
    EXPECT_NE(text.find(std::string(def.description)), std::string::npos)
        << def.name;
  }
  EXPECT_NE(text.find("\nrds.logical_replication = on\n"), std::string::npos);
  EXPECT_NE(text.find("\n#max_wal_senders = 20\n"), std::string::npos);
  EXPECT_NE(text.find("\n#shared_buffers = 128MB\n"), std::string::npos);
  EXPECT_NE(text.find("\n#listen_addresses = '127.0.0.1'\n"),
            std::string::npos);
}

TEST(settings_reload, applies_sighup_parameters_and_reports_restart_ones) {
  auto current = with({{"wal_sender_timeout", "60s"}, {"port", "5433"}});
  auto fresh = with({{"wal_sender_timeout", "30s"},
                     {"port", "6000"},
                     {"log_min_messages", "info"}});
  auto lines = apply_reload(current, fresh);
  EXPECT_EQ(lines,
            (std::vector<std::string>{
                "parameter \"wal_sender_timeout\" changed to \"30s\"",
                "parameter \"port\" cannot be changed without restarting "
                "the server",
                "parameter \"log_min_messages\" changed to \"info\"",
            }));
  EXPECT_EQ(current.get_int("wal_sender_timeout"), 30000);
  EXPECT_EQ(current.get_int("port"), 5433);
  EXPECT_EQ(current.get_string("log_min_messages"), "info");
  EXPECT_TRUE(apply_reload(current, current).empty());
}

TEST(settings_docs, markdown_lists_every_parameter_and_is_current) {
  auto md = parameters_markdown();
  for (const auto& def : parameter_table())
    EXPECT_NE(md.find("| `" + std::string(def.name) + "` |"),
              std::string::npos);
  EXPECT_NE(md.find("`GREATEST(2 x vCPU, 8)`"), std::string::npos);
  EXPECT_EQ(testing::read_file(WALMUX_SOURCE_DIR "/docs/parameters.md"), md)
      << "docs/parameters.md is stale: regenerate it with "
         "build/walmux --describe-config --markdown > docs/parameters.md";
}

} // namespace
} // namespace walmux::config
