// fuzz_subscription_ddl.cpp: CREATE / ALTER / DROP SUBSCRIPTION parsing
// never crashes or reads past its input, and the options of whatever
// parses are interpreted (accepted or refused) and publication lists merged
// without crashing.
#include "protocol/subscription_ddl.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace walmux::subddl;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = parse(text);
  if (!parsed || !*parsed)
    return 0;
  if (auto* c = std::get_if<create_subscription>(&**parsed)) {
    (void)interpret_options(c->options, option_context::create, {});
  } else if (auto* a = std::get_if<alter_subscription>(&**parsed)) {
    (void)interpret_options(a->options, option_context::set, {});
    (void)interpret_options(a->options, option_context::refresh, {});
    (void)interpret_options(a->options, option_context::publication, {});
    (void)interpret_skip(a->options);
    if (a->what == alter_subscription::action::add_publication ||
        a->what == alter_subscription::action::drop_publication ||
        a->what == alter_subscription::action::set_publication)
      (void)merge_publications({"p", "q"}, *a);
  }
  return 0;
}
