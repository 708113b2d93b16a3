// `tessera tokenizer train|encode|decode|convert|bench`: train a byte-level BPE
// or character vocabulary from text files, encode/decode with any tokenizer
// load_tokenizer() reads (text/tokenizer.h), and measure encoding speed
// (bench/tokenizer_compare.sh puts it beside tiktoken and HF tokenizers).
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <sstream>

#include "cli_common.h"
#include "tessera/core/error.h"
#include "tessera/core/parallel.h"
#include "tessera/io/atomic_file.h"
#include "tessera/text/bpe.h"
#include "tessera/text/bpe_trainer.h"
#include "tessera/text/char_tokenizer.h"

namespace fs = std::filesystem;

namespace tessera::cli {

Command add_tokenizer_command(CLI::App& app);

namespace {

struct TokArgs {
  std::vector<std::string> inputs, specials;
  int64_t vocab_size = 0, min_frequency = 2;
  std::string kind = "bpe", out, tokenizer, text, input, format = "ids", ids;
  bool no_special = false;
  int threads = 1, repeat = 1, runs = 5;
  bool json = false;
};

std::string read_all(std::istream& in) { return {std::istreambuf_iterator<char>(in), {}}; }

std::string read_input_file(const std::string& path) {
  TSR_CHECK(fs::is_regular_file(path), Error, "input file '", path, "' not found");
  return io::read_file(path, "input file");
}

// Files given directly, plus every regular file of a given folder (sorted by
// name, not recursive). Symlinks, hidden files and *.dat (fortune's binary
// indexes) inside folders are skipped: in /usr/share/games/fortunes the .u8
// links point back at the text files and the .dat files are not text.
std::vector<std::string> input_files(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const auto& in : inputs) {
    if (!fs::is_directory(in)) {
      TSR_CHECK(fs::exists(in), Error, "input '", in, "' not found");
      files.push_back(in);
      continue;
    }
    std::vector<std::string> found;
    for (const auto& e : fs::directory_iterator(in)) {
      std::string name = e.path().filename().string();
      if (!e.is_regular_file() || e.is_symlink() || name.empty() || name[0] == '.' ||
          e.path().extension() == ".dat")
        continue;
      found.push_back(e.path().string());
    }
    TSR_CHECK(!found.empty(), Error, "input folder '", in, "' holds no text files");
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

int run_train(const TokArgs& a) {
  auto files = input_files(a.inputs);
  std::vector<std::string> docs;
  size_t bytes = 0;
  for (const auto& f : files) {
    docs.push_back(read_input_file(f));
    bytes += docs.back().size();
  }
  // Each file is one document; documents are separate training texts, which is
  // the same as joining them with the first special token (specials split text).
  std::vector<std::string_view> views(docs.begin(), docs.end());
  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<text::Tokenizer> tok;
  std::string detail;
  if (a.kind == "char") {
    auto ct = text::CharTokenizer::from_corpus(views, a.specials);
    TSR_CHECK(a.vocab_size <= 0 || ct.vocab_size() <= a.vocab_size, Error, "the corpus has ", ct.vocab_size(),
              " distinct characters + specials, more than --vocab-size ", a.vocab_size);
    tok = std::make_unique<text::CharTokenizer>(std::move(ct));
  } else {
    TSR_CHECK(a.kind == "bpe", Error, "--kind must be bpe or char, got '", a.kind, "'");
    TSR_CHECK(a.vocab_size > 0, Error, "--vocab-size is required for --kind bpe");
    text::BpeTrainOptions opt;
    opt.vocab_size = a.vocab_size;
    opt.specials = a.specials;
    opt.min_frequency = a.min_frequency;
    text::BpeTrainStats stats;
    tok = text::train_bpe(views, opt, &stats);
    detail = ", " + std::to_string(stats.merges) + " merges from " + std::to_string(stats.unique_words) +
             " distinct pre-tokens";
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  tok->save(a.out);
  std::cout << "trained " << tok->kind() << " tokenizer: vocab " << tok->vocab_size() << detail << " on "
            << files.size() << " file(s), " << bytes << " bytes in " << secs << " s -> " << a.out << "\n";
  return 0;
}

int run_encode(const TokArgs& a) {
  auto tok = text::load_tokenizer(a.tokenizer);
  std::string input;
  if (!a.text.empty())
    input = a.text;
  else if (!a.input.empty())
    input = read_input_file(a.input);
  else
    input = read_all(std::cin);
  auto ids = tok->encode(input, !a.no_special);
  if (a.format == "json") {
    std::cout << "{\"ids\": [";
    for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? ", " : "") << ids[i];
    std::cout << "], \"count\": " << ids.size() << "}\n";
  } else {
    for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << "\n";
  }
  return 0;
}

int run_decode(const TokArgs& a) {
  auto tok = text::load_tokenizer(a.tokenizer);
  std::string src = a.ids.empty() ? read_all(std::cin) : a.ids;
  // Accept "1 2 3", "1,2,3" and a JSON list "[1, 2, 3]".
  for (char& c : src)
    if (c == ',' || c == '[' || c == ']') c = ' ';
  std::istringstream in(src);
  std::vector<int32_t> ids;
  std::string word;
  while (in >> word) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    TSR_CHECK(used == word.size() && v >= 0 && v <= INT32_MAX, Error, "'", word, "' is not a token id");
    ids.push_back(static_cast<int32_t>(v));
  }
  std::cout << tok->decode(ids) << std::flush;
  return 0;
}

int run_convert(const TokArgs& a) {
  auto tok = text::load_tokenizer(a.tokenizer);
  tok->save(a.out);
  std::cout << "saved " << tok->kind() << " tokenizer (vocab " << tok->vocab_size() << ") -> " << a.out << "\n";
  return 0;
}

// Encoding speed: the input (repeated --repeat times) encoded --runs times
// with encode_parallel on --threads threads; each run starts with empty piece
// caches, so every run pays the same warm-up. Prints best and median MB/s.
int run_bench(const TokArgs& a) {
  TSR_CHECK(a.threads >= 1 && a.repeat >= 1 && a.runs >= 1, Error,
            "--threads, --repeat and --runs must be >= 1");
  auto tok = text::load_tokenizer(a.tokenizer);
  std::string one = read_input_file(a.input), input;
  input.reserve(one.size() * static_cast<size_t>(a.repeat));
  for (int r = 0; r < a.repeat; ++r) input += one;
  set_num_threads(a.threads);
  std::vector<double> mbps;
  size_t tokens = 0;
  for (int r = 0; r < a.runs; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    auto ids = tok->encode_parallel(input, !a.no_special);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    tokens = ids.size();
    mbps.push_back(static_cast<double>(input.size()) / 1e6 / s);
  }
  std::vector<double> sorted = mbps;
  std::sort(sorted.begin(), sorted.end());
  double best = sorted.back(), median = sorted[sorted.size() / 2];
  if (a.json) {
    std::cout << "{\"bytes\": " << input.size() << ", \"tokens\": " << tokens << ", \"threads\": " << a.threads
              << ", \"runs\": " << a.runs << ", \"best_mb_s\": " << best << ", \"median_mb_s\": " << median << "}\n";
  } else {
    std::cout << "encoded " << input.size() << " bytes -> " << tokens << " tokens on " << a.threads
              << " thread(s): best " << best << " MB/s, median " << median << " MB/s over " << a.runs << " runs\n";
  }
  return 0;
}

}  // namespace

Command add_tokenizer_command(CLI::App& app) {
  auto a = std::make_shared<TokArgs>();
  auto* cmd = app.add_subcommand("tokenizer", "Train, inspect and apply tokenizers");
  cmd->require_subcommand(1);

  auto* train = cmd->add_subcommand("train", "Train a BPE (or character) tokenizer on text files");
  train->add_option("-i,--input", a->inputs, "text file(s) or folder(s) of text files (each file = a document)")
      ->required();
  train->add_option("--vocab-size", a->vocab_size, "total vocabulary size incl. 256 bytes and specials (bpe)");
  train->add_option("--special", a->specials, "special token(s), e.g. \"<|endoftext|>\" (repeatable)");
  train->add_option("--kind", a->kind, "bpe (default) or char")->check(CLI::IsMember({"bpe", "char"}));
  train->add_option("--min-frequency", a->min_frequency, "stop merging when the best pair is rarer (default 2)");
  train->add_option("-o,--out", a->out, "output tokenizer.json")->required();

  auto* encode = cmd->add_subcommand("encode", "Text -> token ids");
  encode->add_option("-t,--tokenizer", a->tokenizer, "tokenizer.json, or a folder with one or with GPT-2's files")
      ->required();
  auto* text_opt = encode->add_option("--text", a->text, "the text to encode");
  encode->add_option("-i,--input", a->input, "a file to encode (default: stdin)")->excludes(text_opt);
  encode->add_option("--format", a->format, "ids (space-separated) or json")->check(CLI::IsMember({"ids", "json"}));
  encode->add_flag("--no-special", a->no_special, "encode special-token text as ordinary text");

  auto* decode = cmd->add_subcommand("decode", "Token ids -> text (raw bytes on stdout)");
  decode->add_option("-t,--tokenizer", a->tokenizer, "tokenizer path (as for encode)")->required();
  decode->add_option("--ids", a->ids, "ids separated by spaces or commas (default: stdin)");

  auto* convert = cmd->add_subcommand("convert", "Load any supported tokenizer and save it as tokenizer.json");
  convert->add_option("-t,--tokenizer", a->tokenizer, "tokenizer path (as for encode)")->required();
  convert->add_option("-o,--out", a->out, "output tokenizer.json")->required();

  auto* bench = cmd->add_subcommand("bench", "Measure encoding speed (MB/s) on a file");
  bench->add_option("-t,--tokenizer", a->tokenizer, "tokenizer path (as for encode)")->required();
  bench->add_option("-i,--input", a->input, "the text file to encode")->required();
  bench->add_option("--threads", a->threads, "threads for encode_parallel (default 1)");
  bench->add_option("--repeat", a->repeat, "encode the file repeated this many times (default 1)");
  bench->add_option("--runs", a->runs, "timed runs; best and median are reported (default 5)");
  bench->add_flag("--no-special", a->no_special, "encode special-token text as ordinary text");
  bench->add_flag("--json", a->json, "print one JSON object");

  return {cmd, [a, train, encode, decode, convert, bench]() -> int {
            if (bench->parsed()) return run_bench(*a);
            if (train->parsed()) return run_train(*a);
            if (encode->parsed()) return run_encode(*a);
            if (decode->parsed()) return run_decode(*a);
            if (convert->parsed()) return run_convert(*a);
            return 2;
          }};
}

}  // namespace tessera::cli
