// data_dir_test.cpp: walmux init's directory layout, the validity checks, the
// catalog's node record across close and reopen, and the lock.
#include "storage/catalog.hpp"
#include "storage/data_dir.hpp"
#include "storage/record.hpp"
#include "tests/support/process.hpp"

#include <fstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace walmux::storage {
namespace {

node_meta sample_meta() {
  node_meta m;
  m.system_identifier = 7357;
  m.wal_segment_size = 16 << 20;
  return m;
}

TEST(data_dir, init_creates_layout_and_catalog) {
  testing::temp_dir tmp;
  std::string dir = tmp.path() + "/a/b/data"; // parents are created
  ASSERT_TRUE(data_dir_init(dir, "port = 5433\n", sample_meta()));
  EXPECT_EQ(testing::read_file(conf_path(dir)), "port = 5433\n");
  EXPECT_TRUE(testing::path_exists(wal_path(dir)));
  EXPECT_TRUE(data_dir_check(dir));
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  auto cat = catalog::open(catalog_path(dir));
  ASSERT_TRUE(cat) << cat.err().message;
  auto meta = (*cat)->read_node_meta();
  ASSERT_TRUE(meta);
  EXPECT_EQ(meta->system_identifier, 7357u);
  EXPECT_EQ(meta->wal_segment_size, uint64_t{16} << 20);
}

TEST(data_dir, init_refuses_non_empty_directory_and_accepts_empty_one) {
  testing::temp_dir tmp;
  std::ofstream(tmp.path() + "/something") << "x";
  auto st = data_dir_init(tmp.path(), "", sample_meta());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().message,
            "directory \"" + tmp.path() + "\" exists but is not empty");

  testing::temp_dir empty;
  EXPECT_TRUE(data_dir_init(empty.path(), "", sample_meta()));
}

TEST(data_dir, check_rejects_missing_uninitialized_and_open_permissions) {
  testing::temp_dir tmp;
  auto missing = data_dir_check(tmp.path() + "/none");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.err().message,
            "data directory \"" + tmp.path() + "/none\" does not exist");

  ::chmod(tmp.path().c_str(), 0700);
  auto empty = data_dir_check(tmp.path());
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.err().message,
            "\"" + tmp.path() + "\" is not a valid walmux data directory");
  EXPECT_EQ(empty.err().detail,
            "File \"" + tmp.path() + "/walmux.conf\" is missing.");

  std::string dir = tmp.path() + "/d";
  ASSERT_TRUE(data_dir_init(dir, "", sample_meta()));
  ::chmod(dir.c_str(), 0777);
  auto open_perms = data_dir_check(dir);
  ASSERT_FALSE(open_perms);
  EXPECT_EQ(open_perms.err().message,
            "data directory \"" + dir + "\" has invalid permissions");
  ::chmod(dir.c_str(), 0750);
  EXPECT_TRUE(data_dir_check(dir));
}

TEST(data_dir, lock_excludes_a_second_holder_and_is_released) {
  testing::temp_dir tmp;
  {
    auto first = data_dir_lock::acquire(tmp.path());
    ASSERT_TRUE(first);
    EXPECT_EQ(testing::read_file(tmp.path() + "/walmux.pid"),
              std::to_string(::getpid()) + "\n" + tmp.path() + "\n");
    // flock locks belong to the open file description: a second open in the
    // same process conflicts just as another process would.
    auto second = data_dir_lock::acquire(tmp.path());
    ASSERT_FALSE(second);
    EXPECT_EQ(second.err().code, "F0001");
    EXPECT_EQ(second.err().message, "lock file \"walmux.pid\" already exists");
    EXPECT_EQ(second.err().hint,
              "Is another walmux (PID " + std::to_string(::getpid()) +
                  ") running in data directory \"" + tmp.path() + "\"?");
  }
  EXPECT_FALSE(testing::path_exists(tmp.path() + "/walmux.pid"));
  EXPECT_TRUE(data_dir_lock::acquire(tmp.path()));
}

TEST(data_dir, lock_of_a_killed_process_is_not_stale) {
  testing::temp_dir tmp;
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto lock = data_dir_lock::acquire(tmp.path());
    ::kill(::getpid(), SIGKILL); // dies holding the lock, pid file left
    ::_exit(1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_TRUE(testing::path_exists(tmp.path() + "/walmux.pid"));
  EXPECT_TRUE(data_dir_lock::acquire(tmp.path()));
}

TEST(data_dir, system_identifiers_are_random_and_non_zero) {
  auto a = new_system_identifier();
  auto b = new_system_identifier();
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_NE(*a, 0u);
  EXPECT_NE(*a, *b);
}

TEST(catalog, create_refuses_existing_and_open_refuses_missing) {
  testing::temp_dir tmp;
  auto path = tmp.path() + "/cat";
  EXPECT_FALSE(catalog::open(path));
  {
    auto c = catalog::create(path);
    ASSERT_TRUE(c);
    auto none = (*c)->read_node_meta();
    ASSERT_FALSE(none);
    EXPECT_EQ(none.err().message, "catalog has no node metadata");
    ASSERT_TRUE((*c)->write_node_meta(sample_meta()));
  }
  EXPECT_FALSE(catalog::create(path));
  auto reopened = catalog::open(path);
  ASSERT_TRUE(reopened);
  EXPECT_EQ((*reopened)->read_node_meta()->system_identifier, 7357u);
}

} // namespace
} // namespace walmux::storage

namespace walmux::storage {
namespace {

slot_record sample_slot(const std::string& name, uint64_t confirmed) {
  slot_record s;
  s.name = name;
  s.plugin = "pgoutput";
  s.database = "postgres";
  s.options = {{"proto_version", "3"}, {"publication_names", "\"pub\""}};
  s.two_phase = true;
  s.confirmed_flush = lsn(confirmed);
  s.restart_lsn = lsn(confirmed - 1);
  s.restart_position = confirmed * 2;
  return s;
}

TEST(catalog_records, slot_and_origin_round_trip_and_reject_damage) {
  auto s = sample_slot("sub1", 0x153D150);
  s.invalidation_reason = "wal_removed";
  auto bytes = slot_encode(s);
  auto back = slot_decode(bytes);
  ASSERT_TRUE(back) << back.err().detail;
  EXPECT_EQ(back->name, "sub1");
  EXPECT_EQ(back->options, s.options);
  EXPECT_TRUE(back->two_phase);
  EXPECT_EQ(back->confirmed_flush, s.confirmed_flush);
  EXPECT_EQ(back->restart_position, s.restart_position);
  EXPECT_EQ(back->invalidation_reason, "wal_removed");
  for (size_t i = 16; i < bytes.size(); ++i) {
    auto damaged = bytes;
    damaged[i] = static_cast<char>(damaged[i] ^ 1);
    EXPECT_FALSE(slot_decode(damaged)) << "byte " << i;
  }
  origin_record o{3, "pg_16392", lsn(0x1547CA0), lsn(0x99)};
  auto ob = origin_decode(origin_encode(o));
  ASSERT_TRUE(ob);
  EXPECT_EQ(ob->id, 3);
  EXPECT_EQ(ob->name, "pg_16392");
  EXPECT_EQ(ob->remote_lsn, o.remote_lsn);
  EXPECT_FALSE(origin_decode(slot_encode(s))); // wrong kind
}

TEST(catalog, batches_apply_all_or_nothing_and_survive_reopen) {
  testing::temp_dir tmp;
  auto path = tmp.path() + "/cat";
  {
    auto c = catalog::create(path);
    ASSERT_TRUE(c);
    catalog_batch b;
    b.put_slot(sample_slot("a", 100));
    b.put_slot(sample_slot("b", 200));
    b.put_origin({1, "o1", lsn(5), lsn(6)});
    ASSERT_TRUE((*c)->apply(b, true));
    catalog_batch b2;
    b2.delete_slot("a");
    b2.put_slot(sample_slot("b", 300));
    ASSERT_TRUE((*c)->apply(b2, true));
  }
  auto c = catalog::open(path);
  ASSERT_TRUE(c);
  auto slots = (*c)->list_slots();
  ASSERT_TRUE(slots);
  ASSERT_EQ(slots->size(), 1u);
  EXPECT_EQ((*slots)[0].name, "b");
  EXPECT_EQ((*slots)[0].confirmed_flush, lsn(300));
  EXPECT_FALSE((*(*c)->get_slot("a")).has_value());
  auto origins = (*c)->list_origins();
  ASSERT_TRUE(origins);
  ASSERT_EQ(origins->size(), 1u);
  EXPECT_EQ((*origins)[0].local_lsn, lsn(6));
}

TEST(catalog, subscription_stats_round_trip_persist_and_delete) {
  const std::vector<subscription_stats_record> stats = {
      {"s1", 3, 1, 2, 5, 8, 1795700000000000}, {"other", 0, 0, 0, 0, 0, 0}};
  auto back = subscription_stats_decode(subscription_stats_encode(stats));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, stats);
  EXPECT_FALSE(
      subscription_stats_decode(origin_encode({1, "o", lsn(1), lsn(2)})));
  const std::string bytes = subscription_stats_encode(stats);
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(subscription_stats_decode(bytes.substr(0, n))) << n;

  testing::temp_dir tmp;
  auto c = catalog::create(tmp.path() + "/cat");
  ASSERT_TRUE(c);
  auto none = (*c)->read_subscription_stats();
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  catalog_batch put;
  put.put_subscription_stats(stats);
  ASSERT_TRUE((*c)->apply(put, true));
  auto read = (*c)->read_subscription_stats();
  ASSERT_TRUE(read);
  EXPECT_EQ(*read, stats);
  catalog_batch del;
  del.delete_subscription_stats();
  ASSERT_TRUE((*c)->apply(del, true));
  read = (*c)->read_subscription_stats();
  ASSERT_TRUE(read);
  EXPECT_TRUE(read->empty());
}

TEST(catalog, subscription_records_round_trip_and_persist) {
  subscription_record r;
  r.oid = 16400;
  r.name = "s1";
  r.conninfo = "host=127.0.0.1 port=5432 dbname=postgres";
  r.publications = {"p1", "p2"};
  r.options = {{"target", "dbname=t"}, {"copy_data", "false"}};
  r.enabled = false;
  r.skip_lsn = lsn(0x1234);
  r.slot_created = true;
  r.copy_done = true;
  r.copy_attempts = 2;
  r.tables = {{"public", "a", 'r', lsn(77), 16500}, {"s", "b", 'd', lsn(), 0}};
  r.target_key = "s0"; // renamed from s0 to s1
  auto back = subscription_decode(subscription_encode(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, r);
  // A version-1 record (no target_key, written before RENAME existed)
  // reads its key as its name.
  {
    auto v2 = record_decode(subscription_encode(r), "test");
    ASSERT_TRUE(v2);
    std::string payload(v2->payload);
    payload.resize(payload.size() - 4 - r.target_key.size());
    auto v1 = subscription_decode(
        record_encode(record_kind::subscription, 1, payload));
    ASSERT_TRUE(v1) << v1.err().message;
    EXPECT_EQ(v1->target_key, "s1");
    EXPECT_EQ(v1->tables, r.tables);
  }
  EXPECT_FALSE(subscription_decode(origin_encode({1, "o", lsn(1), lsn(2)})));
  // Every truncation is refused, never read past.
  const std::string bytes = subscription_encode(r);
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(subscription_decode(bytes.substr(0, n))) << n;

  testing::temp_dir tmp;
  const auto path = tmp.path() + "/cat";
  {
    auto c = catalog::create(path);
    ASSERT_TRUE(c);
    catalog_batch b;
    b.put_subscription(r);
    ASSERT_TRUE((*c)->apply(b, true));
  }
  auto c = catalog::open(path);
  ASSERT_TRUE(c);
  auto subs = (*c)->list_subscriptions();
  ASSERT_TRUE(subs);
  ASSERT_EQ(subs->size(), 1u);
  EXPECT_EQ((*subs)[0], r);
  catalog_batch d;
  d.delete_subscription("s1");
  ASSERT_TRUE((*c)->apply(d, true));
  EXPECT_TRUE((*c)->list_subscriptions()->empty());
}

} // namespace
} // namespace walmux::storage
