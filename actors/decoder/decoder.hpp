// decoder.hpp: the decoder role: turns one slot's view of the stored stream
// into the messages its client receives.
//
// PostgreSQL's rules, kept here:
// - A transaction is sent iff its commit LSN is at or after the start point
//   (max of the requested LSN and the slot's confirmed_flush).
// - A large transaction comes in pieces (wal_reader), fed in order; Begin
//   (and what precedes the first change) waits for the first change the
//   client gets, after which the rest goes out as it is decoded.
// - Only the tables and actions of the slot's publications are kept (their
//   definitions come from the upstream's catalogs, looked up again when a
//   Relation for an unknown table arrives); a transaction left without
//   changes is not sent.
// - A Relation (and the Type messages of its non-builtin column types) goes
//   out before the first change to that table on this connection, and again
//   whenever the upstream sent a new definition.
// - pgoutput messages pass through byte for byte (the stored stream is the
//   upstream's, in the protocol 1 layout, which versions 2 to 4 keep for
//   transactions that are neither streamed nor prepared); only Truncate is
//   re-encoded when filtering removes some of its tables. wal2json output
//   is encoded from the same messages.
//
// A decoder runs inside its walsender's thread: one slot is read by one
// connection at a time, so a separate actor would add a copy and a mailbox
// hop per message and no concurrency (see actors/README.md).
#pragma once

#include "common/expected.hpp"
#include "protocol/lsn.hpp"
#include "protocol/pgoutput.hpp"
#include "protocol/repl_command.hpp"
#include "protocol/wal2json.hpp"
#include "storage/wal_reader.hpp"

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace walmux::actors {

// Published actions of one table: the union over the slot's publications.
struct published_actions {
  bool insert = false, update = false, del = false, truncate = false;
  // The publications' column list, when it leaves some of the table's
  // columns out; empty: every column is published.
  std::vector<std::string> columns;
  // The client's row filter (its publications' WHERE clauses, ORed), when
  // the node stores the table filtered more widely (or not at all) and
  // each change must be checked; empty: the stored rows are the client's.
  std::string row_filter;
};
// "schema.table" -> actions.
using publication_map = std::map<std::string, published_actions>;

// What a decoder needs from the upstream's catalogs (blocking calls).
class upstream_lookup {
 public:
  virtual ~upstream_lookup() = default;
  // The tables of the publications `names`, their actions, column lists
  // and row filters, for a client of a node that streams the publications
  // `streamed` (names is a subset, so the stored rows are a superset of
  // the client's). 42704 for a missing publication; 0A000 for a table
  // published with different column lists (PostgreSQL's rule), or whose
  // row filters for insert, update and delete differ from each other and
  // from those of `streamed`.
  virtual expected<publication_map>
  publications(const std::vector<std::string>& names,
               const std::vector<std::string>& streamed) = 0;
  // Which of `rows` (rows of a relation whose columns are `names` of
  // types `type_oids`, text values; 'n' and 'u' as NULL) pass `filter`, in
  // their order, evaluated by the upstream: row filters use only immutable
  // built-in functions, so the answer does not depend on when it is asked.
  virtual expected<std::vector<bool>>
  rows_match(const std::string& filter, const std::vector<std::string>& names,
             const std::vector<uint32_t>& type_oids,
             const std::vector<const pgoutput::tuple*>& rows) = 0;
  // The columns of a relation, for wal2json, by column name.
  virtual expected<std::map<std::string, wal2json::column_meta>>
  columns(uint32_t relation_oid) = 0;
  // The id (roident) of the replication origin named `name`, or nullopt
  // when the upstream has no such origin, for wal2json.
  virtual expected<std::optional<uint32_t>>
  origin_id(const std::string& name) = 0;
};

struct decoder_params {
  std::string plugin; // pgoutput or wal2json
  lsn start_point;    // max(requested start, confirmed_flush)
  std::vector<repl::option> options;
  int max_proto_version = 3; // the upstream's (walmux reports its version)
  std::vector<std::string> upstream_publications;
  upstream_lookup* lookup = nullptr; // REQUIRES: outlives the decoder
};

class decoder {
 public:
  // One XLogData: header LSNs and payload.
  struct output {
    lsn data_start;
    lsn wal_end;
    std::string payload;
  };

  // Validates the plugin options with PostgreSQL's (or wal2json's) texts.
  static expected<std::unique_ptr<decoder>> create(decoder_params params);
  ~decoder();

  // Learns Relation and Type definitions from a transaction before the
  // start point (or sends nothing for one after it: use feed()).
  status learn(const storage::transaction_view& txn);
  // Appends what the client gets from `txn` (possibly nothing).
  status feed(const storage::transaction_view& txn, std::vector<output>& out);

  lsn start_point() const { return params_.start_point; }

  // True when the client's row filter must be checked on some table's
  // stored changes (pgoutput): the caller may then hand the decoder
  // several whole transactions at once, so that their rows are checked in
  // one upstream query per table instead of one per transaction.
  bool checks_rows() const { return checks_rows_; }
  // Has the client's row filter evaluated for the changes of `txns`, which
  // the caller feeds next, in this order, keeping their bytes valid until
  // end_rows_ahead().
  status check_rows_ahead(std::span<const storage::transaction_view> txns);
  void end_rows_ahead();

 private:
  struct relation_def {
    std::string bytes; // the stored Relation message
    std::string qualified;
    std::vector<uint32_t> type_oids;
    std::vector<std::string> names; // of its columns, in order
    // Shaped for the published columns (see shape()): the Relation sent,
    // and which stored columns it keeps (empty: all of them).
    std::string sent_bytes;
    std::vector<bool> keep;
    uint64_t shaped_generation = 0; // of published_; 0 = not shaped
  };

  explicit decoder(decoder_params params);
  status parse_pgoutput_options();
  // Keeps a Relation message as its relation's definition: its OID, and
  // whether it replaced a different one.
  struct noted_relation {
    uint32_t oid = 0;
    bool redefined = false;
  };
  expected<noted_relation> note_relation(std::string_view bytes);
  // Reads the client's publications again (published_).
  status look_up_publications();
  // wal2json: reads a relation's columns from the upstream's catalogs, as
  // the Relation message that precedes its changes arrives.
  status load_columns(const pgoutput::relation& r);
  // The actions published for a relation; null when it is not published.
  expected<const published_actions*> actions_for(uint32_t relation_oid);
  // The same for the relation of an R, I, U or D message, whose OID is
  // stored in `relation_oid`.
  expected<const published_actions*> message_actions(std::string_view bytes,
                                                     uint32_t& relation_oid);
  // Shapes the relation's definition for the column list of `a` (a
  // Relation with the published columns only, and which tuple columns to
  // keep), once per lookup of the publications. 55000 when the list names
  // a column the stored stream lacks.
  expected<const relation_def*> shape(uint32_t relation_oid,
                                      const published_actions& a);
  status ensure_relation_sent(uint32_t relation_oid, const published_actions& a,
                              std::vector<output>& out);
  // Applies the client's row filter of `a` to a stored change as
  // PostgreSQL's pgoutput does (an update whose old row passes and new row
  // does not becomes a delete, the reverse an insert): the bytes to send,
  // empty to send nothing.
  expected<std::string> filter_change(std::string_view bytes,
                                      const relation_def& def,
                                      const published_actions& a);
  // Has the client's row filter evaluated, ahead of the main pass, for the
  // changes of `txn` from message `first` on, so that the upstream checks
  // a table's rows in one query instead of one query a row: up to
  // rows_ahead::max_rows rows, and not past a Relation that redefines a
  // table. Nothing to do when message `first` has its verdict already.
  status check_rows_ahead(const storage::transaction_view& txn, size_t first);
  struct rows_ahead;
  // Adds the rows of `txn` from message `first` on that need the client's
  // row filter to `ahead`, until it is full.
  status collect_rows(const storage::transaction_view& txn, size_t first,
                      rows_ahead& ahead);
  // Asks the upstream about the rows of `ahead`: verdicts_ holds the
  // answers.
  status evaluate_rows(rows_ahead& ahead);
  // A change message for the published columns only.
  expected<std::string> project_change(std::string_view bytes,
                                       const relation_def& def);
  status feed_pgoutput(const storage::transaction_view& txn,
                       std::vector<output>& out);
  status feed_wal2json(const storage::transaction_view& txn,
                       std::vector<output>& out);

  decoder_params params_;
  // pgoutput options
  bool messages_ = false;
  bool origin_none_ = false;
  // wal2json
  class column_catalog;
  std::unique_ptr<column_catalog> columns_;
  std::unique_ptr<wal2json::encoder> wal2json_;
  // wal2json with include-origin or filter-origins: origin names are
  // looked up as they come.
  bool wal2json_origins_ = false;

  publication_map published_;
  std::vector<std::string> streamed_publications_; // the node's
  uint64_t published_generation_ = 1; // counts lookups of published_
  bool checks_rows_ = false; // some entry of published_ has a row_filter
  std::set<uint32_t> unpublished_checked_;               // looked up again once
  std::unordered_map<uint32_t, relation_def> relations_; // newest definition
  std::unordered_map<uint32_t, std::string> types_;      // Type messages
  std::unordered_map<uint32_t, std::string> sent_relations_; // on this conn
  // The client's row-filter verdicts found by check_rows_ahead, by the
  // first byte of the stored change; valid while published_generation_
  // is verdicts_generation_ (the filters they were found with).
  struct row_verdict {
    bool new_row = false; // an insert's or update's new row passes
    bool old_row = false; // a delete's or update's old row passes
  };
  std::unordered_map<const char*, row_verdict> verdicts_;
  uint64_t verdicts_generation_ = 0;
  // The verdict found for a stored change, if it is still valid.
  const row_verdict* verdict_for(std::string_view change) const;
  // Between check_rows_ahead(txns) and end_rows_ahead(): the verdicts
  // belong to several transactions, whose bytes the caller keeps.
  bool keep_verdicts_ = false;
  // The transaction being fed (in pieces when it is large): Begin and
  // Origin wait, with what follows them (Relations, Types), until its first
  // change for the client starts it; from then on its messages go out as
  // they come.
  struct open_transaction {
    output begin, origin;
    bool has_begin = false, has_origin = false;
    std::vector<output> types; // waiting for their Relation
    std::vector<output> body;  // after Begin, until started
    bool started = false;      // Begin is out
    bool dropped = false;      // from another origin, with origin = none
  };
  open_transaction open_;
  // Relations put in the transaction being built: sent only if it is.
  std::unordered_map<uint32_t, std::string> txn_relations_;
};

} // namespace walmux::actors
