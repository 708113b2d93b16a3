// `tessera usage`: what was served and charged (report), and whether the
// ledger is consistent (audit: counters as kept vs recomputed from the rows).
#include <cstdio>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "billing_cli.h"
#include "cli_common.h"
#include "tessera/billing/json_views.h"
#include "tessera/billing/money.h"

namespace tessera::cli {
namespace {

struct UsageArgs {
  std::string db, from, to, by = "key", format = "table";
};

// Gross margin in percent with one decimal, or "-" without revenue.
std::string margin(const billing::UsageRow& r) {
  if (r.cost_micros < 0 || r.revenue_micros == 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", 100.0 * double(r.revenue_micros - r.cost_micros) / double(r.revenue_micros));
  return buf;
}

bool under_cost(const billing::UsageRow& r) { return r.cost_micros >= 0 && r.revenue_micros < r.cost_micros; }

int run_report(const UsageArgs& a) {
  int64_t from = a.from.empty() ? 0 : billing::parse_day_or_unix(a.from, "--from");
  int64_t to = a.to.empty() ? std::numeric_limits<int64_t>::max() : billing::parse_day_or_unix(a.to, "--to");
  TSR_CHECK(from < to, Error, "usage report: --from ", a.from, " is not before --to ", a.to);
  auto rows = open_ledger(a.db, false)->usage(from, to, a.by);
  if (a.format == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : rows) {
      nlohmann::json j = {{a.by, r.group},
                          {"requests", r.requests},
                          {"prompt_tokens", r.prompt_tokens},
                          {"completion_tokens", r.completion_tokens},
                          {"revenue_micros", r.revenue_micros},
                          {"revenue", billing::format_micros(r.revenue_micros)},
                          {"interrupted", r.interrupted},
                          {"cancelled", r.cancelled}};
      if (r.cost_micros >= 0) {
        j["cost_micros"] = r.cost_micros;
        j["cost"] = billing::format_micros(r.cost_micros);
        j["under_cost"] = under_cost(r);
        if (r.revenue_micros) j["gross_margin_percent"] = std::stod(margin(r));
      }
      out.push_back(j);
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  TextRows text;
  int64_t requests = 0, prompt = 0, completion = 0, revenue = 0;
  for (const auto& r : rows) {
    text.push_back({r.group, std::to_string(r.requests), std::to_string(r.prompt_tokens),
                    std::to_string(r.completion_tokens), billing::format_micros(r.revenue_micros),
                    r.cost_micros >= 0 ? billing::format_micros(r.cost_micros) : "-", margin(r),
                    std::to_string(r.interrupted), std::to_string(r.cancelled), under_cost(r) ? "UNDER COST" : ""});
    requests += r.requests;
    prompt += r.prompt_tokens;
    completion += r.completion_tokens;
    revenue += r.revenue_micros;
  }
  std::vector<std::string> header = {a.by,   "requests", "prompt_tokens", "completion_tokens", "revenue",
                                     "cost", "margin_%", "interrupted",   "cancelled",         "flag"};
  if (a.format == "csv") {
    print_csv(header, text);
    return 0;
  }
  text.push_back({"TOTAL", std::to_string(requests), std::to_string(prompt), std::to_string(completion),
                  billing::format_micros(revenue), "", "", "", "", ""});
  print_table(header, text);
  return 0;
}

int run_audit(const UsageArgs& a) {
  auto ledger = open_ledger(a.db, false);
  const int64_t open = ledger->open_reservations();
  auto kept = ledger->counters(), rebuilt = ledger->counters_from_ledger();
  std::map<int64_t, billing::KeyCounters> by_key;
  for (const auto& c : rebuilt) by_key[c.key_id] = c;
  bool equal = kept.size() == rebuilt.size();
  nlohmann::json keys = nlohmann::json::array();
  TextRows key_rows;
  for (const auto& k : kept) {
    billing::KeyCounters r = by_key.count(k.key_id) ? by_key[k.key_id] : billing::KeyCounters{k.key_id};
    bool same = k.tokens == r.tokens && k.micros == r.micros && k.open_requests == r.open_requests;
    equal = equal && same;
    keys.push_back({{"key_id", k.key_id},
                    {"kept", billing::to_json(k)},
                    {"ledger", billing::to_json(r)},
                    {"equal", same}});
    key_rows.push_back({std::to_string(k.key_id), std::to_string(k.tokens), std::to_string(r.tokens),
                        billing::format_micros(k.micros), billing::format_micros(r.micros),
                        std::to_string(k.open_requests), std::to_string(r.open_requests), same ? "yes" : "NO"});
  }
  // Charged this period (committed + open reservations) per account, against its budget.
  struct Account {
    billing::Plan plan;
    int64_t micros = 0, tokens = 0;
  };
  std::map<std::string, Account> accounts;
  std::map<int64_t, std::string> account_of;
  for (const auto& k : ledger->keys()) {
    accounts[k.account].plan = k.plan;
    account_of[k.key_id] = k.account;
  }
  for (const auto& c : rebuilt)
    if (account_of.count(c.key_id)) {
      accounts[account_of[c.key_id]].micros += c.micros;
      accounts[account_of[c.key_id]].tokens += c.tokens;
    }
  nlohmann::json acc = nlohmann::json::array();
  TextRows acc_rows;
  for (const auto& [name, x] : accounts) {
    bool over = (x.plan.budget_micros && x.micros > x.plan.budget_micros) ||
                (x.plan.token_quota && x.tokens > x.plan.token_quota);
    acc.push_back({{"account", name},
                   {"plan", x.plan.name},
                   {"period", x.plan.period},
                   {"charged_micros", x.micros},
                   {"budget_micros", x.plan.budget_micros},
                   {"tokens", x.tokens},
                   {"token_quota", x.plan.token_quota},
                   {"over", over}});
    acc_rows.push_back({name, x.plan.name, x.plan.period, billing::format_micros(x.micros),
                        x.plan.budget_micros ? billing::format_micros(x.plan.budget_micros) : "-",
                        std::to_string(x.tokens), x.plan.token_quota ? std::to_string(x.plan.token_quota) : "-",
                        over ? "OVER" : ""});
  }
  if (a.format == "json") {
    std::cout << nlohmann::json{{"open_reservations", open}, {"counters_equal", equal}, {"keys", keys},
                                {"accounts", acc}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << "open reservations: " << open << "\n\ncounters of the current period, kept vs recomputed from the ledger:\n";
    print_table({"key", "tokens", "ledger", "micros", "ledger", "open", "ledger", "equal"}, key_rows);
    std::cout << "\naccounts this period (committed + open reservations):\n";
    print_table({"account", "plan", "period", "charged", "budget", "tokens", "quota", "flag"}, acc_rows);
    std::cout << "\n" << (equal ? "counters match the ledger" : "COUNTERS DIFFER from the ledger (tessera serve's "
                                                                 "start-up recover() rebuilds them)")
              << "\n";
  }
  return equal ? 0 : 1;
}

}  // namespace

Command add_usage_command(CLI::App& app) {
  auto a = std::make_shared<UsageArgs>();
  auto* usage = app.add_subcommand("usage", "Usage and revenue reports from the ledger, and its audit");
  usage->require_subcommand(1);

  auto* report = usage->add_subcommand(
      "report", "Requests, tokens, revenue and (once `tessera cost` measured it) cost and gross margin");
  report->add_option("--db", a->db, "ledger: SQLite file or postgresql:// URL")->required();
  report->add_option("--from", a->from, "start, inclusive: YYYY-MM-DD (UTC) or unix seconds");
  report->add_option("--to", a->to, "end, exclusive: YYYY-MM-DD (UTC) or unix seconds");
  report->add_option("--by", a->by, "group rows by key, model or day (default key)")
      ->check(CLI::IsMember({"key", "model", "day"}));
  report->add_option("--format", a->format, "table (default), csv or json")
      ->check(CLI::IsMember({"table", "csv", "json"}));

  auto* audit = usage->add_subcommand(
      "audit", "Open reservations, counters kept vs recomputed, charges vs budgets; exit 1 if counters differ");
  audit->add_option("--db", a->db, "ledger: SQLite file or postgresql:// URL")->required();
  audit->add_option("--format", a->format, "table (default) or json")->check(CLI::IsMember({"table", "json"}));

  return {usage, [a, report, audit] {
            if (report->parsed()) return run_report(*a);
            if (audit->parsed()) return run_audit(*a);
            return 2;
          }};
}

}  // namespace tessera::cli
