// sql_text.hpp: the little SQL text handling walmux's SQL surface does
// before its engine sees a statement: where a statement ends, its leading
// words, PostgreSQL casts to drop, and whether an expression is boolean.
// Not a SQL parser: each function states exactly what it recognizes.
//
// Pure: no I/O; fuzzed by tests/fuzz/fuzz_sql_text.cpp.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace walmux::sqltext {

// The end of the statement starting at sql[0]: the first ';' outside
// 'literals' and "quoted identifiers", or the end of the text.
size_t statement_end(std::string_view sql);

// The next word at or after `at` (spaces skipped; letters, digits, '_' and
// '.'), down-cased; `at` moves past it. Empty at the end or before any
// other character.
std::string next_word(std::string_view sql, size_t& at);

// Whether `s` is a plain identifier: [A-Za-z_][A-Za-z0-9_]*.
bool is_identifier(std::string_view s);

// The text with PostgreSQL "::type" casts removed (type names with dots,
// quotes, one parenthesized modifier list and [] suffixes) outside string
// literals and quoted identifiers: walmux's values are already in their
// output form.
std::string strip_casts(std::string_view sql);

// The text with SQL's niladic functions written as calls: current_user,
// session_user, user, current_role, current_schema and current_catalog,
// when a whole word outside literals and quoted identifiers and not already
// followed by "(", become current_user() and so on, so that an engine that
// only knows function calls can answer them.
std::string call_niladic_functions(std::string_view sql);

// The text with "pg_catalog." removed where it qualifies a function call
// (pg_catalog.pg_get_userbyid(...)): the engine's functions have no schema.
// Qualified table names are left as they are.
std::string unqualify_catalog_calls(std::string_view sql);

// The text with PostgreSQL's escape string constants (E'a\nb') written as
// standard literals: the backslash escapes \b \f \n \r \t, \ooo (octal),
// \xhh (hex) and \c (c itself) resolved and quotes doubled. A byte is
// written as it is: \u escapes are kept unresolved.
std::string plain_escape_strings(std::string_view sql);

// The text with PostgreSQL's regular expression match operators written
// as the engine's: a binary "~" and OPERATOR(pg_catalog.~) become REGEXP,
// "!~" NOT REGEXP, the case-insensitive "~*" and "!~*" MATCH and NOT MATCH
// (a "~" after an operator, "(" or a keyword is the unary bitwise not and
// stays); "COLLATE pg_catalog.default" (what psql's name patterns add) is
// dropped.
std::string regex_operators(std::string_view sql);

// Everything above that a statement goes through before the engine sees
// it: escape strings, casts, regular expression operators,
// catalog-qualified calls, niladic functions.
std::string for_engine(std::string_view sql);

// The expression that a select-list alias names in `sql`: the text
// before "AS alias" (AS "alias" for a quoted one; an unquoted alias
// compares case-insensitively) back to the previous comma, "(" or SELECT /
// DISTINCT keyword at the same nesting depth, outside literals, trimmed;
// nullopt when there is no such alias.
std::optional<std::string> aliased_expression(std::string_view sql,
                                              std::string_view alias);

// Whether an expression's text has a comparison (=, <, >, <=, >=, <>, !=)
// or a logical/predicate keyword (IS, NOT, AND, OR, IN, LIKE, BETWEEN,
// EXISTS, GLOB, REGEXP, MATCH) at its top level, outside parentheses and
// literals; an expression wholly in parentheses counts as its inside.
bool looks_boolean(std::string_view expr);

// Where `sql` names the relation `name` right after FROM or JOIN (unquoted,
// compared without regard to case, or quoted and exactly), outside
// literals: the byte offset of its first such mention, or nullopt.
// What PostgreSQL's cursor points at for `relation "x" does not exist`.
std::optional<size_t> relation_mention(std::string_view sql,
                                       std::string_view name);

} // namespace walmux::sqltext
