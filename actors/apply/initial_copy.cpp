// initial_copy.cpp: see initial_copy.hpp.
#include "actors/apply/initial_copy.hpp"

#include "actors/common/pq_session.hpp"
#include "common/log.hpp"

#include <algorithm>
#include <mutex>
#include <optional>
#include <thread>

#include <libpq-fe.h>

namespace walmux::actors::apply {
namespace {

using table_name = std::pair<std::string, std::string>;

std::string quoted(const table_name& t) {
  return pq_quote_identifier(t.first) + "." + pq_quote_identifier(t.second);
}

// The elements of an int2vector's text form ("1 3").
std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ')
      ++i;
    const size_t from = i;
    while (i < text.size() && text[i] != ' ')
      ++i;
    if (i > from)
      out.push_back(text.substr(from, i - from));
  }
  return out;
}

// What to copy of one table, found as PostgreSQL 15's tablesync finds it
// (the same catalog queries, so that a walmux source forwards them): the
// published columns (a publication's column list, else all but generated
// ones) and the publications' row filters, OR'ed; none if any publication
// publishes the table unfiltered.
struct source_table {
  std::string oid;
  char relkind = 'r';
  std::vector<std::string> columns;
  std::vector<std::string> filters;
};

expected<source_table>
describe_source_table(pq_session& src, const table_name& t,
                      const std::vector<std::string>& publications) {
  const std::string display = t.first + "." + t.second;
  auto rel = src.exec(
      "SELECT c.oid, c.relreplident, c.relkind FROM pg_catalog.pg_class c "
      "INNER JOIN pg_catalog.pg_namespace n ON (c.relnamespace = n.oid) WHERE "
      "n.nspname = " +
      pq_quote_literal(t.first) +
      " AND c.relname = " + pq_quote_literal(t.second));
  if (!rel)
    return std::move(rel).err();
  if (rel->rows.size() != 1 || !rel->rows[0][0])
    return error{sqlstate::undefined_object,
                 "table \"" + display + "\" not found on publisher"};
  source_table out;
  out.oid = *rel->rows[0][0];
  if (rel->rows[0].size() >= 3 && rel->rows[0][2] && !rel->rows[0][2]->empty())
    out.relkind = (*rel->rows[0][2])[0];
  const std::string pubs = pq_quote_literal_list(publications);

  auto lists = src.exec(
      "SELECT DISTINCT (CASE WHEN (array_length(gpt.attrs, 1) = c.relnatts) "
      "THEN NULL ELSE gpt.attrs END) FROM pg_publication p, LATERAL "
      "pg_get_publication_tables(p.pubname) gpt, pg_class c WHERE gpt.relid "
      "= " +
      out.oid + " AND c.oid = gpt.relid AND p.pubname IN ( " + pubs + " )");
  if (!lists)
    return std::move(lists).err();
  if (lists->rows.size() > 1)
    return error{sqlstate::feature_not_supported,
                 "cannot use different column lists for table \"" + display +
                     "\" in different publications"};
  std::vector<std::string> listed; // attnums of the column list, if any
  if (lists->rows.size() == 1 && !lists->rows[0].empty() && lists->rows[0][0])
    listed = split_words(*lists->rows[0][0]);

  auto cols = src.exec(
      "SELECT a.attnum, a.attname, a.atttypid, a.attnum = ANY(i.indkey) FROM "
      "pg_catalog.pg_attribute a LEFT JOIN pg_catalog.pg_index i ON "
      "(i.indexrelid = pg_get_replica_identity_index(" +
      out.oid +
      ")) WHERE a.attnum > 0::pg_catalog.int2 AND NOT a.attisdropped AND "
      "a.attgenerated = '' AND a.attrelid = " +
      out.oid + " ORDER BY a.attnum");
  if (!cols)
    return std::move(cols).err();
  for (const auto& row : cols->rows)
    if (row.size() >= 2 && row[0] && row[1] &&
        (listed.empty() ||
         std::find(listed.begin(), listed.end(), *row[0]) != listed.end()))
      out.columns.push_back(*row[1]);

  auto filters = src.exec(
      "SELECT DISTINCT pg_get_expr(gpt.qual, gpt.relid) FROM pg_publication "
      "p, LATERAL pg_get_publication_tables(p.pubname) gpt WHERE gpt.relid = " +
      out.oid + " AND p.pubname IN ( " + pubs + " )");
  if (!filters)
    return std::move(filters).err();
  for (const auto& row : filters->rows) {
    if (row.empty() || !row[0]) { // published unfiltered somewhere
      out.filters.clear();
      break;
    }
    out.filters.push_back(*row[0]);
  }
  return out;
}

// The source side of the copy: PostgreSQL 15's two forms.
std::string copy_out_statement(const table_name& t, const source_table& src,
                               const std::string& column_list) {
  if (src.relkind == 'r' && src.filters.empty())
    return "COPY " + quoted(t) + " (" + column_list + ") TO STDOUT";
  std::string sql = "COPY (SELECT " + column_list + " FROM " +
                    (src.relkind == 'r' ? "ONLY " : "") + quoted(t);
  // As PostgreSQL 15's tablesync writes it (pg_get_expr's text is already
  // parenthesized): a walmux source accepts exactly the filters' OR.
  for (size_t i = 0; i < src.filters.size(); ++i)
    sql += (i == 0 ? " WHERE " : " OR ") + src.filters[i];
  return sql + ") TO STDOUT";
}

struct copy_worker_env {
  copy_worker_env(const copy_plan& p, const copy_hooks& h)
      : plan(p)
      , hooks(h) {}
  const copy_plan& plan;
  const copy_hooks& hooks;
  std::mutex lock; // guards next, failure and the hooks
  size_t next = 0;
  std::vector<table_name> tables;
  std::optional<error> failure;
  std::atomic<bool> abort{false};
};

// Copies one table from `src` (in the snapshot) to a target transaction.
status copy_table(copy_worker_env& env, pq_session& src, pq_session& tgt,
                  const table_name& t) {
  auto described = describe_source_table(src, t, env.plan.publications);
  if (!described)
    return std::move(described).err();
  std::string list;
  for (const auto& c : described->columns)
    list += (list.empty() ? "" : ", ") + pq_quote_identifier(c);
  {
    std::lock_guard g(env.lock);
    env.hooks.table_state(t.first, t.second, 'd', 0);
  }
  if (auto r = tgt.exec("BEGIN"); !r)
    return std::move(r).err();
  if (env.plan.truncate_first || std::find(env.plan.truncate_tables.begin(),
                                           env.plan.truncate_tables.end(),
                                           t) != env.plan.truncate_tables.end())
    if (auto r = tgt.exec("TRUNCATE ONLY " + quoted(t)); !r)
      return std::move(r).err();
  PGconn* c = tgt.raw();
  PGresult* started =
      PQexec(c, ("COPY " + quoted(t) + " (" + list + ") FROM STDIN").c_str());
  const bool copying = started && PQresultStatus(started) == PGRES_COPY_IN;
  error start_error = copying ? error{} : pq_error(c, started);
  if (started)
    PQclear(started);
  if (!copying)
    return start_error;
  bool put_failed = false;
  auto copied = src.copy_out(
      copy_out_statement(t, *described, list), [](const pq_copy_format&) {},
      [&](std::string_view row) {
        if (env.abort.load() || (env.plan.stop && env.plan.stop->load()))
          return false;
        if (PQputCopyData(c, row.data(), static_cast<int>(row.size())) != 1) {
          put_failed = true;
          return false;
        }
        return true;
      });
  if (!copied) {
    PQputCopyEnd(c, "the source COPY failed");
    while (PGresult* r = PQgetResult(c))
      PQclear(r);
    return put_failed ? pq_error(c, nullptr) : std::move(copied).err();
  }
  if (PQputCopyEnd(c, nullptr) != 1)
    return pq_error(c, nullptr);
  std::optional<error> failed;
  while (PGresult* r = PQgetResult(c)) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK && !failed)
      failed = pq_error(c, r);
    PQclear(r);
  }
  if (failed)
    return *failed;
  auto oid = tgt.exec("SELECT pg_catalog.to_regclass(" +
                      pq_quote_literal(quoted(t)) + ")::oid");
  if (!oid)
    return std::move(oid).err();
  if (auto r = tgt.exec("COMMIT"); !r)
    return std::move(r).err();
  uint32_t target_oid = 0;
  if (!oid->rows.empty() && oid->rows[0][0])
    target_oid = static_cast<uint32_t>(std::stoul(*oid->rows[0][0]));
  std::lock_guard g(env.lock);
  env.hooks.table_state(t.first, t.second, 's', target_oid);
  log_message(elevel::log, "logical replication table synchronization for "
                           "subscription \"" +
                               env.plan.subscription + "\", table \"" +
                               t.second + "\" has finished (" + *copied + ")");
  return ok();
}

expected<std::unique_ptr<pq_session>> connect_target(const copy_plan& plan) {
  auto tgt = pq_session::connect(
      plan.target_conninfo,
      {{"application_name", "walmux_sync_" + plan.subscription}},
      "target database");
  if (!tgt)
    return std::move(tgt).err();
  if (auto r = (*tgt)->exec("SET session_replication_role = replica");
      !r && r.err().code != "42501")
    return std::move(r).err();
  return tgt;
}

// Takes tables from the shared list until it is empty or a copy failed.
void copy_loop(copy_worker_env& env, pq_session& src) {
  auto tgt = connect_target(env.plan);
  auto fail = [&env](error e) {
    std::lock_guard g(env.lock);
    if (!env.failure)
      env.failure = std::move(e);
    env.abort = true;
  };
  if (!tgt) {
    fail(std::move(tgt).err());
    return;
  }
  while (!env.abort.load()) {
    table_name t;
    {
      std::lock_guard g(env.lock);
      if (env.next >= env.tables.size())
        return;
      t = env.tables[env.next++];
    }
    if (auto st = copy_table(env, src, **tgt, t); !st) {
      fail(st.err());
      return;
    }
  }
}

expected<pq_result> create_slot(pq_session& repl, const std::string& slot,
                                bool temporary, const char* snapshot) {
  return repl.exec("CREATE_REPLICATION_SLOT " + pq_quote_identifier(slot) +
                   (temporary ? " TEMPORARY" : "") +
                   " LOGICAL pgoutput (SNAPSHOT '" + snapshot + "')");
}

} // namespace

std::string publication_tables_query(const std::vector<std::string>& pubs) {
  return "SELECT DISTINCT t.schemaname, t.tablename FROM "
         "pg_catalog.pg_publication_tables t WHERE t.pubname IN (" +
         pq_quote_literal_list(pubs) + ")";
}

expected<lsn> run_initial_copy(const copy_plan& plan, const copy_hooks& hooks) {
  auto repl = pq_session::connect(
      plan.source_conninfo,
      {{"replication", "database"}, {"application_name", plan.subscription}},
      "publisher");
  if (!repl)
    return std::move(repl).err();
  pq_session& r = **repl;
  copy_worker_env env(plan, hooks);
  if (plan.temporary_slot) {
    env.tables = plan.only_tables;
  } else {
    auto listed = r.exec(publication_tables_query(plan.publications));
    if (!listed)
      return std::move(listed).err();
    for (const auto& row : listed->rows)
      if (row.size() >= 2 && row[0] && row[1])
        env.tables.emplace_back(*row[0], *row[1]);
    if (auto st = hooks.tables(env.tables); !st)
      return std::move(st).err();
  }

  auto made = create_slot(r, plan.slot_name, plan.temporary_slot,
                          plan.copy_data ? "export" : "nothing");
  if (!made)
    return std::move(made).err();
  bool exported = made->rows.size() == 1 && made->rows[0].size() >= 3 &&
                  made->rows[0][2].has_value();
  if (plan.copy_data && !exported) {
    // The source does not export snapshots (a walmux node): make the slot
    // again inside a transaction that uses its snapshot.
    if (auto d = r.exec("DROP_REPLICATION_SLOT " +
                        pq_quote_identifier(plan.slot_name));
        !d)
      return std::move(d).err();
    if (auto b = r.exec("BEGIN READ ONLY ISOLATION LEVEL REPEATABLE READ"); !b)
      return std::move(b).err();
    made = create_slot(r, plan.slot_name, plan.temporary_slot, "use");
    if (!made)
      return std::move(made).err();
  }
  if (made->rows.size() != 1 || !made->rows[0][1])
    return error{sqlstate::protocol_violation,
                 "CREATE_REPLICATION_SLOT returned no consistent point"};
  auto point = lsn_parse(*made->rows[0][1]);
  if (!point)
    return std::move(point).err();
  if (auto st = hooks.slot_created(*point); !st)
    return std::move(st).err();
  log_message(elevel::log, std::string("created ") +
                               (plan.temporary_slot ? "temporary " : "") +
                               "replication slot \"" + plan.slot_name +
                               "\" on the source for subscription \"" +
                               plan.subscription + "\" at " +
                               lsn_to_string(*point));
  if (!plan.copy_data || env.tables.empty())
    return *point;

  if (exported) {
    const std::string snapshot = *made->rows[0][2];
    const size_t n = std::min<size_t>(
        env.tables.size(), static_cast<size_t>(std::max(1, plan.workers)));
    std::vector<std::thread> threads;
    for (size_t i = 0; i < n; ++i)
      threads.emplace_back([&env, &plan, &snapshot] {
        auto src = pq_session::connect(
            plan.source_conninfo,
            {{"application_name", "walmux_sync_" + plan.subscription}},
            "publisher");
        status st = src ? status(ok()) : status(std::move(src).err());
        if (st) {
          for (const std::string& sql :
               {std::string("BEGIN READ ONLY ISOLATION LEVEL REPEATABLE READ"),
                "SET TRANSACTION SNAPSHOT " + pq_quote_literal(snapshot)})
            if (auto q = (*src)->exec(sql); !q) {
              st = std::move(q).err();
              break;
            }
        }
        if (!st) {
          std::lock_guard g(env.lock);
          if (!env.failure)
            env.failure = st.err();
          env.abort = true;
          return;
        }
        copy_loop(env, **src);
      });
    for (auto& t : threads)
      t.join();
  } else {
    copy_loop(env, r);
  }
  if (env.failure)
    return *env.failure;
  if (plan.stop && plan.stop->load())
    return error{"57P01", "the initial copy was stopped"};
  return *point;
}

} // namespace walmux::actors::apply
