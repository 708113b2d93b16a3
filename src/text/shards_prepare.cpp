// `tessera data prepare` as a library call: text files -> documents -> token
// ids -> train/val shards + meta.json; and opening such a folder again with
// every shard checked against meta.json (text/shards.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tessera/io/atomic_file.h"
#include "tessera/text/shards.h"
#include "tessera/text/tokenizer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::text {

namespace {

constexpr int kMetaFormatVersion = 1;

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  TSR_CHECK(in.good(), Error, "cannot read ", p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A file that is not text: fortune's *.dat index files, anything with a NUL
// byte in its first 8 KiB.
std::optional<std::string> binary_reason(const fs::path& p) {
  if (p.extension() == ".dat") return "a .dat file (binary index)";
  std::ifstream in(p, std::ios::binary);
  char buf[8192];
  in.read(buf, sizeof buf);
  std::streamsize n = in.gcount();
  if (std::find(buf, buf + n, '\0') != buf + n) return "binary (NUL bytes)";
  return std::nullopt;
}

// Lines equal to `sep` (ignoring a trailing \r), or blank lines when
// `blank_lines`, end a document; blank documents are dropped.
std::vector<std::string> split_documents(const std::string& text, const std::string& sep, bool blank_lines) {
  std::vector<std::string> docs;
  auto keep = [&](std::string d) {
    if (d.find_first_not_of(" \t\r\n") != std::string::npos) docs.push_back(std::move(d));
  };
  if (sep.empty() && !blank_lines) {
    keep(text);
    return docs;
  }
  std::string cur;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string::npos ? text.size() : nl + 1;
    std::string_view line(text.data() + pos, end - pos);
    std::string_view bare = line;
    while (!bare.empty() && (bare.back() == '\n' || bare.back() == '\r')) bare.remove_suffix(1);
    if (blank_lines ? bare.find_first_not_of(" \t") == std::string_view::npos : bare == sep) {
      keep(std::move(cur));
      cur.clear();
    } else {
      cur.append(line);
    }
    pos = end;
  }
  keep(std::move(cur));
  return docs;
}

// Byte offset of the k-th character of `text` (characters as Python's str
// counts them for UTF-8 text: every byte that is not a continuation byte
// 10xxxxxx starts one), text.size() when k reaches the end; *count gets the total.
size_t char_offset(const std::string& text, int64_t k, int64_t* count) {
  int64_t seen = 0;
  size_t at = text.size();
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (seen == k) at = i;
    ++seen;
  }
  *count = seen;
  return at;
}

bool is_shard_name(const std::string& name) {
  return (name.rfind("train_", 0) == 0 || name.rfind("val_", 0) == 0) && name.size() > 4 &&
         name.substr(name.size() - 4) == ".bin";
}

}  // namespace

namespace {

PrepareResult prepare_impl(const Tokenizer* given, const TokenizerTrainer* trainer, const PrepareOptions& o) {
  TSR_CHECK(!o.inputs.empty(), Error, "data prepare: no --input given");
  TSR_CHECK(!o.out_dir.empty(), Error, "data prepare: no --out folder given");
  TSR_CHECK(o.val_fraction >= 0 && o.val_fraction < 1, Error, "data prepare: --val-fraction must be in [0, 1), got ",
            o.val_fraction);
  TSR_CHECK(o.shard_tokens > 0, Error, "data prepare: --shard-tokens must be positive, got ", o.shard_tokens);
  TSR_CHECK(o.split == "documents" || o.split == "contiguous", Error,
            "data prepare: --split must be documents or contiguous, got \"", o.split, "\"");
  const bool contiguous = o.split == "contiguous";
  TSR_CHECK(!contiguous || (o.doc_separator.empty() && !o.blank_line_docs && o.val_docs < 0), Error,
            "data prepare: --split contiguous cuts the text at a character position; it takes no --doc-separator, "
            "--blank-line-docs or --val-docs");
  PrepareResult res;
  auto notice = [&](const std::string& s) {
    if (o.verbose) std::printf("%s\n", s.c_str());
  };

  // ---- collect files in a deterministic order ----
  std::vector<fs::path> files;
  std::set<std::string> seen;  // canonical paths: fortune's *.u8 links name the same files
  auto consider = [&](const fs::path& p) {
    std::error_code ec;
    std::string canon = fs::canonical(p, ec).string();
    if (ec) canon = p.string();
    if (!seen.insert(canon).second) {
      res.skipped.push_back(p.string() + ": same file as an earlier input (link)");
      return;
    }
    if (auto why = binary_reason(p)) {
      res.skipped.push_back(p.string() + ": " + *why);
      return;
    }
    files.push_back(p);
  };
  for (const auto& in : o.inputs) {
    fs::path p(in);
    std::error_code ec;
    TSR_CHECK(fs::exists(p, ec), Error, "data prepare: input ", in, " does not exist");
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> found;
      for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::follow_directory_symlink, ec);
           it != fs::recursive_directory_iterator(); it.increment(ec)) {
        TSR_CHECK(!ec, Error, "data prepare: cannot list ", in, ": ", ec.message());
        if (it->path().filename().string().rfind('.', 0) == 0) {
          if (it->is_directory()) it.disable_recursion_pending();
          continue;  // hidden files and folders
        }
        if (it->is_regular_file()) found.push_back(it->path());
      }
      std::sort(found.begin(), found.end());
      for (const auto& f : found) consider(f);
    } else {
      consider(p);
    }
  }
  // One notice per reason (fortune's folder alone has 86 skipped files); meta.json lists them all.
  std::map<std::string, std::pair<int, std::string>> by_reason;
  for (const auto& s : res.skipped) {
    size_t colon = s.rfind(": ");
    auto& e = by_reason[s.substr(colon + 2)];
    if (e.first++ == 0) e.second = s.substr(0, colon);
  }
  for (const auto& [why, e] : by_reason)
    notice("skipping " + std::to_string(e.first) + " input(s), " + why + ": " + e.second +
           (e.first > 1 ? " ... (all listed in meta.json)" : ""));
  TSR_CHECK(!files.empty(), Error, "data prepare: no text files among the inputs");

  std::vector<std::string> docs;
  int64_t n_chars = 0, train_chars = 0;
  if (contiguous) {
    // nanoGPT's prepare.py: data[:int(n * 0.9)] and data[int(n * 0.9):] of the whole text.
    std::string all;
    for (const auto& f : files) all += read_bytes(f);
    char_offset(all, 0, &n_chars);
    train_chars = static_cast<int64_t>(std::floor(static_cast<double>(n_chars) * (1.0 - o.val_fraction)));
    TSR_CHECK(train_chars > 0, Error, "data prepare: the inputs hold ", n_chars, " characters; none left for training");
    size_t cut = char_offset(all, train_chars, &n_chars);
    docs.push_back(all.substr(0, cut));
    docs.push_back(all.substr(cut));
  } else {
    for (const auto& f : files) {
      auto d = split_documents(read_bytes(f), o.doc_separator, o.blank_line_docs);
      for (auto& s : d) docs.push_back(std::move(s));
    }
  }
  const auto N = static_cast<int64_t>(docs.size());
  TSR_CHECK(N > 0, Error, "data prepare: the inputs hold no non-blank documents");
  res.documents = N;

  std::unique_ptr<Tokenizer> trained;
  if (trainer) {
    std::vector<std::string_view> views(docs.begin(), docs.end());
    trained = (*trainer)(views);
    TSR_CHECK(trained, Error, "data prepare: the tokenizer trainer returned nothing");
    given = trained.get();
  }
  const Tokenizer& tok = *given;
  const int64_t vocab = tok.vocab_size();
  TSR_CHECK(vocab > 0, Error, "data prepare: the tokenizer reports vocab size ", vocab);

  // ---- seeded train/val split by documents (contiguous: the two parts above) ----
  int64_t n_val = o.val_docs >= 0 ? o.val_docs : static_cast<int64_t>(o.val_fraction * static_cast<double>(N) + 0.5);
  if (contiguous) n_val = 1;
  if (o.val_docs < 0 && o.val_fraction > 0 && n_val == 0 && N >= 2) n_val = 1;
  TSR_CHECK(n_val < N || N == 0, Error, "data prepare: ", n_val, " validation documents leave none of the ", N,
            " for training");
  std::vector<int64_t> perm(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) perm[i] = i;
  for (int64_t i = contiguous ? 0 : N - 1; i > 0; --i) {  // Fisher-Yates on Philox(seed, i)
    auto r = philox4x32(static_cast<uint64_t>(i), o.seed);
    uint64_t v = static_cast<uint64_t>(r[0]) << 32 | r[1];
    std::swap(perm[i], perm[v % static_cast<uint64_t>(i + 1)]);
  }
  if (contiguous) std::swap(perm[0], perm[1]);  // val = docs[1], train = docs[0]
  std::vector<int64_t> val_idx(perm.begin(), perm.begin() + n_val), train_idx(perm.begin() + n_val, perm.end());
  std::sort(val_idx.begin(), val_idx.end());  // corpus order within a split
  std::sort(train_idx.begin(), train_idx.end());
  res.train_documents = static_cast<int64_t>(train_idx.size());
  res.val_documents = n_val;

  // ---- write ----
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  TSR_CHECK(!ec, Error, "data prepare: cannot create ", o.out_dir, ": ", ec.message());
  fs::path out(o.out_dir);
  fs::remove(out / "meta.json", ec);  // the folder is incomplete until the new meta.json lands
  std::string tok_path = (out / "tokenizer.json").string();
  tok.save(tok_path);
  std::string tok_bytes = read_bytes(tok_path);
  uint64_t fp = fnv1a64(tok_bytes.data(), tok_bytes.size());
  auto eot = tok.eot_id();
  // The document separator: <|endoftext|>, else [SEP] (a WordPiece/BERT
  // vocabulary: masked-LM windows then see BERT's own separator between documents).
  std::optional<int32_t> sep = eot;
  std::string sep_token = eot ? "<|endoftext|>" : "";
  if (!sep && !contiguous) {
    if ((sep = tok.special_id("[SEP]"))) sep_token = "[SEP]";
  }
  if (!sep && !contiguous)
    notice("note: the tokenizer has no <|endoftext|> or [SEP] token; documents are concatenated without a separator");

  json splits = json::object();
  auto write_split = [&](const char* name, const std::vector<int64_t>& idx, int64_t& total) {
    json shards = json::array();
    std::vector<int32_t> buf;
    int shard_no = 0;
    auto flush = [&] {
      if (buf.empty()) return;
      char fname[64];
      std::snprintf(fname, sizeof fname, "%s_%06d.bin", name, shard_no++);
      write_shard((out / fname).string(), buf, vocab, fp);
      shards.push_back({{"file", fname}, {"tokens", buf.size()}});
      res.shards.emplace_back(fname);
      total += static_cast<int64_t>(buf.size());
      buf.clear();
    };
    for (int64_t d : idx) {
      auto ids = tok.encode(docs[static_cast<size_t>(d)], /*allow_special=*/false);
      if (sep && !contiguous) ids.push_back(*sep);
      for (int32_t id : ids) {
        TSR_CHECK(id >= 0 && id < vocab, Error, "data prepare: the tokenizer produced id ", id,
                  " outside its vocabulary [0, ", vocab, ")");
        buf.push_back(id);
        if (static_cast<int64_t>(buf.size()) == o.shard_tokens) flush();
      }
    }
    flush();
    splits[name] = {{"documents", idx.size()}, {"tokens", total}, {"shards", shards}};
  };
  write_split("train", train_idx, res.train_tokens);
  write_split("val", val_idx, res.val_tokens);

  json meta;
  meta["format_version"] = kMetaFormatVersion;
  meta["shard_format_version"] = kShardFormatVersion;
  meta["tokenizer"] = {{"source", o.tokenizer_source},
                       {"file", "tokenizer.json"},
                       {"fingerprint", fingerprint_hex(fp)},
                       {"kind", tok.kind()},
                       {"vocab_size", vocab},
                       {"eot_id", eot ? json(*eot) : json(nullptr)}};
  if (sep && !eot && !contiguous) meta["tokenizer"]["separator"] = {{"token", sep_token}, {"id", *sep}};
  meta["dtype"] = vocab <= 65536 ? "uint16" : "uint32";
  meta["split"] = o.split;
  if (contiguous) meta["characters"] = {{"total", n_chars}, {"train", train_chars}, {"val", n_chars - train_chars}};
  meta["seed"] = o.seed;
  meta["val_fraction"] = o.val_fraction;
  if (o.val_docs >= 0) meta["val_docs"] = o.val_docs;
  meta["doc_separator"] = o.doc_separator;
  meta["blank_line_docs"] = o.blank_line_docs;
  meta["shard_tokens"] = o.shard_tokens;
  meta["inputs"] = o.inputs;
  meta["files"] = files.size();
  meta["skipped"] = res.skipped;
  meta["documents"] = N;
  meta["splits"] = splits;
  res.meta_json = meta.dump(2) + "\n";
  io::write_file_atomic((out / "meta.json").string(), res.meta_json);

  // Shards of an earlier prepare that this one did not rewrite.
  std::set<std::string> now(res.shards.begin(), res.shards.end());
  for (const auto& e : fs::directory_iterator(out, ec)) {
    std::string n = e.path().filename().string();
    if (is_shard_name(n) && !now.count(n)) fs::remove(e.path(), ec);
  }
  if (contiguous)
    notice("prepared " + std::to_string(n_chars) + " characters from " + std::to_string(files.size()) +
           " files (contiguous split): train " + std::to_string(train_chars) + " chars / " +
           std::to_string(res.train_tokens) + " tokens, val " + std::to_string(n_chars - train_chars) + " chars / " +
           std::to_string(res.val_tokens) + " tokens -> " + o.out_dir);
  else
    notice("prepared " + std::to_string(N) + " documents from " + std::to_string(files.size()) + " files: train " +
         std::to_string(res.train_documents) + " docs / " + std::to_string(res.train_tokens) + " tokens, val " +
         std::to_string(res.val_documents) + " docs / " + std::to_string(res.val_tokens) + " tokens -> " + o.out_dir);
  return res;
}

}  // namespace

PrepareResult prepare_shards(const Tokenizer& tok, const PrepareOptions& o) { return prepare_impl(&tok, nullptr, o); }

PrepareResult prepare_shards(const TokenizerTrainer& train_tokenizer, const PrepareOptions& o) {
  return prepare_impl(nullptr, &train_tokenizer, o);
}

TokenData open_token_data(const std::string& dir, std::optional<int64_t> expected_vocab,
                          std::optional<uint64_t> expected_fingerprint) {
  fs::path d(dir);
  fs::path meta_path = d / "meta.json";
  TSR_CHECK(fs::exists(meta_path), Error, "token data ", dir,
            ": no meta.json (not a prepared folder, or `tessera data prepare` did not finish)");
  TokenData td;
  td.dir = dir;
  td.meta_json = read_bytes(meta_path);
  json m;
  try {
    m = json::parse(td.meta_json);
    int v = m.at("format_version");
    TSR_CHECK(v == kMetaFormatVersion, Error, meta_path.string(), ": format_version: expected ", kMetaFormatVersion,
              ", found ", v);
    const json& t = m.at("tokenizer");
    td.vocab_size = t.at("vocab_size");
    td.fingerprint = std::stoull(t.at("fingerprint").get<std::string>(), nullptr, 16);
    if (!t.at("eot_id").is_null()) td.eot_id = t.at("eot_id").get<int32_t>();
    td.tokenizer_file = (d / t.at("file").get<std::string>()).string();
  } catch (const json::exception& e) {
    throw Error(meta_path.string() + ": malformed: " + e.what());
  } catch (const std::invalid_argument&) {
    throw Error(meta_path.string() + ": tokenizer.fingerprint is not a hex number");
  }
  if (expected_vocab) {
    TSR_CHECK(*expected_vocab == td.vocab_size, Error, meta_path.string(), ": vocab size: expected ", *expected_vocab,
              " (the tokenizer's), found ", td.vocab_size, " (the shards were made with another tokenizer)");
  }
  if (expected_fingerprint) {
    TSR_CHECK(*expected_fingerprint == td.fingerprint, Error, meta_path.string(), ": tokenizer fingerprint: expected ",
              fingerprint_hex(*expected_fingerprint), " (the given tokenizer's), found ", fingerprint_hex(td.fingerprint),
              " (the shards were made with another tokenizer)");
  }
  auto open_split = [&](const char* name) {
    std::vector<std::shared_ptr<TokenShard>> shards;
    try {
      if (!m.at("splits").contains(name)) return TokenSplit();
      for (const auto& s : m.at("splits").at(name).at("shards")) {
        std::string file = (d / s.at("file").get<std::string>()).string();
        auto sh = std::make_shared<TokenShard>(file, td.vocab_size, td.fingerprint);
        int64_t want = s.at("tokens");
        TSR_CHECK(sh->size() == want, Error, "token shard ", file, ": token count: expected ", want,
                  " (meta.json), found ", sh->size());
        shards.push_back(std::move(sh));
      }
    } catch (const json::exception& e) {
      throw Error(meta_path.string() + ": malformed split '" + name + "': " + e.what());
    }
    return TokenSplit(std::move(shards));
  };
  td.train = open_split("train");
  td.val = open_split("val");
  TSR_CHECK(!td.train.empty(), Error, "token data ", dir, ": the train split is empty");
  return td;
}

}  // namespace tessera::text
