// run_server: load, bind, open the ledger, listen, and drain on SIGINT/SIGTERM.
//
// Start-up order: the model first (the slow, most likely failure), then the
// port (so the default ledger instance name "host:port" is the real port),
// then Ledger::open + recover() (interrupting what an earlier run of this
// instance left open), then listening. The port is printed ("listening on
// http://HOST:PORT") and written to --port-file only once requests can be
// accepted.
//
// Shutdown: the signal handler only sets a flag; a watcher thread calls
// Server::stop(), listen returns after every HTTP thread finished its request
// (so each in-flight generation completes and is settled), and then the
// Engine is destroyed with nothing left in it.
#include "tessera/serve/server.h"

#include <sys/socket.h>

#include <httplib.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <thread>

#include "serve/service.h"
#include "tessera/billing/ledger.h"
#include "tessera/core/error.h"
#include "tessera/io/atomic_file.h"
#include "tessera/checkpoint/language_model.h"

namespace tessera::serve {

namespace {

std::atomic<bool> g_stop_requested{false};
extern "C" void on_stop_signal(int) { g_stop_requested.store(true); }

// Restores the previous SIGINT/SIGTERM/SIGPIPE actions when the server returns.
class SignalScope {
 public:
  SignalScope() {
    g_stop_requested.store(false);
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old_pipe_);  // a client that hung up is a failed write, not a dead server
  }
  ~SignalScope() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
    sigaction(SIGPIPE, &old_pipe_, nullptr);
  }

 private:
  struct sigaction old_int_ {}, old_term_ {}, old_pipe_ {};
};

}  // namespace

std::string default_model_name(const std::string& checkpoint) {
  std::filesystem::path p = std::filesystem::path(checkpoint).lexically_normal();
  std::string name = p.filename().string();
  if (name.empty()) name = p.parent_path().filename().string();
  return name.empty() ? "tessera" : name;
}

int run_server(const ServerOptions& o) {
  TSR_CHECK(o.http_threads >= 1, Error, "serve: --http-threads must be >= 1, got ", o.http_threads);
  TSR_CHECK(o.max_body_bytes >= 1024, Error, "serve: --max-body-bytes must be >= 1024, got ", o.max_body_bytes);
  TSR_CHECK(o.port >= 0 && o.port <= 65535, Error, "serve: --port must be in [0, 65535], got ", o.port);
  TSR_CHECK(o.max_prompt_tokens >= 0, Error, "serve: --max-prompt-tokens must be >= 0, got ", o.max_prompt_tokens);

  auto loaded = checkpoint::load_gpt(o.checkpoint, o.tokenizer);
  const std::string model_id = o.model_name.empty() ? default_model_name(o.checkpoint) : o.model_name;
  std::cerr << "serve: model " << model_id << " from " << loaded.checkpoint_dir << " ("
            << loaded.model->count_parameters(true) << " parameters, context " << loaded.model->config().block_size
            << "), tokenizer " << loaded.tokenizer_path << "\n";

  httplib::Server svr;
  const int threads = o.http_threads;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  svr.set_payload_max_length(o.max_body_bytes);
  svr.set_keep_alive_max_count(1000);
  svr.set_keep_alive_timeout(5);
  svr.set_read_timeout(30);
  svr.set_write_timeout(30);
  svr.set_tcp_nodelay(true);

  // httplib's default options set SO_REUSEPORT (a second server could then
  // share the port silently) and its compiled-in listen backlog is 5, which
  // bursts of new connections overflow (clients see resets). So: SO_REUSEADDR
  // only, and the listening socket is re-listened with the system's backlog.
  int listen_fd = -1;
  svr.set_socket_options([&listen_fd](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_fd = sock;
  });
  int port = o.port;
  if (port == 0) port = svr.bind_to_any_port(o.host);
  else if (!svr.bind_to_port(o.host, port)) port = -1;
  TSR_CHECK(port > 0, Error, "serve: cannot listen on ", o.host, ":", o.port, " (address in use or not local?)");
  TSR_CHECK(listen_fd >= 0 && ::listen(listen_fd, SOMAXCONN) == 0, Error,
            "serve: cannot enlarge the listen backlog on ", o.host, ":", port);

  const std::string instance = o.instance.empty() ? o.host + ":" + std::to_string(port) : o.instance;
  auto ledger = billing::Ledger::open(o.db, instance);
  const int64_t interrupted = ledger->recover();
  std::cerr << "serve: ledger " << (o.db.find("://") == std::string::npos ? o.db : std::string("(PostgreSQL)"))
            << ", instance " << instance << ": " << interrupted
            << " reservation(s) left open by an earlier run were interrupted (prompt tokens charged)\n";
  if (ledger->current_price(model_id).version == 0)
    std::cerr << "serve: warning: model '" << model_id
              << "' has no price in the ledger, so its requests cost 0 (set one: tessera billing price)\n";

  auto service = std::make_unique<Service>(o, model_id, loaded.model,
                                           std::shared_ptr<const text::Tokenizer>(std::move(loaded.tokenizer)),
                                           std::move(ledger));
  service->install(svr);

  SignalScope signals;
  std::atomic<bool> listening_done{false};
  std::thread watcher([&] {
    while (!listening_done.load()) {
      // stop() is idempotent; repeated in case the signal came before listen started.
      if (g_stop_requested.load()) svr.stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });

  if (!o.port_file.empty()) io::write_file_atomic(o.port_file, std::to_string(port) + "\n");
  std::cout << "listening on http://" << o.host << ":" << port << std::endl;
  svr.listen_after_bind();
  listening_done.store(true);
  watcher.join();

  std::cerr << "serve: stopped listening; draining the engine\n";
  EngineStats s = service->engine().stats();
  service.reset();  // the engine first, then the ledger
  std::cerr << "serve: drained (" << s.sequences_finished << " sequences, " << s.tokens_generated
            << " tokens generated)\n";
  return 0;
}

}  // namespace tessera::serve
