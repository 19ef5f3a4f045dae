// error.cpp: text rendering of walmux::error.
#include "common/error.hpp"

namespace walmux {

std::string to_string(const error& e) {
  std::string out = e.message;
  if (!e.detail.empty())
    out += "\nDETAIL:  " + e.detail;
  if (!e.hint.empty())
    out += "\nHINT:  " + e.hint;
  if (!e.context.empty())
    out += "\nCONTEXT:  " + e.context;
  return out;
}

} // namespace walmux
