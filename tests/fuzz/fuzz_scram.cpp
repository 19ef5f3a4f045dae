// fuzz_scram.cpp: the SCRAM server and client on hostile messages, and the
// stored-secret parser. Input: messages separated by NUL bytes.
#include "protocol/auth.hpp"

#include <cstdint>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace walmux::auth;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  while (true) {
    auto nul = in.find('\0');
    parts.push_back(in.substr(0, nul));
    if (nul == std::string_view::npos)
      break;
    in.remove_prefix(nul + 1);
  }
  static const scram_secret secret = scram_make_secret("pw", "salt", 2);
  scram_server server(secret, "servernonce");
  if (server.client_first(parts[0]) && parts.size() > 1)
    (void)server.client_final(parts[1]);
  // Over TLS, with SCRAM-SHA-256-PLUS chosen or not.
  for (bool plus : {false, true}) {
    scram_server bound(secret, "servernonce", "certhash", plus);
    if (bound.client_first(parts[0]) && parts.size() > 1)
      (void)bound.client_final(parts[1]);
  }
  scram_client client("pw", "clientnonce");
  client.client_first();
  // Keep the PBKDF2 work small: iteration counts come from the input.
  if (parts[0].find("i=") == std::string_view::npos || parts[0].size() < 64) {
    if (client.server_first(parts[0]) && parts.size() > 1)
      (void)client.server_final(parts[1]);
  }
  (void)scram_secret_from_text(parts[0]);
  (void)base64_decode(parts[0]);
  return 0;
}
