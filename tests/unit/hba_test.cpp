// hba_test.cpp: pg_hba.conf parsing and matching as PostgreSQL's check_hba
// does it (first match wins, keywords, quoted names, CIDR and separate
// masks, IPv4 and IPv6), the refusals of what walmux cannot honour, and
// the password file.
#include "protocol/auth.hpp"
#include "protocol/hba.hpp"

#include <gtest/gtest.h>

namespace walmux::hba {
namespace {

connection from(const char* address, const char* user, const char* db) {
  return connection{*parse_address(address), user, db};
}

int matched_line(const std::vector<rule>& rules, const connection& c) {
  const rule* r = match(rules, c);
  return r ? r->line_number : 0;
}

TEST(hba, first_matching_line_decides) {
  auto rules = parse_hba(
      "# TYPE  DATABASE  USER  ADDRESS  METHOD\n"
      "local   all       all             peer\n"
      "host    app       alice 127.0.0.1/32 scram-sha-256   # app only\n"
      "host    all       bob   10.0.0.0 255.0.0.0 md5\n"
      "hostssl all       all   0.0.0.0/0 trust\n"
      "host    sameuser  all   127.0.0.0/8 password\n"
      "host    all       all   ::1/128 trust\n"
      "host    all       all   all reject\n",
      "/x/pg_hba.conf");
  ASSERT_TRUE(rules) << rules.err().message << " " << rules.err().context;
  ASSERT_EQ(rules->size(), 7u);
  EXPECT_EQ((*rules)[1].method, auth_method::scram_sha_256);
  EXPECT_EQ((*rules)[2].netmask_text, "255.0.0.0");
  EXPECT_EQ(matched_line(*rules, from("127.0.0.1", "alice", "app")), 3);
  // local never matches (no Unix socket), hostssl not without TLS.
  EXPECT_EQ(matched_line(*rules, from("127.0.0.1", "alice", "other")), 8);
  EXPECT_EQ(matched_line(*rules, from("10.200.1.1", "bob", "x")), 4);
  EXPECT_EQ(matched_line(*rules, from("11.0.0.1", "bob", "x")), 8);
  EXPECT_EQ(matched_line(*rules, from("127.0.0.9", "carol", "carol")), 6);
  EXPECT_EQ(matched_line(*rules, from("::1", "carol", "x")), 7);
  EXPECT_EQ(matched_line(*rules, from("::2", "carol", "x")), 8);
}

TEST(hba, hostssl_and_hostnossl_follow_the_connection) {
  auto rules = parse_hba("hostgssenc all all all trust\n"
                         "hostssl all all all scram-sha-256\n"
                         "hostnossl all all all reject\n",
                         "f");
  ASSERT_TRUE(rules);
  connection c = from("127.0.0.1", "u", "d");
  EXPECT_EQ(matched_line(*rules, c), 3);
  c.ssl = true;
  EXPECT_EQ(matched_line(*rules, c), 2);
}

TEST(hba, lists_quotes_and_keywords) {
  auto rules = parse_hba("host \"all\",app \"my user\",alice 0.0.0.0/0 trust\n"
                         "host replication all 0.0.0.0/0 md5\n",
                         "f");
  ASSERT_TRUE(rules);
  // A quoted keyword is a name.
  EXPECT_EQ(matched_line(*rules, from("1.2.3.4", "alice", "all")), 1);
  EXPECT_EQ(matched_line(*rules, from("1.2.3.4", "my user", "app")), 1);
  EXPECT_EQ(matched_line(*rules, from("1.2.3.4", "alice", "other")), 0);
  // `replication` is for physical replication only.
  EXPECT_EQ(matched_line(*rules, from("1.2.3.4", "alice", "replication")), 0);
}

TEST(hba, masks_of_every_length) {
  for (int bits : {0, 1, 7, 8, 9, 24, 31, 32}) {
    auto rules = parse_hba(
        "host all all 192.168.255.255/" + std::to_string(bits) + " trust", "f");
    ASSERT_TRUE(rules) << bits;
    const uint32_t inside = 0xC0A8FFFFu; // the rule's own address
    const uint32_t flipped =
        bits == 0 ? inside : inside ^ (1u << (32 - bits)); // last mask bit
    auto text = [](uint32_t a) {
      return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) +
             "." + std::to_string((a >> 8) & 255) + "." +
             std::to_string(a & 255);
    };
    EXPECT_EQ(matched_line(*rules, from(text(inside).c_str(), "u", "d")), 1);
    EXPECT_EQ(matched_line(*rules, from(text(flipped).c_str(), "u", "d")),
              bits == 0 ? 1 : 0)
        << bits;
  }
  auto v6 = parse_hba("host all all fe80::/10 trust", "f");
  ASSERT_TRUE(v6);
  EXPECT_EQ(matched_line(*v6, from("fe80::1", "u", "d")), 1);
  EXPECT_EQ(matched_line(*v6, from("fec0::1", "u", "d")), 0);
  EXPECT_EQ(matched_line(*v6, from("127.0.0.1", "u", "d")), 0);
}

TEST(hba, errors_name_the_line) {
  struct bad {
    const char* text;
    const char* message;
  };
  const bad cases[] = {
      {"hots all all 1.2.3.4/32 trust", "invalid connection type \"hots\""},
      {"host", "end-of-line before database specification"},
      {"host all", "end-of-line before role specification"},
      {"host all all", "end-of-line before IP address specification"},
      {"host all all 1.2.3.4/32", "end-of-line before authentication method"},
      {"host all all 1.2.3.4/33 trust",
       "invalid CIDR mask in address \"1.2.3.4/33\""},
      {"host all all 1.2.3.4 trust", "invalid IP mask \"trust\""},
      {"host all all db.example.com trust",
       "invalid IP address \"db.example.com\": walmux does not resolve host "
       "names"},
      {"host all all 1.2.3.4/32 magic",
       "invalid authentication method \"magic\""},
      {"host all all 1.2.3.4/32 ldap",
       "authentication method \"ldap\" is not supported by walmux"},
      {"host all all 1.2.3.4/32 md5 clientcert=verify-full",
       "clientcert can only be configured for \"hostssl\" rows"},
      {"hostssl all all 1.2.3.4/32 cert clientcert=verify-ca",
       "clientcert can only be set to \"verify-full\" when using \"cert\" "
       "authentication"},
      {"hostssl all all 1.2.3.4/32 trust clientcert=nope",
       "invalid value for clientcert: \"nope\""},
      {"hostnossl all all 1.2.3.4/32 trust clientname=CN",
       "clientname can only be configured for \"hostssl\" rows"},
      {"hostssl all all 1.2.3.4/32 trust clientname=XX",
       "invalid value for clientname: \"XX\""},
      {"host all all 1.2.3.4/32 cert",
       "cert authentication is only supported on hostssl connections"},
      {"hostssl all all 1.2.3.4/32 trust map=users",
       "authentication option \"map\" is only valid for authentication "
       "methods ident, peer, gssapi, sspi, and cert"},
      {"host all all 1.2.3.4/32 md5 ldapserver=x",
       "walmux does not support authentication option \"ldapserver\""},
      {"hostssl all all 1.2.3.4/32 trust foo=bar",
       "unrecognized authentication option name: \"foo\""},
      {"hostssl all all 1.2.3.4/32 trust foo",
       "authentication option not in name=value format: foo"},
      {"host all +admins 1.2.3.4/32 md5",
       "walmux does not support \"+admins\" in pg_hba.conf: only role names "
       "and all"},
      {"host all all samenet md5",
       "walmux does not support \"samenet\" in pg_hba.conf; write the "
       "addresses"},
      {"host \"app all 1.2.3.4/32 md5", "unterminated quoted string"},
  };
  for (const auto& c : cases) {
    auto r = parse_hba(std::string("# comment\n\n") + c.text, "/d/pg_hba.conf");
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.err().message, c.message) << c.text;
    EXPECT_EQ(r.err().context,
              "line 3 of configuration file \"/d/pg_hba.conf\"")
        << c.text;
  }
  // PostgreSQL's other methods are fine on local lines, which never match.
  EXPECT_TRUE(parse_hba("local all all peer\nlocal all all ident", "f"));
}

// clientcert= and clientname= on hostssl lines, and cert, which implies
// clientcert=verify-full; pg_hba_file_rules shows clientcert as PostgreSQL
// does (and clientname not at all, as PostgreSQL 15).
TEST(hba, client_certificate_options) {
  auto rules = parse_hba(
      "hostssl all a 127.0.0.1/32 trust clientcert=verify-ca\n"
      "hostssl all b 127.0.0.1/32 scram-sha-256 clientcert=verify-full\n"
      "hostssl all c 127.0.0.1/32 cert\n"
      "hostssl all d 127.0.0.1/32 cert clientname=DN clientcert=verify-full\n"
      "hostssl all e 127.0.0.1/32 md5\n",
      "f");
  ASSERT_TRUE(rules) << rules.err().message;
  ASSERT_EQ(rules->size(), 5u);
  const auto& r = *rules;
  EXPECT_EQ(r[0].clientcert, client_cert::verify_ca);
  EXPECT_EQ(r[1].clientcert, client_cert::verify_full);
  EXPECT_EQ(r[1].method, auth_method::scram_sha_256);
  EXPECT_EQ(r[2].method, auth_method::cert);
  EXPECT_EQ(r[2].clientcert, client_cert::verify_full);
  EXPECT_FALSE(r[2].clientname_dn);
  EXPECT_TRUE(r[3].clientname_dn);
  EXPECT_EQ(r[4].clientcert, client_cert::off);
  EXPECT_EQ(shown_options(r[0]),
            std::vector<std::string>{"clientcert=verify-ca"});
  EXPECT_EQ(shown_options(r[2]),
            std::vector<std::string>{"clientcert=verify-full"});
  EXPECT_EQ(shown_options(r[3]),
            std::vector<std::string>{"clientcert=verify-full"});
  EXPECT_TRUE(shown_options(r[4]).empty());
  auto mapped = parse_hba("hostssl all a 127.0.0.1/32 cert map=certs\n", "f");
  ASSERT_TRUE(mapped) << mapped.err().message;
  EXPECT_EQ(mapped->front().map, "certs");
  EXPECT_EQ(shown_options(mapped->front()),
            (std::vector<std::string>{"map=certs", "clientcert=verify-full"}));
}

// pg_ident.conf: exact and regular-expression mappings, \1, the first
// matching line deciding, and PostgreSQL's errors.
TEST(hba, user_name_maps) {
  auto maps = parse_ident("# MAPNAME SYSTEM-USERNAME PG-USERNAME\n"
                          "certs bob frank   # exact\n"
                          "certs \"/^(.*)@example$\" \\1\n"
                          "certs /^x(.*)$ \\1 ignored\n"
                          "other alice frank\n"
                          "broken /^abc$ \\1\n",
                          "f");
  ASSERT_TRUE(maps) << maps.err().message;
  ASSERT_EQ(maps->size(), 5u);
  EXPECT_EQ((*maps)[1].system_name, "/^(.*)@example$");
  EXPECT_EQ((*maps)[2].pg_username, "\\1");
  auto allows = [&](const char* map, const char* system, const char* pg) {
    auto r = map_allows(*maps, map, system, pg);
    return r ? (*r ? "yes" : "no") : r.err().message;
  };
  EXPECT_EQ(allows("certs", "bob", "frank"), "yes");
  EXPECT_EQ(allows("certs", "bob", "Frank"), "no"); // case-sensitive
  EXPECT_EQ(allows("certs", "grace@example", "grace"), "yes");
  EXPECT_EQ(allows("certs", "grace@example.com", "grace"), "no");
  EXPECT_EQ(allows("certs", "grace@example", "frank"), "no");
  EXPECT_EQ(allows("certs", "xdave", "dave"), "yes");
  EXPECT_EQ(allows("certs", "alice", "frank"), "no"); // that is map other
  EXPECT_EQ(allows("other", "alice", "frank"), "yes");
  EXPECT_EQ(allows("none", "bob", "frank"), "no");
  EXPECT_EQ(allows("broken", "abc", "abc"),
            "regular expression \"^abc$\" has no subexpressions as "
            "requested by backreference in \"\\1\"");

  for (const auto& [text, message] :
       std::vector<std::pair<const char*, const char*>>{
           {"m a", "missing entry at end of line"},
           {"m a,b c", "multiple values in ident field"},
           {"m \"/(\" x", "invalid regular expression \"(\": "},
           // What PostgreSQL refuses and glibc would expand without bound.
           {"m /a+++++++++++++++++++++++++++++++++++++++++$ x",
            "invalid regular expression \"a++++++++++++++++++++++++++++++++"
            "+++++++++$\": quantifier operand invalid"},
           {"m /a{256} x", "invalid regular expression \"a{256}\": "
                           "invalid repetition count(s)"}}) {
    auto bad = parse_ident(text, "/d/pg_ident.conf");
    ASSERT_FALSE(bad) << text;
    EXPECT_EQ(bad.err().message.rfind(message, 0), 0u) << bad.err().message;
    EXPECT_EQ(bad.err().context,
              "line 1 of configuration file \"/d/pg_ident.conf\"");
  }
  auto lines = parse_ident_lines("m a b\n\n# c\nm a\n");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(lines[0].parsed);
  EXPECT_EQ(lines[1].line_number, 4);
  EXPECT_EQ(lines[1].error, "missing entry at end of line");
}

TEST(hba, password_file) {
  const std::string scram = auth::scram_secret_to_text(
      auth::scram_make_secret("pencil", "saltsaltsalt", 4096));
  auto secrets = parse_password_file(
      "; PgBouncer's format\n"
      "\"alice\" \"" +
          scram +
          "\"\n"
          "  # another comment\n"
          "\"bo\"\"b\"   \"md5d8578edf8458ce06fbc5bb76a58c5ca4\"\n",
      "/d/users.txt");
  ASSERT_TRUE(secrets) << secrets.err().message;
  EXPECT_EQ(secrets->size(), 2u);
  EXPECT_EQ(secrets->at("alice"), scram);
  EXPECT_EQ(secrets->at("bo\"b"), "md5d8578edf8458ce06fbc5bb76a58c5ca4");

  auto plain = parse_password_file("\"alice\" \"pencil\"\n", "/d/users.txt");
  ASSERT_FALSE(plain);
  EXPECT_EQ(plain.err().message, "the secret of user \"alice\" is neither a "
                                 "SCRAM-SHA-256 verifier nor an md5 hash");
  EXPECT_EQ(plain.err().context,
            "line 1 of configuration file \"/d/users.txt\"");
  EXPECT_FALSE(parse_password_file("alice md5x\n", "f"));
  EXPECT_FALSE(parse_password_file("\"alice\" \"md5\" extra\n", "f"));
}

} // namespace
} // namespace walmux::hba
