// proxy_sql_test.cpp: the upstream proxy's allowlist lets through exactly
// what PostgreSQL subscribers send (texts as observed from PostgreSQL 15 and
// as PostgreSQL 14/16/17 build them, shared/notes/protocol.md §3) and
// refuses writes, reads of arbitrary tables and anything it cannot parse.
#include "protocol/proxy_sql.hpp"

#include <gtest/gtest.h>

namespace walmux::proxy {
namespace {

statement_kind kind_of(std::string_view sql) {
  auto r = classify(sql);
  EXPECT_TRUE(r) << sql << ": " << (r ? "" : r.err().message);
  return r ? r->kind : statement_kind::catalog_query;
}

void expect_refused(std::string_view sql, const char* code = "42501") {
  auto r = classify(sql);
  EXPECT_FALSE(r) << sql;
  if (!r) {
    EXPECT_EQ(r.err().code, code) << sql << ": " << r.err().message;
  }
}

TEST(proxy_sql, subscriber_catalog_queries_pass) {
  const char* queries[] = {
      // PostgreSQL 15, observed byte for byte.
      "SELECT t.pubname FROM\n pg_catalog.pg_publication t WHERE\n "
      "t.pubname IN ('pub1')",
      "SELECT DISTINCT t.schemaname, t.tablename \n, t.attnames\nFROM "
      "pg_catalog.pg_publication_tables t\n WHERE t.pubname IN ('pub1', "
      "'pub''2')",
      "SELECT c.oid, c.relreplident, c.relkind  FROM pg_catalog.pg_class c  "
      "INNER JOIN pg_catalog.pg_namespace n        ON (c.relnamespace = "
      "n.oid) WHERE n.nspname = 'public'   AND c.relname = 't1'",
      "SELECT DISTINCT  (CASE WHEN (array_length(gpt.attrs, 1) = "
      "c.relnatts)   THEN NULL ELSE gpt.attrs END)  FROM pg_publication p,  "
      "LATERAL pg_get_publication_tables(p.pubname) gpt,  pg_class c WHERE "
      "gpt.relid = 16387 AND c.oid = gpt.relid   AND p.pubname IN ( 'pub1' )",
      "SELECT a.attnum,       a.attname,       a.atttypid,       a.attnum = "
      "ANY(i.indkey)  FROM pg_catalog.pg_attribute a  LEFT JOIN "
      "pg_catalog.pg_index i       ON (i.indexrelid = "
      "pg_get_replica_identity_index(16387)) WHERE a.attnum > "
      "0::pg_catalog.int2   AND NOT a.attisdropped AND a.attgenerated = ''   "
      "AND a.attrelid = 16387 ORDER BY a.attnum",
      "SELECT DISTINCT pg_get_expr(gpt.qual, gpt.relid)  FROM pg_publication "
      "p,  LATERAL pg_get_publication_tables(p.pubname) gpt WHERE gpt.relid "
      "= 16387   AND p.pubname IN ( 'pub1' )",
      // PostgreSQL 14 (server < 15) table list and attribute query.
      "SELECT DISTINCT t.schemaname, t.tablename\n  FROM "
      "pg_catalog.pg_publication_tables t\n WHERE t.pubname IN ('pub1')",
      "SELECT a.attname,       a.atttypid,       a.attnum = ANY(i.indkey)  "
      "FROM pg_catalog.pg_attribute a  LEFT JOIN pg_catalog.pg_index i       "
      "ON (i.indexrelid = pg_get_replica_identity_index(16387)) WHERE "
      "a.attnum > 0::pg_catalog.int2   AND NOT a.attisdropped AND "
      "a.attgenerated = ''   AND a.attrelid = 16387 ORDER BY a.attnum",
      // PostgreSQL 16/17 table list and origin check (with REFRESH lines).
      "SELECT DISTINCT n.nspname, c.relname, gpt.attrs\n       FROM pg_class "
      "c\n         JOIN pg_namespace n ON n.oid = c.relnamespace\n         "
      "JOIN ( SELECT (pg_get_publication_tables(VARIADIC "
      "array_agg(pubname::text))).*\n                FROM pg_publication\n  "
      "              WHERE pubname IN ( 'pub1' )) AS gpt\n             ON "
      "gpt.relid = c.oid\n",
      "SELECT DISTINCT P.pubname AS pubname\nFROM pg_publication P,\n     "
      "LATERAL pg_get_publication_tables(P.pubname) GPT\n     JOIN "
      "pg_subscription_rel PS ON (GPT.relid = PS.srrelid),\n     pg_class C "
      "JOIN pg_namespace N ON (N.oid = C.relnamespace)\nWHERE C.oid = "
      "GPT.relid AND P.pubname IN ('pub1')\n AND NOT (N.nspname = 'public' "
      "AND C.relname = 't1')\n AND NOT (N.nspname = 'public' AND C.relname "
      "= 't2')\n",
  };
  for (const char* q : queries)
    EXPECT_EQ(kind_of(q), statement_kind::catalog_query) << q;
}

TEST(proxy_sql, read_only_transaction_control_passes) {
  for (const char* q : {"BEGIN READ ONLY ISOLATION LEVEL REPEATABLE READ",
                        "begin;", "COMMIT", "ROLLBACK;", "END"})
    EXPECT_EQ(kind_of(q), statement_kind::transaction_control) << q;
  expect_refused("BEGIN READ WRITE");
  expect_refused("BEGIN ISOLATION LEVEL SERIALIZABLE READ WRITE");
  expect_refused("SET TRANSACTION READ WRITE");
  expect_refused("SET default_transaction_read_only = off");
  expect_refused("COMMIT; DELETE FROM t");
}

TEST(proxy_sql, copy_of_one_table_passes_with_its_name) {
  auto r = classify("COPY public.t1 (id, name, price, created) TO STDOUT");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, statement_kind::copy_out);
  EXPECT_EQ(r->schema, "public");
  EXPECT_EQ(r->table, "t1");
  r = classify("COPY \"My Schema\".\"LogicalReplicationTest\" TO STDOUT;");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->schema, "My Schema");
  EXPECT_EQ(r->table, "LogicalReplicationTest");
  r = classify("COPY Public.LogicalReplicationTest (a) TO STDOUT WITH "
               "(FORMAT binary)");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->table, "logicalreplicationtest");
  r = classify("COPY (SELECT id, name FROM public.parted) TO STDOUT");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->table, "parted");
}

TEST(proxy_sql, everything_else_is_refused) {
  for (const char* q : {
           "INSERT INTO t VALUES (1)",
           "DELETE FROM public.t1",
           "SELECT * FROM public.secrets",
           "SELECT pg_catalog.set_config('default_transaction_read_only', "
           "'off', false)",
           "COPY public.t1 FROM STDIN",
           "COPY public.t1 TO '/tmp/x'",
           "COPY public.t1 TO PROGRAM 'rm -rf /'",
           "COPY public.t1 TO STDOUT; DROP TABLE public.t1",
           "COPY (SELECT a FROM public.t1, public.secrets) TO STDOUT",
           "COPY (SELECT * FROM public.t1) TO STDOUT",
           "COPY (DELETE FROM public.t1 RETURNING *) TO STDOUT",
           "COPY public.t1 TO STDOUT WITH (FORMAT csv, HEADER)",
           // A catalog template with something appended or changed.
           "SELECT t.pubname FROM pg_catalog.pg_publication t WHERE "
           "t.pubname IN ('pub1') UNION SELECT password FROM secrets",
           "SELECT t.pubname FROM pg_catalog.pg_publication t WHERE "
           "t.pubname IN (pg_terminate_backend(1)::text)",
           "SELECT t.pubname FROM pg_catalog.pg_publication t WHERE "
           "t.pubname IN ('pub1'); DELETE FROM t",
           "SELECT c.oid, c.relreplident, c.relkind FROM pg_catalog.pg_class c "
           "INNER JOIN pg_catalog.pg_namespace n ON (c.relnamespace = n.oid) "
           "WHERE n.nspname = E'public' AND c.relname = 't1'",
           "SELECT 1 -- comment",
           "'unterminated",
           "",
           ";",
       })
    expect_refused(q);
  expect_refused("COPY t1 TO STDOUT");
  expect_refused("COPY (SELECT id FROM public.t1 WHERE ) TO STDOUT");
  expect_refused("COPY (SELECT id FROM public.t1 WHERE (id > 0) TO STDOUT");
}

// A row filter's COPY (PostgreSQL 15's tablesync: the filters joined with
// OR) keeps its WHERE clause for the walsender to check against the
// publications' filters; the comparison is token by token, literals
// included.
TEST(proxy_sql, where_clauses_of_row_filters) {
  auto r = classify("COPY (SELECT id, a FROM public.t_rf WHERE ((id % 2) = 0) "
                    "OR (id > 1000)) TO STDOUT");
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_EQ(r->table, "t_rf");
  const std::vector<std::string> filters = {expression_form("(id > 1000)"),
                                            expression_form("((id % 2) = 0)")};
  EXPECT_EQ(r->where, expression_form("((id %2)=0)  OR  (id > 1000)"));
  EXPECT_TRUE(is_disjunction_of(r->where, filters));
  EXPECT_TRUE(is_disjunction_of(expression_form("(id > 1000)"), filters));
  EXPECT_TRUE(is_disjunction_of(
      expression_form("(id > 1000) OR ((id % 2) = 0)"), filters));
  // Another literal, a filter twice, something appended, or none at all.
  EXPECT_FALSE(is_disjunction_of(expression_form("(id > 1)"), filters));
  EXPECT_FALSE(is_disjunction_of(expression_form("(id > 1000) OR (id > 1000)"),
                                 filters));
  EXPECT_FALSE(is_disjunction_of(
      expression_form("(id > 1000) OR pg_sleep(10) IS NULL"), filters));
  EXPECT_FALSE(is_disjunction_of(expression_form("(id > 1000) OR"), filters));
  EXPECT_FALSE(is_disjunction_of("", filters));
  EXPECT_FALSE(is_disjunction_of(expression_form("(id > 1000)"), {}));
  // Strings compare with their contents.
  EXPECT_TRUE(is_disjunction_of(expression_form("(a = 'it''s')"),
                                {expression_form("(a = 'it''s')")}));
  EXPECT_FALSE(is_disjunction_of(expression_form("(a = 'its')"),
                                 {expression_form("(a = 'it''s')")}));
  // One filter's text beginning another's.
  EXPECT_TRUE(is_disjunction_of(
      expression_form("f(a) IS TRUE OR f(a)"),
      {expression_form("f(a)"), expression_form("f(a) IS TRUE")}));
}

} // namespace
} // namespace walmux::proxy
