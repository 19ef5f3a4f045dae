// decoder_test.cpp: the decoder's rules without PostgreSQL: the start point,
// publication filtering (tables and actions, refreshed once for an unknown
// table), Relation re-sending per connection, byte-for-byte passthrough,
// column lists, Truncate re-encoding, messages and origins, option errors, and
// wal2json.
#include "actors/decoder/decoder.hpp"
#include "protocol/pgoutput.hpp"
#include "protocol/pgoutput_options.hpp"

#include <gtest/gtest.h>

namespace walmux::actors {
namespace {

using namespace pgoutput;

class fake_lookup : public upstream_lookup {
 public:
  publication_map tables;
  int publication_calls = 0;
  expected<publication_map>
  publications(const std::vector<std::string>& names,
               const std::vector<std::string>&) override {
    ++publication_calls;
    if (names.size() == 1 && names[0] == "missing")
      return error{sqlstate::undefined_object,
                   "publication \"missing\" does not exist"};
    return tables;
  }
  // The only filter these tests use: "even" (the first column is an even
  // number); anything else is an error, as a bad filter is upstream.
  int row_checks = 0, row_queries = 0;
  expected<std::vector<bool>>
  rows_match(const std::string& filter, const std::vector<std::string>& names,
             const std::vector<uint32_t>&,
             const std::vector<const tuple*>& rows) override {
    ++row_queries;
    std::vector<bool> passes;
    for (const auto* values : rows) {
      ++row_checks;
      if (filter != "even" || names.size() != values->size())
        return error{"42601", "unexpected filter " + filter};
      passes.push_back((*values)[0].format == 't' &&
                       std::stoi((*values)[0].data) % 2 == 0);
    }
    return passes;
  }
  expected<std::map<std::string, wal2json::column_meta>>
  columns(uint32_t) override {
    std::map<std::string, wal2json::column_meta> out;
    out["id"] = {"integer", "int4", true, true, 1, "", 0, "", ""};
    out["v"] = {"text", "text", false, false, 2, "", 0, "", ""};
    return out;
  }
  std::map<std::string, uint32_t> origins;
  int origin_queries = 0;
  expected<std::optional<uint32_t>>
  origin_id(const std::string& name) override {
    ++origin_queries;
    auto it = origins.find(name);
    return it == origins.end() ? std::optional<uint32_t>{}
                               : std::optional<uint32_t>(it->second);
  }
};

std::string bytes(const any_message& m) {
  std::string out;
  encode(out, m);
  return out;
}

relation rel(uint32_t oid, const std::string& name) {
  relation r;
  r.oid = oid;
  r.nspname = "public";
  r.relname = name;
  r.columns = {{1, "id", 23, -1}, {0, "v", 25, -1}};
  return r;
}

insert ins(uint32_t oid, const std::string& id) {
  insert i;
  i.relation_oid = oid;
  i.new_tuple = {{'t', id}, {'t', "x"}};
  return i;
}

// A stored transaction built from messages; owns the bytes its view uses.
struct stored {
  std::vector<std::string> data;
  storage::transaction_view view;
  stored(uint64_t at_lsn, std::vector<any_message> body, uint8_t flags = 0) {
    const uint64_t commit_at = at_lsn;
    view.commit.commit_lsn = lsn{commit_at};
    view.commit.end_lsn = lsn{commit_at + 8};
    view.commit.flags = flags;
    if (flags == 0)
      data.push_back(bytes(begin{lsn{commit_at}, 1000, 7}));
    for (const auto& m : body)
      data.push_back(bytes(m));
    if (flags == 0)
      data.push_back(
          bytes(pgoutput::commit{0, lsn{commit_at}, lsn{commit_at + 8}, 1000}));
    uint64_t at = commit_at - 100;
    for (const auto& d : data)
      view.messages.push_back({lsn{at++}, d});
  }
};

repl::option opt(std::string name, std::string value) {
  return {std::move(name), repl::option::kind::string, std::move(value)};
}

std::unique_ptr<decoder> make(fake_lookup& lookup, lsn start,
                              std::vector<repl::option> options,
                              std::string plugin = "pgoutput") {
  decoder_params p;
  p.plugin = std::move(plugin);
  p.start_point = start;
  p.options = std::move(options);
  p.upstream_publications = {"pub", "other"};
  p.lookup = &lookup;
  auto d = decoder::create(std::move(p));
  EXPECT_TRUE(d) << (d ? "" : d.err().message);
  return d ? std::move(*d) : nullptr;
}

std::vector<char> kinds(const std::vector<decoder::output>& out) {
  std::vector<char> k;
  for (const auto& o : out)
    k.push_back(o.payload[0]);
  return k;
}

TEST(decoder, start_point_and_relation_resent_on_a_new_connection) {
  fake_lookup lookup;
  lookup.tables["public.t1"] = {true, true, true, true, {}, {}};
  auto d = make(lookup, lsn{2000},
                {opt("proto_version", "1"), opt("publication_names", "pub")});
  ASSERT_TRUE(d);
  std::vector<decoder::output> out;
  // Before the start point: learned, not sent.
  stored early(1000, {rel(16384, "t1"), ins(16384, "1")});
  ASSERT_TRUE(d->feed(early.view, out));
  EXPECT_TRUE(out.empty());
  // At the start point: sent, with the Relation first (this connection has
  // not seen it), the stored messages byte for byte.
  stored at(2000, {ins(16384, "2")});
  ASSERT_TRUE(d->feed(at.view, out));
  EXPECT_EQ(kinds(out), (std::vector<char>{'B', 'R', 'I', 'C'}));
  EXPECT_EQ(out[1].payload, bytes(rel(16384, "t1")));
  EXPECT_EQ(out[2].payload, at.data[1]);
  EXPECT_EQ(out[0].data_start, at.view.messages[0].data_start);
  // Not twice on the same connection.
  out.clear();
  stored next(3000, {ins(16384, "3")});
  ASSERT_TRUE(d->feed(next.view, out));
  EXPECT_EQ(kinds(out), (std::vector<char>{'B', 'I', 'C'}));
  // A new definition from the upstream is passed on.
  out.clear();
  relation changed = rel(16384, "t1");
  changed.replica_identity = 'f';
  stored alter(4000, {changed, ins(16384, "4")});
  ASSERT_TRUE(d->feed(alter.view, out));
  EXPECT_EQ(kinds(out), (std::vector<char>{'B', 'R', 'I', 'C'}));
  EXPECT_EQ(out[1].payload, bytes(changed));
}

TEST(decoder, filters_tables_and_actions_and_skips_emptied_transactions) {
  fake_lookup lookup;
  lookup.tables["public.t1"] = {true, false, false,
                                true, {},    {}}; // inserts only
  auto d = make(lookup, lsn{1},
                {opt("proto_version", "2"), opt("publication_names", "pub")});
  ASSERT_TRUE(d);
  const int calls_after_start = lookup.publication_calls;
  std::vector<decoder::output> out;
  update u;
  u.relation_oid = 16384;
  u.new_tuple = {{'t', "1"}, {'u', ""}};
  stored mixed(1000, {rel(16384, "t1"), rel(16390, "t2"), ins(16390, "9"), u,
                      ins(16384, "1")});
  ASSERT_TRUE(d->feed(mixed.view, out));
  EXPECT_EQ(kinds(out), (std::vector<char>{'B', 'R', 'I', 'C'}));
  EXPECT_EQ(out[2].payload, bytes(ins(16384, "1")));
  // t2 was looked up again once (perhaps newly published), not per change.
  EXPECT_EQ(lookup.publication_calls, calls_after_start + 1);
  out.clear();
  stored only_t2(2000, {ins(16390, "10"), ins(16390, "11")});
  ASSERT_TRUE(d->feed(only_t2.view, out));
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(lookup.publication_calls, calls_after_start + 1);
}

TEST(decoder, truncate_keeps_only_published_tables) {
  fake_lookup lookup;
  lookup.tables["public.t1"] = {true, true, true, true, {}, {}};
  auto d = make(lookup, lsn{1},
                {opt("proto_version", "1"), opt("publication_names", "pub")});
  ASSERT_TRUE(d);
  truncate t;
  t.relation_oids = {16384, 16390};
  std::vector<decoder::output> out;
  stored s(1000, {rel(16384, "t1"), rel(16390, "t2"), t});
  ASSERT_TRUE(d->feed(s.view, out));
  ASSERT_EQ(kinds(out), (std::vector<char>{'B', 'R', 'T', 'C'}));
  auto decoded = decode(out[2].payload, {});
  ASSERT_TRUE(decoded);
  EXPECT_EQ(std::get<truncate>(*decoded).relation_oids,
            (std::vector<uint32_t>{16384}));
}

TEST(decoder, column_lists_leave_unpublished_columns_out) {
  fake_lookup lookup;
  lookup.tables["public.t1"] = {true, true, true, true, {"id", "secret"}, {}};
  lookup.tables["public.t2"] = {true, true, true, true, {"id", "v"}, {}};
  auto d = make(lookup, lsn{1},
                {opt("proto_version", "1"), opt("publication_names", "pub")});
  ASSERT_TRUE(d);
  relation r1 = rel(16384, "t1");
  r1.replica_identity = 'f';
  r1.columns.push_back({0, "secret", 25, -1});
  insert i = ins(16384, "1");
  i.new_tuple.push_back({'t', "s1"});
  update u;
  u.relation_oid = 16384;
  u.old_kind = 'O';
  u.old_tuple = {{'t', "1"}, {'n', ""}, {'t', "s1"}};
  u.new_tuple = {{'t', "1"}, {'u', ""}, {'t', "s2"}};
  delete_ del;
  del.relation_oid = 16384;
  del.old_kind = 'O';
  del.old_tuple = u.new_tuple;
  std::vector<decoder::output> out;
  stored s(1000, {r1, i, u, del, rel(16390, "t2"), ins(16390, "2")});
  ASSERT_TRUE(d->feed(s.view, out)) << d->feed(s.view, out).err().message;
  ASSERT_EQ(kinds(out),
            (std::vector<char>{'B', 'R', 'I', 'U', 'D', 'R', 'I', 'C'}));
  // t1: the Relation and every tuple without `v`, in the stored order.
  relation sent = r1;
  sent.columns = {r1.columns[0], r1.columns[2]};
  EXPECT_EQ(out[1].payload, bytes(sent));
  insert want_i = i;
  want_i.new_tuple = {{'t', "1"}, {'t', "s1"}};
  EXPECT_EQ(out[2].payload, bytes(want_i));
  update want_u = u;
  want_u.old_tuple = {{'t', "1"}, {'t', "s1"}};
  want_u.new_tuple = {{'t', "1"}, {'t', "s2"}};
  EXPECT_EQ(out[3].payload, bytes(want_u));
  delete_ want_d = del;
  want_d.old_tuple = want_u.new_tuple;
  EXPECT_EQ(out[4].payload, bytes(want_d));
  // t2: a list of the columns the stream has: passed through untouched.
  EXPECT_EQ(out[5].payload, bytes(rel(16390, "t2")));
  EXPECT_EQ(out[6].payload, s.data[6]);

  // The list widened (ALTER PUBLICATION): the upstream sends the table's
  // definition again, which makes the decoder read the lists again.
  lookup.tables["public.t1"].columns.clear();
  relation r1_again = r1;
  r1_again.replica_identity = 'd';
  out.clear();
  stored widened(2000, {r1_again, i});
  ASSERT_TRUE(d->feed(widened.view, out));
  ASSERT_EQ(kinds(out), (std::vector<char>{'B', 'R', 'I', 'C'}));
  EXPECT_EQ(out[1].payload, bytes(r1_again));
  EXPECT_EQ(out[2].payload, bytes(i));

  // A list naming a column the stored stream lacks (the node streams the
  // table with a narrower list): a clear error, never a row without it.
  fake_lookup narrow;
  narrow.tables["public.t1"] = {true, true, true, true, {"id", "gone"}, {}};
  auto e = make(narrow, lsn{1},
                {opt("proto_version", "1"), opt("publication_names", "pub")});
  ASSERT_TRUE(e);
  out.clear();
  stored t(1000, {rel(16384, "t1"), ins(16384, "1")});
  auto st = e->feed(t.view, out);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().code, "55000");
  EXPECT_NE(st.err().message.find("\"gone\""), std::string::npos);
}

// A client whose publications filter a table more narrowly than those the
// node streams: each stored change is checked against the client's filter
// (by the upstream), updates entering or leaving it become inserts and
// deletes, as PostgreSQL's pgoutput makes them.
TEST(decoder, a_narrower_row_filter_is_applied_to_stored_changes) {
  fake_lookup lookup;
  lookup.tables["public.t1"] = {true, true, true, true, {}, "even"};
  auto d = make(lookup, lsn{1},
                {opt("proto_version", "1"), opt("publication_names", "pub")});
  ASSERT_TRUE(d);
  auto upd = [](char old_kind, tuple old_row, tuple new_row) {
    update u;
    u.relation_oid = 16384;
    u.old_kind = old_kind;
    u.old_tuple = std::move(old_row);
    u.new_tuple = std::move(new_row);
    return u;
  };
  auto del = [](const std::string& id) {
    delete_ d;
    d.relation_oid = 16384;
    d.old_kind = 'K';
    d.old_tuple = {{'t', id}, {'n', ""}};
    return d;
  };
  const update enters =
      upd('K', {{'t', "3"}, {'n', ""}}, {{'t', "4"}, {'t', "x"}});
  const update leaves =
      upd('K', {{'t', "6"}, {'n', ""}}, {{'t', "7"}, {'t', "x"}});
  const update stays = upd(0, {}, {{'t', "8"}, {'t', "y"}});
  const update outside = upd(0, {}, {{'t', "9"}, {'t', "y"}});
  const update toasted =
      upd('O', {{'t', "13"}, {'t', "big"}}, {{'t', "14"}, {'u', ""}});
  std::vector<decoder::output> out;
  stored s(1000, {rel(16384, "t1"), ins(16384, "1"), ins(16384, "2"), enters,
                  leaves, stays, outside, del("10"), del("11"), toasted});
  ASSERT_TRUE(d->feed(s.view, out));
  ASSERT_EQ(kinds(out),
            (std::vector<char>{'B', 'R', 'I', 'I', 'D', 'U', 'D', 'I', 'C'}));
  EXPECT_EQ(out[2].payload, bytes(ins(16384, "2")));
  insert entered;
  entered.relation_oid = 16384;
  entered.new_tuple = {{'t', "4"}, {'t', "x"}};
  EXPECT_EQ(out[3].payload, bytes(entered));
  delete_ left;
  left.relation_oid = 16384;
  left.old_kind = 'K';
  left.old_tuple = {{'t', "6"}, {'n', ""}};
  EXPECT_EQ(out[4].payload, bytes(left));
  EXPECT_EQ(out[5].payload, bytes(stays));
  EXPECT_EQ(out[6].payload, bytes(del("10")));
  insert untoasted;
  untoasted.relation_oid = 16384;
  untoasted.new_tuple = {{'t', "14"}, {'t', "big"}};
  EXPECT_EQ(out[7].payload, bytes(untoasted));
  // One check per row: inserts, deletes and key-unchanged updates one,
  // the other updates two.
  EXPECT_EQ(lookup.row_checks, 2 + 2 * 2 + 2 + 2 + 2);
  EXPECT_EQ(lookup.row_queries, 1); // the transaction's rows at once

  // Left out entirely, a transaction is not sent; an upstream error is the
  // stream's error.
  out.clear();
  stored none(2000, {ins(16384, "5")});
  ASSERT_TRUE(d->feed(none.view, out));
  EXPECT_TRUE(out.empty());
  // A table redefined inside a transaction: the rows before and after the
  // new definition are checked in two queries.
  out.clear();
  relation redefined = rel(16384, "t1");
  redefined.replica_identity = 'f';
  const int queries = lookup.row_queries;
  stored mid(2500, {ins(16384, "20"), ins(16384, "21"), redefined,
                    ins(16384, "22"), ins(16384, "23")});
  ASSERT_TRUE(d->feed(mid.view, out));
  ASSERT_EQ(kinds(out), (std::vector<char>{'B', 'I', 'R', 'I', 'C'}));
  EXPECT_EQ(out[1].payload, bytes(ins(16384, "20")));
  EXPECT_EQ(out[3].payload, bytes(ins(16384, "22")));
  EXPECT_EQ(lookup.row_queries, queries + 2);

  lookup.tables["public.t1"].row_filter = "bad";
  relation again = rel(16384, "t1");
  again.replica_identity = 'n'; // a new definition: the lists are read again
  stored failing(3000, {again, ins(16384, "6")});
  auto st = d->feed(failing.view, out);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().code, "42601");
}

// Several small transactions handed over together have their rows checked
// in one query; fed one by one afterwards, each gets its own verdicts.
TEST(decoder, rows_of_several_transactions_are_checked_together) {
  fake_lookup lookup;
  lookup.tables["public.t1"] = {true, true, true, true, {}, "even"};
  auto d = make(lookup, lsn{1},
                {opt("proto_version", "1"), opt("publication_names", "pub")});
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->checks_rows());
  std::vector<decoder::output> out;
  stored first(1000, {rel(16384, "t1"), ins(16384, "2")});
  ASSERT_TRUE(d->feed(first.view, out));
  std::vector<stored> run;
  run.reserve(6); // the views point into each element's strings
  for (int i = 0; i < 6; ++i)
    run.emplace_back(2000 + 100 * i,
                     std::vector<any_message>{ins(16384, std::to_string(i))});
  std::vector<storage::transaction_view> views;
  for (const auto& t : run)
    views.push_back(t.view);
  const int queries = lookup.row_queries;
  ASSERT_TRUE(d->check_rows_ahead(views));
  EXPECT_EQ(lookup.row_queries, queries + 1);
  out.clear();
  for (const auto& v : views)
    ASSERT_TRUE(d->feed(v, out));
  d->end_rows_ahead();
  EXPECT_EQ(lookup.row_queries, queries + 1);
  // 0, 2 and 4 pass: three transactions of Begin, Insert, Commit.
  ASSERT_EQ(kinds(out),
            (std::vector<char>{'B', 'I', 'C', 'B', 'I', 'C', 'B', 'I', 'C'}));
  EXPECT_EQ(out[4].payload, bytes(ins(16384, "2")));
}

// A Relation is only counted as sent with the transaction that carries it:
// when nothing of that transaction is published, the next one sends it.
TEST(decoder, relation_of_an_unsent_transaction_is_sent_with_the_next) {
  fake_lookup lookup;
  lookup.tables["public.t1"] = {true, false, false, true, {}, {}};
  auto d = make(lookup, lsn{1},
                {opt("proto_version", "1"), opt("publication_names", "pub")});
  ASSERT_TRUE(d);
  update u;
  u.relation_oid = 16384;
  u.new_tuple = {{'t', "1"}, {'t', "x"}};
  std::vector<decoder::output> out;
  stored only_update(1000, {rel(16384, "t1"), u});
  ASSERT_TRUE(d->feed(only_update.view, out));
  EXPECT_TRUE(out.empty());
  stored insert_after(2000, {ins(16384, "2")});
  ASSERT_TRUE(d->feed(insert_after.view, out));
  EXPECT_EQ(kinds(out), (std::vector<char>{'B', 'R', 'I', 'C'}));
}

TEST(decoder, messages_only_when_asked_and_origin_none_drops_transactions) {
  fake_lookup lookup;
  lookup.tables["public.t1"] = {true, true, true, true, {}, {}};
  message txn_msg{std::nullopt, 1, lsn{990}, "p", "inside"};
  message loose{std::nullopt, 0, lsn{1500}, "p", "outside"};
  for (bool with_messages : {false, true}) {
    std::vector<repl::option> o{opt("proto_version", "1"),
                                opt("publication_names", "pub")};
    if (with_messages)
      o.push_back(opt("messages", "true"));
    auto d = make(lookup, lsn{1}, o);
    ASSERT_TRUE(d);
    std::vector<decoder::output> out;
    stored only_msg(1000, {txn_msg});
    ASSERT_TRUE(d->feed(only_msg.view, out));
    stored nontxn(1500, {loose}, storage::commit_flag_non_transactional);
    ASSERT_TRUE(d->feed(nontxn.view, out));
    if (with_messages)
      EXPECT_EQ(kinds(out), (std::vector<char>{'B', 'M', 'C', 'M'}));
    else
      EXPECT_TRUE(out.empty());
  }
  auto d = make(lookup, lsn{1},
                {opt("proto_version", "3"), opt("publication_names", "pub"),
                 opt("origin", "none")});
  ASSERT_TRUE(d);
  std::vector<decoder::output> out;
  stored from_origin(
      1000, {origin{lsn{77}, "elsewhere"}, rel(16384, "t1"), ins(16384, "1")});
  ASSERT_TRUE(d->feed(from_origin.view, out));
  EXPECT_TRUE(out.empty());
  // Its Relation was still learned: the next change sends it.
  stored local(2000, {ins(16384, "2")});
  ASSERT_TRUE(d->feed(local.view, out));
  EXPECT_EQ(kinds(out), (std::vector<char>{'B', 'R', 'I', 'C'}));
}

TEST(decoder, option_errors_use_postgresql_texts) {
  fake_lookup lookup;
  auto fails = [&](std::vector<repl::option> o, const std::string& code,
                   const std::string& text) {
    decoder_params p;
    p.plugin = "pgoutput";
    p.options = std::move(o);
    p.upstream_publications = {"pub", "missing"};
    p.lookup = &lookup;
    auto d = decoder::create(std::move(p));
    ASSERT_FALSE(d);
    EXPECT_EQ(d.err().code, code);
    EXPECT_EQ(d.err().message, text);
  };
  fails({opt("proto_version", "1"), opt("publication_names", "nope")}, "42704",
        "publication \"nope\" is not streamed by this walmux node");
  fails({opt("proto_version", "1"), opt("publication_names", "missing")},
        "42704", "publication \"missing\" does not exist");
  fails({opt("proto_version", "4"), opt("publication_names", "pub")}, "0A000",
        "client sent proto_version=4 but we only support protocol 3 or "
        "lower");
}

// binary 'true' is served with the stored text columns: the same bytes as
// without it (each column says its own kind, as from PostgreSQL).
TEST(decoder, binary_is_served_with_text_columns) {
  fake_lookup lookup;
  lookup.tables["public.t1"] = {true, true, true, true, {}, {}};
  std::vector<std::string> payloads[2];
  for (int binary = 0; binary < 2; ++binary) {
    auto d = make(lookup, lsn{1},
                  {opt("proto_version", "1"), opt("publication_names", "pub"),
                   opt("binary", binary ? "true" : "false")});
    ASSERT_TRUE(d);
    std::vector<decoder::output> out;
    stored s(1000, {rel(16384, "t1"), ins(16384, "5")});
    ASSERT_TRUE(d->feed(s.view, out));
    for (const auto& o : out)
      payloads[binary].push_back(o.payload);
  }
  EXPECT_EQ(payloads[0].size(), 4u); // B, R, I, C
  EXPECT_EQ(payloads[0], payloads[1]);
}

TEST(decoder, wal2json_documents_from_the_same_stream) {
  fake_lookup lookup;
  auto d = make(lookup, lsn{1}, {opt("format-version", "2")}, "wal2json");
  ASSERT_TRUE(d);
  std::vector<decoder::output> out;
  stored s(1000, {rel(16384, "t1"), ins(16384, "5")});
  ASSERT_TRUE(d->feed(s.view, out));
  ASSERT_EQ(out.size(), 3u); // B, I, C
  EXPECT_EQ(out[1].payload,
            R"({"action":"I","schema":"public","table":"t1","columns":[)"
            R"({"name":"id","type":"integer","value":5},)"
            R"({"name":"v","type":"text","value":"x"}]})");
}

// wal2json prints and filters origins by id: the decoder looks the stored
// origin names up once each; an origin the upstream dropped is an error.
TEST(decoder, wal2json_origins_by_their_upstream_ids) {
  fake_lookup lookup;
  lookup.origins = {{"a", 1}, {"b", 2}};
  auto d = make(lookup, lsn{1},
                {opt("format-version", "2"), opt("include-origin", "1"),
                 opt("filter-origins", "2")},
                "wal2json");
  ASSERT_TRUE(d);
  std::vector<decoder::output> out;
  stored from_a(1000, {origin{lsn{7}, "a"}, rel(16384, "t1"), ins(16384, "5")});
  ASSERT_TRUE(d->feed(from_a.view, out));
  ASSERT_EQ(out.size(), 3u); // B, I, C
  EXPECT_EQ(out[0].payload, R"({"action":"B","origin":1})");
  EXPECT_EQ(out[2].payload, R"({"action":"C","origin":1})");
  out.clear();
  stored from_b(2000, {origin{lsn{8}, "b"}, ins(16384, "6")});
  ASSERT_TRUE(d->feed(from_b.view, out));
  EXPECT_TRUE(out.empty()); // filtered: nothing at all, as wal2json
  stored local(3000, {ins(16384, "7")});
  ASSERT_TRUE(d->feed(local.view, out));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].payload, R"({"action":"B","origin":0})");
  stored again(4000, {origin{lsn{9}, "a"}, ins(16384, "8")});
  ASSERT_TRUE(d->feed(again.view, out));
  EXPECT_EQ(lookup.origin_queries, 2); // a and b, once each
  stored gone(5000, {origin{lsn{10}, "gone"}, ins(16384, "9")});
  auto st = d->feed(gone.view, out);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().code, "42704");
  EXPECT_EQ(st.err().message, "replication origin \"gone\" does not exist");
}

TEST(pgoutput_options, values_and_errors) {
  auto o = pgoutput::parse_start_options(
      {opt("proto_version", "4"),
       opt("publication_names", "\"Pub\"\"1\", two ,THREE"),
       opt("streaming", "parallel"), opt("messages", "on")},
      4);
  ASSERT_TRUE(o) << o.err().message;
  EXPECT_EQ(o->proto_version, 4);
  EXPECT_TRUE(o->streaming_parallel);
  EXPECT_EQ(o->publication_names,
            (std::vector<std::string>{"Pub\"1", "two", "three"}));
  EXPECT_TRUE(o->messages);
  auto err = [](std::vector<repl::option> opts) {
    auto r = pgoutput::parse_start_options(opts, 3);
    return r ? std::string("ok") : r.err().code + " " + r.err().message;
  };
  // PostgreSQL 15 takes a missing proto_version as 0.
  EXPECT_EQ(err({opt("publication_names", "p")}),
            "0A000 client sent proto_version=0 but we only support protocol 1 "
            "or higher");
  EXPECT_EQ(err({opt("proto_version", "1")}),
            "22023 publication_names parameter missing");
  EXPECT_EQ(err({opt("proto_version", "x"), opt("publication_names", "p")}),
            "22023 invalid proto_version");
  EXPECT_EQ(err({opt("proto_version", "1"), opt("proto_version", "1")}),
            "42601 conflicting or redundant options");
  EXPECT_EQ(err({opt("proto_version", "1"), opt("publication_names", "a,,b")}),
            "42602 invalid publication_names syntax");
  EXPECT_EQ(err({opt("proto_version", "1"), opt("publication_names", "p"),
                 opt("streaming", "on")}),
            "22023 requested proto_version=1 does not support streaming, need "
            "2 or higher");
  EXPECT_EQ(err({opt("proto_version", "2"), opt("publication_names", "p"),
                 opt("two_phase", "on")}),
            "22023 requested proto_version=2 does not support two-phase "
            "commit, need 3 or higher");
  EXPECT_EQ(err({opt("proto_version", "1"), opt("publication_names", "p"),
                 opt("colour", "red")}),
            "22023 unrecognized pgoutput option: colour");
  EXPECT_EQ(err({opt("proto_version", "0"), opt("publication_names", "p")}),
            "0A000 client sent proto_version=0 but we only support protocol 1 "
            "or higher");
}

} // namespace
} // namespace walmux::actors
