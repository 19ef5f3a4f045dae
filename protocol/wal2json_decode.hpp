// wal2json_decode.hpp: reading wal2json output (format versions 1 and 2)
// back into change records, for ingesting from an upstream slot that uses
// the wal2json plugin. Built on simdjson's On Demand parser.
//
// Values come back in PostgreSQL's text form, the form pgoutput carries:
// numbers as their exact JSON token, true/false as t/f, bytea (recognized
// by its type name or OID, so one of include-types / include-type-oids must
// be on for bytea columns) with its "\x" restored, strings unescaped. A JSON
// null is SQL NULL; wal2json also prints NaN and Infinity as null, which
// cannot be told apart and come back as NULL.
//
// Format 1 documents written with write-in-chunks arrive in pieces that are
// not JSON on their own; chunk_assembler joins them into whole documents.
//
// Pure: no I/O. Every input is bounded by the caller's frame size; malformed
// JSON or an unexpected shape is an 08P01 error value.
#pragma once

#include "common/expected.hpp"
#include "protocol/lsn.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace walmux::wal2json {

struct decoded_column {
  std::string name;
  std::string type;                 // empty when types were not printed
  std::optional<uint32_t> type_oid; // when type OIDs were printed
  std::optional<std::string> value; // PostgreSQL text form; nullopt = NULL
};

struct decoded_record {
  char action = 0; // 'B' 'C' 'I' 'U' 'D' 'T' 'M'
  std::optional<uint32_t> xid;
  std::optional<std::string> timestamp;
  std::optional<lsn> position; // "lsn"
  std::optional<lsn> next_lsn; // "nextlsn"
  std::string schema;
  std::string table;
  std::vector<decoded_column> columns; // new row (I, U)
  std::vector<decoded_column>
      identity;                // old key (U, D): v1 oldkeys, v2 identity
  std::vector<std::string> pk; // primary key column names
  bool transactional = false;  // M
  std::string prefix;          // M
  std::string content;         // M
};

// Decodes one document. Format 1: a transaction becomes B, its changes and
// messages, then C (a lone non-transactional message document becomes one
// M). Format 2: one record per document.
expected<std::vector<decoded_record>> decode_document(std::string_view text,
                                                      int format_version);

// Joins format 1 write-in-chunks pieces: feed each piece; when the pieces
// so far form a complete JSON value it is returned and the assembler starts
// over. Tracks nesting outside strings, so it never needs to parse.
class chunk_assembler {
 public:
  explicit chunk_assembler(size_t max_bytes = size_t{1} << 30)
      : max_bytes_(max_bytes) {}
  expected<std::optional<std::string>> feed(std::string_view piece);

 private:
  std::string buffer_;
  size_t max_bytes_;
  int depth_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;
  bool started_ = false;
};

} // namespace walmux::wal2json
