// `tessera data prepare`: text files -> token shards for `tessera pretrain`
// (text/shards.h describes the folder it writes).
#include <iostream>
#include <memory>

#include "cli_common.h"
#include "tessera/text/bpe_trainer.h"
#include "tessera/text/char_tokenizer.h"
#include "tessera/text/shards.h"
#include "tessera/text/tokenizer.h"

namespace tessera::cli {
namespace {

struct DataPrepareArgs {
  std::string tokenizer, train_tokenizer, out, doc_separator, split = "documents";
  int64_t vocab_size = 4096;
  std::vector<std::string> inputs;
  double val_fraction = 0.1;
  int64_t val_docs = -1;
  int64_t shard_tokens = int64_t{1} << 24;
  uint64_t seed = 1337;
  bool quiet = false, blank_line_docs = false;
};

int run_data_prepare(const DataPrepareArgs& a) {
  TSR_CHECK(a.tokenizer.empty() != a.train_tokenizer.empty(), Error,
            "data prepare: give either --tokenizer PATH or --train-tokenizer bpe|char");
  text::PrepareOptions o;
  o.inputs = a.inputs;
  o.out_dir = a.out;
  o.tokenizer_source = a.tokenizer.empty() ? "trained: " + a.train_tokenizer : a.tokenizer;
  o.val_fraction = a.val_fraction;
  o.val_docs = a.val_docs;
  o.shard_tokens = a.shard_tokens;
  o.seed = a.seed;
  o.doc_separator = a.doc_separator;
  o.blank_line_docs = a.blank_line_docs;
  o.split = a.split;
  o.verbose = !a.quiet;
  if (!a.tokenizer.empty()) {
    auto tok = text::load_tokenizer(a.tokenizer);
    text::prepare_shards(*tok, o);
    return 0;
  }
  // A tokenizer fitted to this corpus, with <|endoftext|> as the document
  // separator. A contiguous split separates nothing, so its char tokenizer has
  // no specials: nanoGPT's shakespeare_char vocabulary (the 65 symbols, sorted).
  std::string kind = a.train_tokenizer;
  int64_t vocab = a.vocab_size;
  bool quiet = a.quiet, contiguous = a.split == "contiguous";
  text::prepare_shards(
      [kind, vocab, quiet, contiguous](const std::vector<std::string_view>& docs) -> std::unique_ptr<text::Tokenizer> {
        if (kind == "char") {
          std::vector<std::string> specials;
          if (!contiguous) specials.push_back("<|endoftext|>");
          return std::make_unique<text::CharTokenizer>(text::CharTokenizer::from_corpus(docs, specials));
        }
        text::BpeTrainOptions bo;
        bo.vocab_size = vocab;
        bo.specials = {"<|endoftext|>"};
        text::BpeTrainStats st;
        auto t = text::train_bpe(docs, bo, &st);
        if (!quiet)
          std::cout << "trained a byte-level BPE: " << t->vocab_size() << " tokens (" << st.merges << " merges, "
                    << st.unique_words << " distinct pre-tokens)\n";
        return t;
      },
      o);
  return 0;
}

}  // namespace

Command add_data_command(CLI::App& app) {
  auto a = std::make_shared<DataPrepareArgs>();
  auto* data = app.add_subcommand("data", "Prepare datasets (token shards for `tessera pretrain`)");
  data->require_subcommand(1);
  auto* prep = data->add_subcommand(
      "prepare",
      "Tokenize text into train/val token shards: a folder gives one document per file (binary files such as "
      "*.dat are skipped), a file one document or several split on --doc-separator lines");
  prep->add_option("-t,--tokenizer", a->tokenizer, "tokenizer.json (or a folder holding one, or GPT-2's files); or use --train-tokenizer")
      ->excludes(prep->add_option("--train-tokenizer", a->train_tokenizer,
                                  "instead of --tokenizer: fit one to these documents, bpe or char; it is saved "
                                  "as OUT/tokenizer.json")
                     ->check(CLI::IsMember({"bpe", "char"})));
  prep->add_option("--vocab-size", a->vocab_size, "with --train-tokenizer bpe: vocabulary size (default 4096)")
      ->check(CLI::Range(258, 1 << 20));
  prep->add_option("-i,--input", a->inputs, "text files and/or folders")->required()->expected(1, -1);
  prep->add_option("-o,--out", a->out, "output folder: train_*.bin, val_*.bin, tokenizer.json, meta.json")->required();
  prep->add_option("--val-fraction", a->val_fraction, "share of documents (--split contiguous: of characters) held out for validation (default 0.1)")
      ->check(CLI::Range(0.0, 0.999));
  prep->add_option("--val-docs", a->val_docs, "exact number of validation documents (overrides --val-fraction)")
      ->check(CLI::NonNegativeNumber);
  prep->add_option("--shard-tokens", a->shard_tokens, "tokens per shard file (default 16777216)")
      ->check(CLI::PositiveNumber);
  prep->add_option("--seed", a->seed, "seed of the train/val document split (default 1337)");
  prep->add_option("--doc-separator", a->doc_separator,
                   "a line equal to this splits a file into documents (e.g. % for fortune files)");
  prep->add_flag("--blank-line-docs", a->blank_line_docs,
                 "blank lines split a file into documents (e.g. the speeches of Tiny Shakespeare)");
  prep->add_option("--split", a->split,
                   "documents (default): a seeded split of whole documents, <|endoftext|> after each; contiguous: "
                   "nanoGPT's split, the concatenated inputs cut at character floor(n * (1 - val-fraction)), no "
                   "separators (a trained char tokenizer then has no <|endoftext|>)")
      ->check(CLI::IsMember({"documents", "contiguous"}));
  prep->add_flag("-q,--quiet", a->quiet, "no notices or summary");
  return {data, [a, prep] {
            if (prep->parsed()) return run_data_prepare(*a);
            return 2;
          }};
}

}  // namespace tessera::cli
