// wal2json_test.cpp: our wal2json encoder against the real wal2json plugin.
// The pgoutput capture of a workload (tests/data/pgoutput/v1.tsv) is encoded
// with each captured option set and must equal wal2json's own output for the
// same WAL (tests/data/wal2json/*.tsv) byte for byte, document for document,
// including the LSN each document is written under.
#include "protocol/pgoutput.hpp"
#include "protocol/wal2json.hpp"
#include "tests/support/golden.hpp"

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

namespace walmux::wal2json {
namespace {

class tsv_catalog : public catalog_view {
 public:
  tsv_catalog() {
    std::ifstream in(WALMUX_SOURCE_DIR "/tests/data/catalog.tsv");
    std::string line;
    while (std::getline(in, line)) {
      std::vector<std::string> f;
      std::istringstream s(line);
      std::string field;
      while (std::getline(s, field, '\t'))
        f.push_back(field);
      f.resize(10);
      column_meta m;
      m.format_type = f[2];
      m.not_null = f[5] == "t";
      m.primary_key = f[6] == "t";
      m.type_name = f[7];
      m.attnum = std::atoi(f[8].c_str());
      m.default_expr = f[9];
      columns_[{static_cast<uint32_t>(std::stoul(f[0])), f[1]}] = m;
    }
  }
  const column_meta* column(uint32_t oid,
                            std::string_view name) const override {
    auto it = columns_.find({oid, std::string(name)});
    return it == columns_.end() ? nullptr : &it->second;
  }
  size_t size() const { return columns_.size(); }

 private:
  std::map<std::pair<uint32_t, std::string>, column_meta> columns_;
};

struct variant {
  const char* file;
  std::vector<repl::option> options;
};

void PrintTo(const variant& v, std::ostream* os) {
  *os << v.file;
}

repl::option opt(const char* name, const char* value) {
  return {name, repl::option::kind::string, value};
}

std::vector<variant> variants() {
  return {
      {"v1_default", {opt("format-version", "1")}},
      {"v1_all",
       {opt("format-version", "1"), opt("include-xids", "1"),
        opt("include-timestamp", "1"), opt("include-lsn", "1"),
        opt("include-type-oids", "1"), opt("include-not-null", "1"),
        opt("include-pk", "1"),
        opt("actions", "insert,update,delete,truncate")}},
      {"v1_pretty",
       {opt("format-version", "1"), opt("pretty-print", "1"),
        opt("include-types", "0"), opt("include-schemas", "0")}},
      {"v1_chunks",
       {opt("format-version", "1"), opt("write-in-chunks", "1"),
        opt("include-typmod", "0")}},
      {"v1_filtered",
       {opt("format-version", "1"),
        opt("add-tables", "public.t_full,public.t_idx"),
        opt("filter-msg-prefixes", "other"), opt("actions", "insert,delete")}},
      {"v1_columns",
       {opt("format-version", "1"), opt("include-column-positions", "1"),
        opt("include-default", "1"), opt("include-pk", "1"),
        opt("include-types", "1"), opt("include-lsn", "1"),
        opt("write-in-chunks", "1")}},
      {"v2_default", {opt("format-version", "2")}},
      {"v2_all",
       {opt("format-version", "2"), opt("include-xids", "1"),
        opt("include-timestamp", "1"), opt("include-lsn", "1"),
        opt("include-type-oids", "1"), opt("include-not-null", "1"),
        opt("include-pk", "1")}},
      {"v2_columns",
       {opt("format-version", "2"), opt("include-column-positions", "1"),
        opt("include-default", "1"), opt("include-pk", "1"),
        opt("include-typmod", "0"), opt("pretty-print", "1")}},
      {"v2_minimal",
       {opt("format-version", "2"), opt("include-transaction", "0"),
        opt("include-types", "0"), opt("include-schemas", "0"),
        opt("filter-tables", "public.t_types"),
        opt("add-msg-prefixes", "walmux")}},
  };
}

class wal2json_golden : public ::testing::TestWithParam<variant> {};

TEST_P(wal2json_golden, equals_the_plugin_byte_for_byte) {
  static const tsv_catalog catalog;
  ASSERT_GT(catalog.size(), 20u);
  auto records = testing::read_golden("pgoutput/v1.tsv");
  ASSERT_GT(records.size(), 100u);
  std::vector<pgoutput::any_message> messages;
  pgoutput::stream_decoder d;
  for (const auto& r : records) {
    auto m = d.decode(r.bytes);
    ASSERT_TRUE(m);
    messages.push_back(std::move(*m));
  }
  // Each Begin needs its transaction's end LSN (walmux's store has it).
  std::vector<lsn> end_lsn(messages.size());
  std::set<std::string> xids{"0"};
  for (size_t i = 0; i < messages.size(); ++i) {
    if (auto* b = std::get_if<pgoutput::begin>(&messages[i])) {
      xids.insert(std::to_string(b->xid));
      for (size_t j = i + 1; j < messages.size(); ++j)
        if (auto* c = std::get_if<pgoutput::commit>(&messages[j])) {
          end_lsn[i] = c->end_lsn;
          break;
        }
    }
  }
  auto parsed = parse_options(GetParam().options);
  ASSERT_TRUE(parsed) << parsed.err().message;
  encoder enc(*parsed, &catalog);
  std::vector<document> docs;
  std::vector<bool> from_begin;
  for (size_t i = 0; i < messages.size(); ++i) {
    auto st =
        enc.feed(messages[i], {*lsn_parse(records[i].lsn), end_lsn[i]}, docs);
    ASSERT_TRUE(st) << records[i].lsn << ": " << st.err().message;
    from_begin.resize(docs.size(),
                      std::holds_alternative<pgoutput::begin>(messages[i]));
  }
  std::vector<testing::golden_record> expected;
  for (auto& r : testing::read_golden(std::string("wal2json/") +
                                      GetParam().file + ".tsv"))
    if (xids.count(r.xid))
      expected.push_back(std::move(r));
  ASSERT_GT(expected.size(), 10u);
  ASSERT_EQ(docs.size(), expected.size());
  for (size_t i = 0; i < docs.size(); ++i) {
    ASSERT_EQ(docs[i].text, expected[i].bytes)
        << "document " << i << " (xid " << expected[i].xid << ")";
    // A document written at BEGIN goes out under the transaction's first
    // WAL record in wal2json (txn->first_lsn); a pgoutput stream only
    // carries the LSN of the first published change, which walmux uses.
    if (!from_begin[i]) {
      ASSERT_EQ(lsn_to_string(docs[i].data_start), expected[i].lsn)
          << "document " << i;
    }
    ASSERT_EQ(std::to_string(docs[i].xid), expected[i].xid);
  }
}

INSTANTIATE_TEST_SUITE_P(plugin, wal2json_golden,
                         ::testing::ValuesIn(variants()),
                         [](const ::testing::TestParamInfo<variant>& info) {
                           return std::string(info.param.file);
                         });

TEST(wal2json_encoder, a_transaction_document_has_a_size_limit) {
  static const tsv_catalog catalog;
  auto opts = *parse_options({opt("format-version", "1")});
  opts.max_document_bytes = 4096;
  opts.include_types = false; // relation 1 is not in the catalog
  encoder enc(opts, &catalog);
  pgoutput::relation rel;
  rel.oid = 1;
  rel.nspname = "public";
  rel.relname = "t";
  rel.columns = {{1, "v", 25, -1}};
  std::vector<document> docs;
  ASSERT_TRUE(
      enc.feed(pgoutput::begin{lsn(10), 0, 5}, {lsn(1), lsn(20)}, docs));
  ASSERT_TRUE(enc.feed(rel, {lsn(2), {}}, docs));
  pgoutput::insert row{{}, 1, {{'t', std::string(1000, 'x')}}};
  status st;
  for (int i = 0; i < 10 && st; ++i)
    st = enc.feed(row, {lsn(3), {}}, docs);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().code, "54000");
  // With chunks each change is its own document: no limit is reached.
  opts.write_in_chunks = true;
  encoder chunked(opts, &catalog);
  ASSERT_TRUE(
      chunked.feed(pgoutput::begin{lsn(10), 0, 5}, {lsn(1), lsn(20)}, docs));
  ASSERT_TRUE(chunked.feed(rel, {lsn(2), {}}, docs));
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(chunked.feed(row, {lsn(3), {}}, docs));
}

TEST(wal2json_options, errors_use_the_plugin_wording) {
  auto unknown = parse_options({opt("colour", "red")});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.err().message, "option \"colour\" = \"red\" is unknown");
  auto bad_bool = parse_options({opt("include-xids", "maybe")});
  EXPECT_EQ(bad_bool.err().message,
            "could not parse value \"maybe\" for parameter \"include-xids\"");
  auto v3 = parse_options({opt("format-version", "3")});
  EXPECT_EQ(v3.err().message,
            "client sent format_version=3 but we only support format 2 or "
            "lower");
  auto actions = parse_options({opt("actions", "insert,upsert")});
  EXPECT_EQ(actions.err().message,
            "could not parse value \"upsert\" for parameter \"actions\"");
  auto origin = parse_options({opt("include-origin", "1")});
  ASSERT_TRUE(origin);
  EXPECT_TRUE(origin->include_origin);
  // Origin ids as wal2json reads them: atoi() of each item, empty items 0.
  auto ids = parse_options({opt("filter-origins", " 7, 12x,,-1 ")});
  ASSERT_TRUE(ids);
  EXPECT_EQ(ids->filter_origins, (std::vector<uint32_t>{7, 12, 0, 4294967295}));
  auto bad_ids = parse_options({opt("filter-origins", "1 2")});
  ASSERT_FALSE(bad_ids);
  EXPECT_EQ(bad_ids.err().code, "42602");
  EXPECT_EQ(bad_ids.err().message,
            "could not parse value \"1 2\" for parameter \"filter-origins\"");
  auto no_value =
      parse_options({{"include-xids", repl::option::kind::none, ""}});
  ASSERT_TRUE(no_value);
  EXPECT_TRUE(no_value->include_xids);
}

} // namespace
} // namespace walmux::wal2json
