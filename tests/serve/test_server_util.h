// A live `tessera serve` for the server tests: a tiny char-level GPT
// checkpoint and a SQLite ledger (plans, keys, a price made through the Ledger
// API) in a temp folder, the built binary started on port 0 (--port-file),
// and an httplib client. Stopped with SIGTERM, like an operator would.
#pragma once
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "tessera/io/safetensors.h"
#include "tessera/models/gpt.h"
#include "tessera/text/char_tokenizer.h"

namespace tessera::test_util {

// Writes a run folder <root>/<name> (tokenizer.json + checkpoints/step-1) of a
// 1-layer GPT over the printable ASCII characters and newline; returns it.
// slow: no <|endoftext|> (a sequence only ends at max_tokens) and a model big
// enough (6 x 384) that long generations take seconds, for hang-up tests.
inline std::filesystem::path write_tiny_checkpoint(const std::filesystem::path& root, const std::string& name,
                                                   int64_t block_size, bool slow = false) {
  std::string corpus = "\n";
  for (char c = ' '; c <= '~'; ++c) corpus += c;
  auto tok = slow ? text::CharTokenizer::from_corpus({corpus}, {}) : text::CharTokenizer::from_corpus({corpus}, {"<|endoftext|>"});
  models::GPTConfig cfg;
  cfg.vocab_size = tok.vocab_size();
  cfg.block_size = block_size;
  cfg.n_layer = slow ? 6 : 1;
  cfg.n_head = slow ? 6 : 2;
  cfg.n_embd = slow ? 384 : 32;
  models::GPT model(cfg, 7);
  std::filesystem::path run = root / name, step = run / "checkpoints" / "step-1";
  std::filesystem::create_directories(step);
  io::save_safetensors((step / "model.safetensors").string(), model.state_dict());
  std::ofstream(step / "config.json") << "{\"format_version\": 1, \"step\": 1, \"model\": " << cfg.to_json() << "}";
  tok.save((run / "tokenizer.json").string());
  return run;
}

// `tessera serve ARGS --port 0 --port-file ...` as a child process.
class ServerProcess {
 public:
  ServerProcess(const std::filesystem::path& dir, const std::vector<std::string>& args) : dir_(dir) {
    std::filesystem::path port_file = dir / "port", log = dir / "server.log";
    std::filesystem::remove(port_file);
    std::vector<std::string> argv = {tessera_binary().string(), "serve", "--port", "0", "--port-file",
                                     port_file.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    log_ = log.string();
    // Everything the child needs is made before fork (no allocation after it).
    std::vector<char*> cargs;
    for (auto& a : argv) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    FILE* f = std::fopen(log_.c_str(), "w");
    int fd = f ? fileno(f) : -1;
    pid_ = ::fork();
    if (pid_ == 0) {
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execv(cargs[0], cargs.data());
      std::_Exit(127);
    }
    if (f) std::fclose(f);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(port_file);
      if (in >> port_ && port_ > 0) break;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~ServerProcess() { stop(); }

  int port() const { return port_; }
  bool running() const { return pid_ > 0 && port_ > 0; }
  std::string log() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // SIGTERM, then the exit code (-1 if it did not exit normally).
  int stop() {
    if (pid_ <= 0) return exit_code_;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return exit_code_;
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60);
    c.set_write_timeout(10);
    c.set_connection_timeout(10);
    c.set_tcp_nodelay(true);  // else the body waits on a delayed ACK (40 ms a request)
    return c;
  }

 private:
  std::filesystem::path dir_;
  std::string log_;
  pid_t pid_ = -1;
  int port_ = 0;
  int exit_code_ = -1;
};

inline httplib::Headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

// The "data: ..." payloads of a server-sent-events body, in order.
inline std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) break;
    std::string ev = body.substr(pos, end - pos);
    if (ev.rfind("data: ", 0) == 0) out.push_back(ev.substr(6));
    pos = end + 2;
  }
  return out;
}

// The "error" object of an OpenAI-shaped error response (and a test failure when there is none).
inline nlohmann::json error_of(const httplib::Result& r) {
  nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
  EXPECT_TRUE(j.is_object() && j.contains("error")) << r->body;
  return j.is_object() && j.contains("error") ? j["error"] : nlohmann::json::object();
}

}  // namespace tessera::test_util
