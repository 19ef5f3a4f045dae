// pg_cluster_test.cpp: the throw-away cluster fixture against real PostgreSQL
// 15: two clusters at once, logical slots with pgoutput and wal2json, and
// cleanup proven both on normal destruction and after the owning process is
// killed with SIGKILL.
#include "tests/support/pg_cluster.hpp"
#include "tests/support/process.hpp"

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace walmux::testing {
namespace {

using namespace std::chrono_literals;

TEST(pg_cluster, two_clusters_logical_slots_and_cleanup) {
  std::string dir1, dir2;
  int pid1 = 0, pid2 = 0;
  {
    auto c1 = pg_cluster::start();
    ASSERT_TRUE(c1) << c1.err().message;
    auto c2 = pg_cluster::start();
    ASSERT_TRUE(c2) << c2.err().message;
    auto& pub = **c1;
    auto& sub = **c2;
    dir1 = pub.dir();
    dir2 = sub.dir();
    pid1 = pub.postmaster_pid();
    pid2 = sub.postmaster_pid();
    EXPECT_NE(pub.port(), sub.port());
    EXPECT_NE(dir1, dir2);
    EXPECT_TRUE(process_alive(pid1));
    EXPECT_TRUE(process_alive(pid2));

    auto version = pub.query("SHOW server_version_num");
    ASSERT_TRUE(version) << version.err().message;
    EXPECT_EQ((*version)[0][0].substr(0, 2), "15");
    auto level = sub.query("SHOW wal_level");
    ASSERT_TRUE(level);
    EXPECT_EQ((*level)[0][0], "logical");

    // A logical slot on the publisher, with each output plugin we serve.
    auto slot = pub.query("SELECT slot_name FROM "
                          "pg_create_logical_replication_slot('t_pgoutput', "
                          "'pgoutput')");
    ASSERT_TRUE(slot) << slot.err().message;
    EXPECT_EQ((*slot)[0][0], "t_pgoutput");
    ASSERT_TRUE(pub.query("CREATE TABLE t (a int PRIMARY KEY)"));
    auto w2j = pub.query(
        "SELECT slot_name FROM pg_create_logical_replication_slot('t_w2j', "
        "'wal2json')");
    ASSERT_TRUE(w2j) << w2j.err().message;
    ASSERT_TRUE(pub.query("INSERT INTO t VALUES (1)"));
    auto changes = pub.query(
        "SELECT data FROM pg_logical_slot_get_changes('t_w2j', NULL, NULL, "
        "'format-version', '2') WHERE data LIKE '%\"action\":\"I\"%'");
    ASSERT_TRUE(changes) << changes.err().message;
    ASSERT_EQ(changes->size(), 1u);
    EXPECT_NE((*changes)[0][0].find("\"table\":\"t\""), std::string::npos);

    // The replication protocol works on a replication connection.
    auto ident = pub.query("IDENTIFY_SYSTEM", true);
    ASSERT_TRUE(ident) << ident.err().message;
    EXPECT_EQ((*ident)[0].size(), 4u);
    auto slots = pub.query("SELECT count(*) FROM pg_replication_slots WHERE "
                           "slot_type = 'logical'");
    ASSERT_TRUE(slots);
    EXPECT_EQ((*slots)[0][0], "2");
  }
  // Destruction stops both clusters and removes both directories.
  EXPECT_FALSE(path_exists(dir1));
  EXPECT_FALSE(path_exists(dir2));
  EXPECT_FALSE(process_alive(pid1));
  EXPECT_FALSE(process_alive(pid2));
}

TEST(pg_cluster, conf_lines_are_applied) {
  auto c = pg_cluster::start({"max_replication_slots = 7"});
  ASSERT_TRUE(c) << c.err().message;
  auto r = (*c)->query("SHOW max_replication_slots");
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0][0], "7");
}

TEST(pg_cluster, cleanup_happens_when_the_owner_is_killed) {
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  pid_t owner = ::fork();
  ASSERT_GE(owner, 0);
  if (owner == 0) {
    ::close(report[0]);
    auto c = pg_cluster::start();
    std::string line =
        c ? (*c)->dir() + " " + std::to_string((*c)->postmaster_pid()) + "\n"
          : "failed 0\n";
    if (::write(report[1], line.data(), line.size()) < 0)
      ::_exit(2);
    ::pause(); // until killed; the destructor never runs
    ::_exit(0);
  }
  ::close(report[1]);
  std::string text;
  char buf[256];
  ssize_t n;
  while ((n = ::read(report[0], buf, sizeof buf)) > 0) {
    text.append(buf, static_cast<size_t>(n));
    if (text.find('\n') != std::string::npos)
      break;
  }
  ::close(report[0]);
  auto space = text.find(' ');
  ASSERT_NE(space, std::string::npos) << text;
  std::string dir = text.substr(0, space);
  int pid = std::atoi(text.c_str() + space + 1);
  ASSERT_NE(dir, "failed");
  ASSERT_TRUE(path_exists(dir));
  ASSERT_TRUE(process_alive(pid));

  ::kill(owner, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(owner, &status, 0), owner);
  EXPECT_TRUE(wait_until([&] { return !path_exists(dir); }, 60s))
      << dir << " was left behind";
  EXPECT_TRUE(wait_until([&] { return !process_alive(pid); }, 60s))
      << "postmaster " << pid << " still runs";
}

} // namespace
} // namespace walmux::testing
