// copy_rows.cpp: see copy_rows.hpp.
#include "protocol/copy_rows.hpp"

#include "protocol/pg_text.hpp"

namespace walmux::copyrows {
namespace {

void append_be(std::string& out, uint32_t v, int bytes) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8)
    out += static_cast<char>((v >> shift) & 0xff);
}

} // namespace

copy_format format_of(const pgoutput::tuple& row) {
  bool text = false, binary = false;
  for (const auto& v : row) {
    text = text || v.format == 't';
    binary = binary || v.format == 'b';
  }
  return binary ? (text ? copy_format::none : copy_format::binary)
                : copy_format::text;
}

void append_text_row(std::string& out, const pgoutput::tuple& row) {
  for (size_t i = 0; i < row.size(); ++i) {
    if (i)
      out += '\t';
    if (row[i].format == 'n')
      out += "\\N";
    else
      pgtext::escape_copy_text(out, row[i].data);
  }
  out += '\n';
}

void append_binary_row(std::string& out, const pgoutput::tuple& row) {
  append_be(out, static_cast<uint32_t>(row.size()), 2);
  for (const auto& v : row) {
    if (v.format == 'n') {
      append_be(out, 0xffffffffu, 4);
      continue;
    }
    append_be(out, static_cast<uint32_t>(v.data.size()), 4);
    out += v.data;
  }
}

} // namespace walmux::copyrows
