// `tessera keys`: API keys of accounts. A key is printed once, at creation;
// the ledger keeps only its SHA-256 and a short prefix to recognise it by.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "billing_cli.h"
#include "cli_common.h"
#include "tessera/billing/json_views.h"

namespace tessera::cli {
namespace {

struct KeysArgs {
  std::string db, plan, account, name, which, format = "table";
};

int run_create(const KeysArgs& a) {
  auto ledger = open_ledger(a.db, false);
  billing::KeyInfo info;
  std::string account = a.account.empty() ? "default" : a.account;
  std::string key = ledger->create_key(account, a.plan, a.name, &info);
  std::cerr << "created key " << info.key_id << " (" << info.key_prefix << "...) for account '" << account
            << "' on plan '" << a.plan << "'; it is shown only now:\n";
  std::cout << key << "\n";  // the last (only) stdout line: scripts capture it
  return 0;
}

int run_list(const KeysArgs& a) {
  auto keys = open_ledger(a.db, false)->keys();
  if (a.format == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& k : keys)
      out.push_back(billing::to_json(k));
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  TextRows rows;
  for (const auto& k : keys)
    rows.push_back({std::to_string(k.key_id), k.key_prefix + "...", k.name.empty() ? "-" : k.name, k.account,
                    k.plan.name, unix_date(k.created_at), k.revoked ? "revoked" : "active"});
  print_table({"id", "prefix", "name", "account", "plan", "created (UTC)", "state"}, rows);
  return 0;
}

int run_revoke(const KeysArgs& a) {
  auto ledger = open_ledger(a.db, false);
  std::string which = a.which;
  if (which.size() > 3 && which.compare(which.size() - 3, 3, "...") == 0) which.resize(which.size() - 3);
  TSR_CHECK(ledger->revoke_key(which), Error, "no key with id or prefix '", a.which, "' (see tessera keys list)");
  std::cout << "revoked " << a.which << "\n";
  return 0;
}

}  // namespace

Command add_keys_command(CLI::App& app) {
  auto a = std::make_shared<KeysArgs>();
  auto* keys = app.add_subcommand("keys", "API keys: create (shown once), list, revoke");
  keys->require_subcommand(1);

  auto* create = keys->add_subcommand("create", "Create a key; prints it once, alone on the last line of stdout");
  create->add_option("--db", a->db, "ledger: SQLite file or postgresql:// URL")->required();
  create->add_option("--plan", a->plan, "the account's plan (tessera plans set)")->required();
  create->add_option("--account", a->account, "account the key bills to (created on first use; default: default)");
  create->add_option("--name", a->name, "a label for lists and reports");

  auto* list = keys->add_subcommand("list", "List keys (prefix, account, plan, created, revoked; never the key)");
  list->add_option("--db", a->db, "ledger: SQLite file or postgresql:// URL")->required();
  list->add_option("--format", a->format, "table (default) or json")->check(CLI::IsMember({"table", "json"}));

  auto* revoke = keys->add_subcommand("revoke", "Revoke a key: its requests get 401 from then on");
  revoke->add_option("key", a->which, "key id, prefix (as listed) or the key itself")->required();
  revoke->add_option("--db", a->db, "ledger: SQLite file or postgresql:// URL")->required();

  return {keys, [a, create, list, revoke] {
            if (create->parsed()) return run_create(*a);
            if (list->parsed()) return run_list(*a);
            if (revoke->parsed()) return run_revoke(*a);
            return 2;
          }};
}

}  // namespace tessera::cli
