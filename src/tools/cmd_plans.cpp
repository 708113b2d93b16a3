// `tessera plans`: the plans accounts are on (quotas, budgets, rate limits,
// models) and the per-model price list (versioned; old records keep theirs).
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "billing_cli.h"
#include "cli_common.h"
#include "tessera/billing/json_views.h"
#include "tessera/billing/money.h"

namespace tessera::cli {
namespace {

struct PlansArgs {
  std::string db, name, period, budget, models, format = "table", model, input, output;
  int64_t token_quota = 0, budget_micros = 0, rpm = 0, tpm = 0, max_parallel = 0, max_output_tokens = 0;
};

std::string limit(int64_t v) { return v ? std::to_string(v) : "-"; }

std::string models_text(const billing::Plan& p) {
  std::string s;
  for (const auto& m : p.allowed_models) s += (s.empty() ? "" : ",") + m;
  return s.empty() ? "*" : s;
}

void print_plans(const std::vector<billing::Plan>& plans) {
  TextRows rows;
  for (const auto& p : plans)
    rows.push_back({p.name, p.period, limit(p.token_quota),
                    p.budget_micros ? billing::format_micros(p.budget_micros) : "-", limit(p.requests_per_minute),
                    limit(p.tokens_per_minute), limit(p.max_parallel), limit(p.max_output_tokens), models_text(p)});
  print_table({"plan", "period", "token_quota", "budget", "rpm", "tpm", "max_parallel", "max_output", "models"}, rows);
}

int run_set(const PlansArgs& a, CLI::App* set) {
  auto ledger = open_ledger(a.db, true);
  // An existing plan keeps what this command does not mention.
  billing::Plan p = ledger->plan(a.name).value_or(billing::Plan{});
  p.name = a.name;
  auto given = [&](const char* flag) { return set->count(flag) > 0; };
  if (given("--period")) p.period = a.period;
  if (given("--token-quota")) p.token_quota = a.token_quota;
  if (given("--budget-micros")) p.budget_micros = a.budget_micros;
  if (given("--budget")) p.budget_micros = billing::parse_micros(a.budget, "--budget");
  if (given("--rpm")) p.requests_per_minute = a.rpm;
  if (given("--tpm")) p.tokens_per_minute = a.tpm;
  if (given("--max-parallel")) p.max_parallel = a.max_parallel;
  if (given("--max-output-tokens")) p.max_output_tokens = a.max_output_tokens;
  if (given("--models")) {
    p.allowed_models.clear();
    std::stringstream ss(a.models);
    for (std::string m; std::getline(ss, m, ',');)
      if (!m.empty() && m != "*") p.allowed_models.push_back(m);
  }
  ledger->put_plan(p);
  print_plans({p});
  return 0;
}

int run_list(const PlansArgs& a) {
  auto plans = open_ledger(a.db, false)->plans();
  if (a.format == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& p : plans) out.push_back(billing::to_json(p));
    std::cout << out.dump(2) << "\n";
  } else {
    print_plans(plans);
  }
  return 0;
}

int run_price(const PlansArgs& a) {
  int64_t in = billing::parse_micros(a.input, "--input"), out = billing::parse_micros(a.output, "--output");
  billing::Price p = open_ledger(a.db, true)->set_price(a.model, in, out);
  std::cout << "price of " << p.model << " version " << p.version << ": input " << billing::format_micros(in)
            << ", output " << billing::format_micros(out) << " per million tokens\n";
  return 0;
}

int run_prices(const PlansArgs& a) {
  auto prices = open_ledger(a.db, false)->prices();
  if (a.format == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& p : prices)
      out.push_back({{"model", p.model},
                     {"version", p.version},
                     {"input_micros_per_mtok", p.input_micros_per_mtok},
                     {"output_micros_per_mtok", p.output_micros_per_mtok},
                     {"created_at", p.created_at}});
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  TextRows rows;
  for (const auto& p : prices)
    rows.push_back({p.model, std::to_string(p.version), billing::format_micros(p.input_micros_per_mtok),
                    billing::format_micros(p.output_micros_per_mtok), unix_date(p.created_at)});
  print_table({"model", "version", "input_per_mtok", "output_per_mtok", "created (UTC)"}, rows);
  return 0;
}

}  // namespace

Command add_plans_command(CLI::App& app) {
  auto a = std::make_shared<PlansArgs>();
  auto* plans = app.add_subcommand("plans", "Plans (quotas, budgets, rate limits, models) and per-model prices");
  plans->require_subcommand(1);

  auto* set = plans->add_subcommand("set", "Create or change a plan; an existing plan keeps the limits not given");
  set->add_option("name", a->name, "plan name")->required();
  set->add_option("--db", a->db, "ledger: SQLite file (created when new) or postgresql:// URL")->required();
  set->add_option("--period", a->period, "quota/budget period: day, month (UTC calendar) or total (default month)")
      ->check(CLI::IsMember({"day", "month", "total"}));
  set->add_option("--token-quota", a->token_quota, "prompt + completion tokens per period (0 = unlimited)")
      ->check(CLI::NonNegativeNumber);
  auto* bm = set->add_option("--budget-micros", a->budget_micros, "spend per period in micro-units (0 = unlimited)")
                 ->check(CLI::NonNegativeNumber);
  set->add_option("--budget", a->budget, "spend per period as a decimal amount, e.g. 25.00 (exact to 6 decimals)")
      ->excludes(bm);
  set->add_option("--rpm", a->rpm, "requests per minute (0 = unlimited)")->check(CLI::NonNegativeNumber);
  set->add_option("--tpm", a->tpm, "reserved tokens (prompt + max_tokens) per minute (0 = unlimited)")
      ->check(CLI::NonNegativeNumber);
  set->add_option("--max-parallel", a->max_parallel, "open requests at once (0 = unlimited)")
      ->check(CLI::NonNegativeNumber);
  set->add_option("--max-output-tokens", a->max_output_tokens, "max_tokens is clamped to this (0 = no cap)")
      ->check(CLI::NonNegativeNumber);
  set->add_option("--models", a->models, "comma-separated models the plan may use (empty or * = every model)");

  auto* list = plans->add_subcommand("list", "List the plans");
  list->add_option("--db", a->db, "ledger: SQLite file or postgresql:// URL")->required();
  list->add_option("--format", a->format, "table (default) or json")->check(CLI::IsMember({"table", "json"}));

  auto* price = plans->add_subcommand("price", "Set a model's price (a new version; older records keep theirs)");
  price->add_option("model", a->model, "model id, as clients send it")->required();
  price->add_option("--db", a->db, "ledger: SQLite file (created when new) or postgresql:// URL")->required();
  price->add_option("--input", a->input, "price per million prompt tokens, decimal (e.g. 0.50)")->required();
  price->add_option("--output", a->output, "price per million completion tokens, decimal (e.g. 1.50)")->required();

  auto* prices = plans->add_subcommand("prices", "List every price version");
  prices->add_option("--db", a->db, "ledger: SQLite file or postgresql:// URL")->required();
  prices->add_option("--format", a->format, "table (default) or json")->check(CLI::IsMember({"table", "json"}));

  return {plans, [a, set, list, price, prices] {
            if (set->parsed()) return run_set(*a, set);
            if (list->parsed()) return run_list(*a);
            if (price->parsed()) return run_price(*a);
            if (prices->parsed()) return run_prices(*a);
            return 2;
          }};
}

}  // namespace tessera::cli
