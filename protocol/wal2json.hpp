// wal2json.hpp: wal2json output (format versions 1 and 2) produced from
// decoded pgoutput messages, byte for byte as the wal2json plugin (2.5/2.6)
// prints it, and the plugin's options.
//
// The encoder consumes one transaction's messages in order (B, changes, C;
// or a non-transactional M), with the LSN each message was stored under
// (XLogData dataStart: the change LSN wal2json prints) and, for B, the
// transaction's end LSN ("nextlsn", which wal2json knows at BEGIN and a
// pgoutput stream only at COMMIT; walmux's store records it per
// transaction). It emits the documents wal2json would write: format 1 one
// per transaction (or one per change with write-in-chunks), format 2 one per
// record.
//
// What pgoutput does not carry comes from a catalog_view: each column's
// format_type() text, type name, NOT NULL, primary-key membership, attnum
// and default expression, as of the upstream's catalog.
//
// One known difference: wal2json writes the document it starts at BEGIN
// (format 1 with write-in-chunks, format 2's "B" record) under the LSN of
// the transaction's first WAL record; a pgoutput stream does not carry that
// LSN (PostgreSQL 15 delays Begin to the first published change), so walmux
// uses the Begin message's own LSN. The JSON text is identical.
//
// Origins: pgoutput names a transaction's origin (an Origin message after
// Begin), wal2json prints and filters by its numeric id; the catalog_view
// turns the name into the upstream's id. So that the id is known, Begin's
// output waits for the next message when include-origin or filter-origins
// is given.
//
// Not supported (clear 0A000 errors): streamed transactions (S/E/c/A: the
// decoder hands the encoder whole transactions), binary-format column
// values.
//
// Pure: no I/O.
#pragma once

#include "common/expected.hpp"
#include "protocol/lsn.hpp"
#include "protocol/pgoutput.hpp"
#include "protocol/repl_command.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace walmux::wal2json {

struct table_pattern {
  bool all_schemas = false;
  bool all_tables = false;
  std::string schema;
  std::string table;
};

struct options {
  int format_version = 1;
  bool include_transaction = true; // format 2: B and C records
  bool include_xids = false;
  bool include_timestamp = false;
  bool include_lsn = false;
  bool include_schemas = true;
  bool include_types = true;
  bool include_type_oids = false;
  bool include_typmod = true;
  bool include_not_null = false;
  bool include_pk = false;
  bool include_column_positions = false;
  bool include_default = false;
  bool numeric_data_types_as_string = false;
  bool include_origin = false;
  bool include_domain_data_type = false; // format 1, as wal2json
  std::vector<uint32_t> filter_origins;  // origin ids (roident)
  bool pretty_print = false;
  bool write_in_chunks = false; // format 1
  bool action_insert = true, action_update = true, action_delete = true,
       action_truncate = true;
  // Largest document (format 1 builds one per transaction without
  // write-in-chunks). PostgreSQL caps the plugin's output at 1GB - 1 too.
  size_t max_document_bytes = (size_t{1} << 30) - 1;
  std::vector<table_pattern> filter_tables;
  std::vector<table_pattern> add_tables; // empty list = all tables
  std::vector<std::string> filter_msg_prefixes;
  std::vector<std::string> add_msg_prefixes;
};

// Parses plugin options as START_REPLICATION passes them ("name" ['value']),
// with wal2json's rules and error texts.
expected<options> parse_options(const std::vector<repl::option>& opts);

struct column_meta {
  std::string format_type; // format_type(atttypid, atttypmod)
  std::string type_name;   // pg_type.typname
  bool not_null = false;
  bool primary_key = false;
  int attnum = 0;
  std::string default_expr; // pg_get_expr(adbin); empty: no default
  // For a column whose type is a domain: its base type's oid (else 0), the
  // base type's name and format_type(base type, the domain's typmod).
  uint32_t domain_base_oid = 0;
  std::string domain_base_name, domain_base_format_type;
};

class catalog_view {
 public:
  virtual ~catalog_view() = default;
  // The column named `name` of relation `relation_oid`, or null if unknown.
  virtual const column_meta* column(uint32_t relation_oid,
                                    std::string_view name) const = 0;
  // The upstream's id (roident) of the replication origin named `name`, or
  // nullopt if it has none. Asked only with include-origin/filter-origins.
  virtual std::optional<uint32_t> origin_id(std::string_view name) const {
    (void)name;
    return std::nullopt;
  }
};

struct document {
  lsn data_start;   // the LSN wal2json writes the document under
  uint32_t xid = 0; // 0 for a non-transactional message
  std::string text;
};

struct message_position {
  lsn at;          // the message's stored dataStart
  lsn txn_end_lsn; // for Begin: the transaction's end LSN
};

class encoder {
 public:
  // REQUIRES: `catalog` outlives the encoder.
  encoder(options opts, const catalog_view* catalog);

  // Consumes one message; appends finished documents to `out`.
  status feed(const pgoutput::any_message& m, const message_position& pos,
              std::vector<document>& out);

 private:
  struct relation_entry {
    pgoutput::relation rel;
    std::vector<const column_meta*> meta; // per column
    bool has_pk = false;
  };
  struct txn_state {
    bool open = false;
    uint32_t xid = 0;
    int64_t commit_time = 0;
    lsn final_lsn;
    lsn end_lsn;
    uint64_t changes = 0;
    std::string body;       // format 1 without chunks: the document so far
    uint32_t origin_id = 0; // 0: no origin (InvalidRepOriginId)
    // Begin seen, its output waiting for the origin (see above).
    bool begin_pending = false;
    message_position begin_pos;
    bool filtered = false; // its origin is in filter-origins
  };

  status on_begin(const pgoutput::begin& b, const message_position& pos,
                  std::vector<document>& out);
  // Writes the open transaction's Begin output, or marks the transaction
  // filtered by its origin.
  void emit_begin(std::vector<document>& out);
  // Handles the message that follows a Begin whose output waits.
  status after_begin(const pgoutput::any_message& m,
                     std::vector<document>& out);
  status on_commit(const pgoutput::commit& c, const message_position& pos,
                   std::vector<document>& out);
  status on_relation(const pgoutput::relation& r);
  status on_change(char action, uint32_t relation_oid,
                   const pgoutput::tuple* new_tuple, char old_kind,
                   const pgoutput::tuple* old_tuple,
                   const message_position& pos, std::vector<document>& out);
  // One change to print, after the checks common to both formats.
  struct change {
    char action;
    const relation_entry& e;
    const pgoutput::tuple* new_tuple;
    const pgoutput::tuple* old_tuple;
    // DEFAULT with a primary key, or USING INDEX; FULL has no index.
    bool has_identity_index;
    // A column of the replica identity (all of them without an index).
    bool in_identity(size_t i) const {
      return !has_identity_index || (e.rel.columns[i].flags & 1) != 0;
    }
    bool in_pk(size_t i) const {
      return e.meta[i] != nullptr && e.meta[i]->primary_key;
    }
  };
  status change_v1(const change& c, const message_position& pos,
                   std::vector<document>& out);
  status change_v2(const change& c, const message_position& pos,
                   std::vector<document>& out);
  status on_truncate(const pgoutput::truncate& t, const message_position& pos,
                     std::vector<document>& out);
  status on_message(const pgoutput::message& m, const message_position& pos,
                    std::vector<document>& out);

  bool table_selected(const std::string& schema,
                      const std::string& table) const;
  // A format 2 record up to its "lsn": action, then xid and timestamp as
  // the options ask (null outside a transaction).
  std::string v2_open(char action, bool in_transaction) const;

  options opts_;
  const catalog_view* catalog_;
  std::unordered_map<uint32_t, relation_entry> relations_;
  txn_state txn_;
  // Pretty-print whitespace: tab, newline, space, or empty strings; ht2_ to
  // ht4_ are two to four tabs, comma_ is the separator "," + sp_.
  std::string ht_, nl_, sp_, ht2_, ht3_, ht4_, comma_;
  // Scratch buffers for format 1's column arrays, reused so that encoding a
  // change allocates nothing once they have grown.
  std::string names_, types_, oids_, positions_, notnulls_, defaults_, values_,
      pk_names_, pk_types_;
};

} // namespace walmux::wal2json
