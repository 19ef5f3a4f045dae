// slot_functions.cpp: see slot_functions.hpp.
#include "actors/admin/slot_functions.hpp"

#include "actors/admin/sql_values.hpp"
#include "actors/walsender/slot_commands.hpp"
#include "actors/walsender/slot_decoding.hpp"

#include <climits>

namespace walmux::actors::admin {
namespace {

expected<storage::slot_record>
create_slot_from_args(walsender_env& env, int pid, const std::string& database,
                      const std::vector<sql_value>& args) {
  auto name = text_arg(args, 0);
  auto plugin = text_arg(args, 1);
  if (!name)
    return null_argument("slot_name");
  if (!plugin)
    return null_argument("plugin");
  auto temporary = bool_arg(args, 2, false);
  if (!temporary)
    return std::move(temporary).err();
  auto two_phase = bool_arg(args, 3, false);
  if (!two_phase)
    return std::move(two_phase).err();
  return create_logical_slot(env, *name, *plugin, database, *temporary,
                             *two_phase, pid);
}

// The hidden argument columns of the changes functions: slot_name,
// upto_lsn, upto_nchanges, then VARIADIC options as up to 16 values.
constexpr int change_option_values = 16;

std::string change_function_schema(bool binary) {
  std::string schema =
      std::string("CREATE TABLE x(lsn pg_lsn, xid xid, data ") +
      (binary ? "bytea" : "text") +
      ", arg_slot_name HIDDEN, arg_upto_lsn HIDDEN, "
      "arg_upto_nchanges HIDDEN";
  for (int i = 1; i <= change_option_values; ++i)
    schema += ", arg_option" + std::to_string(i) + " HIDDEN";
  return schema + ")";
}

// pg_logical_slot_{get,peek}[_binary]_changes (slot_decoding.hpp).
table_def change_function(walsender_env& env, int session_pid,
                          const std::string& database, bool confirm,
                          bool binary) {
  std::string name = std::string("pg_logical_slot_") +
                     (confirm ? "get" : "peek") + (binary ? "_binary" : "") +
                     "_changes";
  return {name, change_function_schema(binary), 3 + change_option_values,
          [&env, session_pid, database, confirm, binary,
           name](const std::vector<sql_value>& args)
              -> expected<std::vector<sql_row>> {
            slot_changes_request r;
            auto slot = text_arg(args, 0);
            if (!slot)
              return error{"22004", "slot name must not be null"};
            r.slot = *slot;
            if (args.size() > 1 &&
                !std::holds_alternative<std::monostate>(args[1])) {
              auto upto = lsn_arg(args, 1);
              if (!upto)
                return std::move(upto).err();
              r.upto_lsn = *upto;
            }
            if (auto n = text_arg(args, 2)) {
              auto v = integer_from_text(*n, "integer", INT32_MIN, INT32_MAX);
              if (!v)
                return std::move(v).err();
              r.upto_nchanges = *v;
            }
            // The options: the given values, in name/value pairs.
            std::vector<std::string> values;
            bool ended = false;
            for (size_t i = 3; i < args.size(); ++i) {
              auto v = text_arg(args, i);
              if (!v) {
                ended = true;
                continue;
              }
              if (ended)
                return error{sqlstate::feature_not_supported,
                             "array must not contain nulls"};
              values.push_back(*v);
            }
            if (values.size() % 2 != 0)
              return error{sqlstate::invalid_parameter_value,
                           "array must have even number of elements"};
            for (size_t i = 0; i < values.size(); i += 2)
              r.options.push_back(
                  {values[i], repl::option::kind::string, values[i + 1]});
            r.binary = binary;
            r.confirm = confirm;
            r.function_signature = name + "(name,pg_lsn,integer,text[])";
            auto rows = slot_changes(env, session_pid, database, r,
                                     sql_limits{}.result_bytes);
            if (!rows)
              return std::move(rows).err();
            std::vector<sql_row> out;
            out.reserve(rows->size());
            for (auto& c : *rows)
              out.push_back(
                  {lsn_value(c.at), integer(c.xid), text(std::move(c.data))});
            return out;
          }};
}

} // namespace

void add_record_function(
    node_catalog& c, const std::string& name, const std::string& schema,
    int min_arguments, int arguments,
    std::function<expected<sql_row>(const std::vector<sql_value>&)> row) {
  c.tables.push_back({name, schema, arguments,
                      [row](const std::vector<sql_value>& args)
                          -> expected<std::vector<sql_row>> {
                        auto r = row(args);
                        if (!r)
                          return std::move(r).err();
                        return std::vector<sql_row>{std::move(*r)};
                      }});
  c.functions.push_back(
      {name, min_arguments, arguments, "text",
       [row](const std::vector<sql_value>& args) -> expected<sql_value> {
         auto r = row(args);
         if (!r)
           return std::move(r).err();
         std::string record = "(";
         for (size_t i = 0; i < r->size(); ++i) {
           if (i > 0)
             record += ",";
           if (auto* s = std::get_if<std::string>(&(*r)[i]))
             record += *s;
           else if (auto* n = std::get_if<int64_t>(&(*r)[i]))
             record += std::to_string(*n);
         }
         return text(record + ")");
       }});
}

void add_slot_functions(node_catalog& c, walsender_env& env, int session_pid,
                        const std::string& database) {
  for (bool confirm : {true, false})
    for (bool binary : {false, true})
      c.tables.push_back(
          change_function(env, session_pid, database, confirm, binary));
  add_record_function(
      c, "pg_create_logical_replication_slot",
      "CREATE TABLE x(slot_name name, lsn pg_lsn, arg_slot_name HIDDEN, "
      "arg_plugin HIDDEN, arg_temporary HIDDEN, arg_two_phase HIDDEN)",
      2, 4,
      [&env, session_pid,
       database](const std::vector<sql_value>& args) -> expected<sql_row> {
        auto slot = create_slot_from_args(env, session_pid, database, args);
        if (!slot)
          return std::move(slot).err();
        return sql_row{text(slot->name), lsn_value(slot->confirmed_flush)};
      });
  add_record_function(
      c, "pg_copy_logical_replication_slot",
      "CREATE TABLE x(slot_name name, lsn pg_lsn, arg_src_slot_name HIDDEN, "
      "arg_dst_slot_name HIDDEN, arg_temporary HIDDEN, arg_plugin HIDDEN)",
      2, 4,
      [&env, session_pid,
       database](const std::vector<sql_value>& args) -> expected<sql_row> {
        auto source = text_arg(args, 0);
        if (!source)
          return null_argument("src_slot_name");
        auto name = text_arg(args, 1);
        if (!name)
          return null_argument("dst_slot_name");
        std::optional<bool> temporary;
        if (args.size() > 2 &&
            !std::holds_alternative<std::monostate>(args[2])) {
          auto t = bool_arg(args, 2, false);
          if (!t)
            return std::move(t).err();
          temporary = *t;
        }
        auto slot = copy_logical_slot(env, *source, *name, database, temporary,
                                      text_arg(args, 3), session_pid);
        if (!slot)
          return std::move(slot).err();
        return sql_row{text(slot->name), lsn_value(slot->confirmed_flush)};
      });
  add_record_function(
      c, "pg_replication_slot_advance",
      "CREATE TABLE x(slot_name name, end_lsn pg_lsn, arg_slot_name HIDDEN, "
      "arg_upto_lsn HIDDEN)",
      2, 2,
      [&env, session_pid,
       database](const std::vector<sql_value>& args) -> expected<sql_row> {
        auto slot = text_arg(args, 0);
        if (!slot)
          return error{"22004", "slot name must not be null"};
        auto upto = lsn_arg(args, 1);
        if (!upto)
          return std::move(upto).err();
        auto end = advance_slot(env, session_pid, database, *slot, *upto);
        if (!end)
          return std::move(end).err();
        return sql_row{text(*slot), lsn_value(*end)};
      });
  c.functions.push_back(
      {"pg_drop_replication_slot", 1, 1, "void",
       [&env, session_pid](
           const std::vector<sql_value>& args) -> expected<sql_value> {
         auto name = text_arg(args, 0);
         if (!name)
           return null_argument("slot_name");
         if (auto st = drop_slot(env, *name, false, session_pid); !st)
           return std::move(st).err();
         return text("");
       }});
  c.functions.push_back(
      {"pg_stat_reset_replication_slot", 1, 1, "void",
       [&env](const std::vector<sql_value>& args) -> expected<sql_value> {
         auto name = text_arg(args, 0);
         if (name && !env.slots->get(*name))
           return error{sqlstate::undefined_object,
                        "replication slot \"" + *name + "\" does not exist"};
         env.slot_counts.reset(name, unix_micros_now());
         return text("");
       }});
}

} // namespace walmux::actors::admin
