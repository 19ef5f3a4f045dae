// proxy_sql.hpp: which SQL statements a replication connection to walmux may
// have run on the upstream, decided from the text alone.
//
// walmux is not a general proxy. A PostgreSQL subscriber sends its publisher
// a fixed set of statements (protocol notes §3): catalog queries about
// publications and tables, BEGIN READ ONLY ISOLATION LEVEL REPEATABLE READ /
// COMMIT around a table copy, and COPY ... TO STDOUT of one table. Only
// those reach the upstream:
// - catalog queries must match, token for token, one of the query texts that
//   PostgreSQL 14 to 17 subscribers send, with only their literals (names,
//   OIDs, publication lists) free;
// - transaction control is BEGIN [READ ONLY] [ISOLATION LEVEL REPEATABLE
//   READ], COMMIT, END, ROLLBACK or ABORT: never READ WRITE (the upstream
//   session is also started with default_transaction_read_only = on);
// - COPY must name a schema-qualified table, optionally a column list, and
//   write TO STDOUT, in text or binary format; the walsender then checks
//   that a publication walmux streams covers that table. The sub-SELECT
//   form (partitioned tables, row filters) may have a WHERE clause, which
//   the walsender accepts only when it is the OR of row filters of those
//   publications as the upstream's catalog prints them (is_disjunction_of):
//   a WHERE clause could hide any expression.
// Everything else is refused with 42501 and never reaches the upstream.
//
// Pure: no I/O; fuzzed by tests/fuzz/fuzz_proxy_sql.cpp.
#pragma once

#include "common/expected.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace walmux::proxy {

enum class statement_kind { catalog_query, transaction_control, copy_out };

struct statement {
  statement_kind kind = statement_kind::catalog_query;
  // copy_out only: the table, as PostgreSQL resolves the identifiers
  // (unquoted ones down-cased).
  std::string schema;
  std::string table;
  // copy_out with a WHERE clause: the clause in expression_form.
  std::string where;
};

// Classifies one simple-protocol Query's text. A trailing ';' is allowed;
// more than one statement is refused.
expected<statement> classify(std::string_view sql);

// An expression's tokens with their texts, literals included, one space
// apart (keywords down-cased); empty when it does not tokenize.
std::string expression_form(std::string_view sql);
// Whether `where` (an expression_form) is one or more of `filters` (each
// an expression_form), each at most once, joined with OR.
bool is_disjunction_of(const std::string& where,
                       const std::vector<std::string>& filters);

} // namespace walmux::proxy
