// repl_command_test.cpp: replication commands exactly as PostgreSQL 14-17
// subscribers and pg_recvlogical send them (shared/notes/protocol.md), the
// lexical rules of repl_scanner.l and PostgreSQL's error texts.
#include "protocol/repl_command.hpp"

#include <gtest/gtest.h>

namespace walmux::repl {
namespace {

template <class T>
T parse_as(std::string_view text) {
  auto r = parse_command(text);
  EXPECT_TRUE(r) << text << ": " << (r ? "" : r.err().message);
  EXPECT_TRUE(r && *r) << text
                       << " was not recognized as a replication command";
  EXPECT_TRUE(r && *r && std::holds_alternative<T>(**r)) << text;
  return (r && *r && std::holds_alternative<T>(**r)) ? std::get<T>(**r) : T{};
}

std::string parse_error(std::string_view text) {
  auto r = parse_command(text);
  EXPECT_FALSE(r) << text;
  if (r)
    return "";
  EXPECT_EQ(r.err().code, "42601") << text;
  return r.err().message;
}

using k = option::kind;

TEST(repl_command, identify_system_and_sql_dispatch) {
  parse_as<identify_system>("IDENTIFY_SYSTEM");
  parse_as<identify_system>("  IDENTIFY_SYSTEM ;");
  for (const char* sql :
       {"SELECT pg_catalog.set_config('search_path', '', false);",
        "identify_system", // keywords are upper case only
        "BEGIN READ ONLY ISOLATION LEVEL REPEATABLE READ", "", "   ",
        "COPY public.t1 (id) TO STDOUT", "\"IDENTIFY_SYSTEM\""}) {
    auto r = parse_command(sql);
    ASSERT_TRUE(r) << sql;
    EXPECT_FALSE(r->has_value()) << sql;
  }
}

TEST(repl_command, create_slot_new_syntax_from_subscribers) {
  auto c = parse_as<create_replication_slot>(
      "CREATE_REPLICATION_SLOT \"sub1\" LOGICAL pgoutput (SNAPSHOT 'nothing')");
  EXPECT_EQ(c.slot, "sub1");
  EXPECT_TRUE(c.logical);
  EXPECT_FALSE(c.temporary);
  EXPECT_EQ(c.plugin, "pgoutput");
  EXPECT_EQ(c.options,
            (std::vector<option>{{"snapshot", k::string, "nothing"}}));
  auto opts = interpret_create_slot_options(c);
  ASSERT_TRUE(opts);
  EXPECT_EQ(opts->snapshot, snapshot_action::nothing);

  auto two = parse_as<create_replication_slot>(
      "CREATE_REPLICATION_SLOT \"sub1\" LOGICAL pgoutput (TWO_PHASE, SNAPSHOT "
      "'nothing')");
  EXPECT_EQ(two.options[0].name, "two_phase");
  EXPECT_TRUE(interpret_create_slot_options(two)->two_phase);

  auto sync = parse_as<create_replication_slot>(
      "CREATE_REPLICATION_SLOT \"pg_16392_sync_16384_7712375640747610842\" "
      "LOGICAL pgoutput (SNAPSHOT 'use')");
  EXPECT_EQ(sync.slot, "pg_16392_sync_16384_7712375640747610842");
  EXPECT_EQ(interpret_create_slot_options(sync)->snapshot,
            snapshot_action::use);

  auto failover = parse_as<create_replication_slot>(
      "CREATE_REPLICATION_SLOT \"s\" LOGICAL pgoutput (FAILOVER, SNAPSHOT "
      "'nothing')");
  EXPECT_TRUE(interpret_create_slot_options(failover)->failover);
}

TEST(repl_command, create_slot_from_pg_recvlogical_and_legacy_words) {
  auto rl = parse_as<create_replication_slot>(
      "CREATE_REPLICATION_SLOT \"rl1\" LOGICAL \"pgoutput\" ( SNAPSHOT "
      "'nothing')");
  EXPECT_EQ(rl.plugin, "pgoutput");
  auto rl2 = parse_as<create_replication_slot>(
      "CREATE_REPLICATION_SLOT \"rl1\" LOGICAL \"pgoutput\" ( TWO_PHASE,  "
      "SNAPSHOT 'nothing')");
  EXPECT_EQ(rl2.options.size(), 2u);

  auto legacy = parse_as<create_replication_slot>(
      "CREATE_REPLICATION_SLOT \"sub1\" LOGICAL pgoutput NOEXPORT_SNAPSHOT");
  EXPECT_EQ(interpret_create_slot_options(legacy)->snapshot,
            snapshot_action::nothing);
  auto legacy2 = parse_as<create_replication_slot>(
      "CREATE_REPLICATION_SLOT \"sub1\" LOGICAL pgoutput TWO_PHASE "
      "NOEXPORT_SNAPSHOT");
  auto o2 = interpret_create_slot_options(legacy2);
  ASSERT_TRUE(o2);
  EXPECT_TRUE(o2->two_phase);
  auto use = parse_as<create_replication_slot>(
      "CREATE_REPLICATION_SLOT \"x\" LOGICAL pgoutput USE_SNAPSHOT");
  EXPECT_EQ(interpret_create_slot_options(use)->snapshot, snapshot_action::use);
  auto w2j = parse_as<create_replication_slot>(
      "CREATE_REPLICATION_SLOT \"rl1\" LOGICAL \"wal2json\" NOEXPORT_SNAPSHOT");
  EXPECT_EQ(w2j.plugin, "wal2json");
  // No options at all: export by default, as PostgreSQL.
  auto plain = parse_as<create_replication_slot>(
      "CREATE_REPLICATION_SLOT s TEMPORARY LOGICAL test_decoding");
  EXPECT_TRUE(plain.temporary);
  EXPECT_EQ(interpret_create_slot_options(plain)->snapshot,
            snapshot_action::export_snapshot);
  auto phys = parse_as<create_replication_slot>(
      "CREATE_REPLICATION_SLOT p PHYSICAL RESERVE_WAL");
  EXPECT_FALSE(phys.logical);
  EXPECT_TRUE(interpret_create_slot_options(phys)->reserve_wal);
}

TEST(repl_command, create_slot_option_errors) {
  auto twice =
      parse_as<create_replication_slot>("CREATE_REPLICATION_SLOT s LOGICAL p "
                                        "(SNAPSHOT 'use', SNAPSHOT 'nothing')");
  EXPECT_EQ(interpret_create_slot_options(twice).err().message,
            "conflicting or redundant options");
  auto bad = parse_as<create_replication_slot>(
      "CREATE_REPLICATION_SLOT s LOGICAL p (SNAPSHOT 'sometimes')");
  EXPECT_EQ(interpret_create_slot_options(bad).err().message,
            "unrecognized value for CREATE_REPLICATION_SLOT option "
            "\"snapshot\": \"sometimes\"");
  auto unknown = parse_as<create_replication_slot>(
      "CREATE_REPLICATION_SLOT s LOGICAL p (colour 'red')");
  EXPECT_EQ(interpret_create_slot_options(unknown).err().message,
            "unrecognized option: colour");
  auto boolean = parse_as<create_replication_slot>(
      "CREATE_REPLICATION_SLOT s LOGICAL p (TWO_PHASE 'perhaps')");
  EXPECT_EQ(interpret_create_slot_options(boolean).err().message,
            "two_phase requires a Boolean value");
  auto off = parse_as<create_replication_slot>(
      "CREATE_REPLICATION_SLOT s LOGICAL p (TWO_PHASE false, FAILOVER 0)");
  auto o = interpret_create_slot_options(off);
  ASSERT_TRUE(o);
  EXPECT_FALSE(o->two_phase);
  EXPECT_FALSE(o->failover);
  auto phys_two = parse_as<create_replication_slot>(
      "CREATE_REPLICATION_SLOT p PHYSICAL (TWO_PHASE)");
  EXPECT_FALSE(interpret_create_slot_options(phys_two));
}

TEST(repl_command, start_replication_as_clients_send_it) {
  auto apply = parse_as<start_replication>(
      "START_REPLICATION SLOT \"sub1\" LOGICAL 0/0 (proto_version '3', "
      "publication_names '\"pub1\"')");
  EXPECT_TRUE(apply.logical);
  EXPECT_EQ(*apply.slot, "sub1");
  EXPECT_EQ(apply.start, lsn(0));
  EXPECT_EQ(apply.options, (std::vector<option>{
                               {"proto_version", k::string, "3"},
                               {"publication_names", k::string, "\"pub1\""}}));

  auto full = parse_as<start_replication>(
      "START_REPLICATION SLOT \"sub1\" LOGICAL 0/153D188 (proto_version '4', "
      "streaming 'parallel', two_phase 'on', origin 'any', publication_names "
      "'\"pub2\",\"Pub 3\"', binary 'true')");
  EXPECT_EQ(lsn_to_string(full.start), "0/153D188");
  ASSERT_EQ(full.options.size(), 6u);
  EXPECT_EQ(full.options[4].value, "\"pub2\",\"Pub 3\"");

  auto rl = parse_as<start_replication>(
      "START_REPLICATION SLOT \"rl1\" LOGICAL 0/0 (\"proto_version\" '1', "
      "\"publication_names\" 'pub1', \"messages\" 'true', \"include-xids\")");
  ASSERT_EQ(rl.options.size(), 4u);
  EXPECT_EQ(rl.options[3], (option{"include-xids", k::none, ""}));

  auto no_opts =
      parse_as<start_replication>("START_REPLICATION SLOT s LOGICAL 1/A");
  EXPECT_EQ(no_opts.start.value, 0x10000000Aull);
  EXPECT_TRUE(no_opts.options.empty());
}

TEST(repl_command, start_physical_and_other_commands) {
  auto p =
      parse_as<start_replication>("START_REPLICATION 0/3000000 TIMELINE 1");
  EXPECT_FALSE(p.logical);
  EXPECT_FALSE(p.slot.has_value());
  EXPECT_EQ(p.timeline, 1u);
  auto ps = parse_as<start_replication>(
      "START_REPLICATION SLOT s PHYSICAL 0/3000000");
  EXPECT_FALSE(ps.logical);
  EXPECT_EQ(*ps.slot, "s");

  auto d =
      parse_as<drop_replication_slot>("DROP_REPLICATION_SLOT \"sub1\" WAIT");
  EXPECT_EQ(d.slot, "sub1");
  EXPECT_TRUE(d.wait);
  auto d2 = parse_as<drop_replication_slot>("DROP_REPLICATION_SLOT sub1");
  EXPECT_FALSE(d2.wait);
  auto a = parse_as<alter_replication_slot>(
      "ALTER_REPLICATION_SLOT s ( FAILOVER true )");
  EXPECT_EQ(a.options,
            (std::vector<option>{{"failover", k::identifier, "true"}}));
  EXPECT_EQ(parse_as<show>("SHOW data_directory_mode").name,
            "data_directory_mode");
  EXPECT_EQ(parse_as<show>("SHOW a.b").name, "a.b");
  EXPECT_EQ(parse_as<read_replication_slot>("READ_REPLICATION_SLOT s").slot,
            "s");
  EXPECT_EQ(parse_as<timeline_history>("TIMELINE_HISTORY 2").timeline, 2u);
  EXPECT_EQ(
      parse_as<base_backup>("BASE_BACKUP (LABEL 'x', PROGRESS, MAX_RATE 32)")
          .options.size(),
      3u);
  parse_as<base_backup>("BASE_BACKUP");
  parse_as<upload_manifest>("UPLOAD_MANIFEST");
}

TEST(repl_command, identifiers_fold_quote_and_truncate) {
  EXPECT_EQ(
      parse_as<drop_replication_slot>("DROP_REPLICATION_SLOT MySlot").slot,
      "myslot");
  EXPECT_EQ(
      parse_as<drop_replication_slot>("DROP_REPLICATION_SLOT \"MySlot\"").slot,
      "MySlot");
  EXPECT_EQ(
      parse_as<drop_replication_slot>("DROP_REPLICATION_SLOT \"a b\"").slot,
      "a b");
  std::string long_name(70, 'x');
  EXPECT_EQ(
      parse_as<drop_replication_slot>("DROP_REPLICATION_SLOT " + long_name)
          .slot,
      std::string(63, 'x'));
  // 62 ASCII bytes then a 2-byte character: cut before it, not inside.
  std::string utf8 = std::string(62, 'y') + "\xc3\xa9" + "z";
  EXPECT_EQ(
      parse_as<drop_replication_slot>("DROP_REPLICATION_SLOT \"" + utf8 + "\"")
          .slot,
      std::string(62, 'y'));
  // Strings double their quotes.
  auto s = parse_as<start_replication>(
      "START_REPLICATION SLOT s LOGICAL 0/0 (x 'it''s')");
  EXPECT_EQ(s.options[0].value, "it's");
}

TEST(repl_command, errors_match_postgres) {
  EXPECT_EQ(parse_error("IDENTIFY_SYSTEM extra"), "syntax error");
  EXPECT_EQ(parse_error("CREATE_REPLICATION_SLOT"), "syntax error");
  EXPECT_EQ(parse_error("CREATE_REPLICATION_SLOT s LOGICAL"), "syntax error");
  EXPECT_EQ(parse_error("CREATE_REPLICATION_SLOT s pgoutput"), "syntax error");
  EXPECT_EQ(parse_error("CREATE_REPLICATION_SLOT s LOGICAL p (SNAPSHOT 'x'"),
            "syntax error");
  EXPECT_EQ(parse_error("CREATE_REPLICATION_SLOT s LOGICAL p ()"),
            "syntax error");
  EXPECT_EQ(parse_error("START_REPLICATION SLOT s LOGICAL"), "syntax error");
  EXPECT_EQ(parse_error("START_REPLICATION SLOT s LOGICAL 0/0 (x 'a' 'b')"),
            "syntax error");
  EXPECT_EQ(parse_error("START_REPLICATION SLOT s LOGICAL 0/0 ('x')"),
            "syntax error");
  EXPECT_EQ(parse_error("DROP_REPLICATION_SLOT 'quoted'"), "syntax error");
  EXPECT_EQ(parse_error("DROP_REPLICATION_SLOT s WAIT WAIT"), "syntax error");
  EXPECT_EQ(parse_error("IDENTIFY_SYSTEM;;"), "syntax error");
  EXPECT_EQ(parse_error("DROP_REPLICATION_SLOT \"open"),
            "unterminated quoted string");
  EXPECT_EQ(parse_error("START_REPLICATION SLOT s LOGICAL 0/0 (x 'open"),
            "unterminated quoted string");
  EXPECT_EQ(parse_error("START_REPLICATION SLOT s LOGICAL 123456789/0"),
            "invalid streaming start location");
  EXPECT_EQ(parse_error("TIMELINE_HISTORY 0"), "invalid timeline 0");
  EXPECT_EQ(parse_error("START_REPLICATION 0/0 TIMELINE 0"),
            "invalid timeline 0");
}

} // namespace
} // namespace walmux::repl
