// gather's concurrency lab, in C++20: the lab's jobs (sleep, http, cpu, spawn) under a plain
// loop, coroutines on one asio::io_context (one thread, or several), a pool of std::threads,
// and fork()ed worker processes.
//
// `gather bench lab` builds this single file with
//     g++ -O2 -std=c++20 -pthread -o OUT worker.cpp
// (standalone asio, header-only, from <asio.hpp>; no other library) and runs the binary once
// per job: one Job as JSON on stdin, one JobOutput as JSON on stdout. No JSON library: a
// small parser and writer for the protocol's shapes are at the end of this file.

#include <asio.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

// ---- The protocol ----

struct Task {
  enum Kind { Sleep, Url, Primes } kind = Sleep;
  double secs = 0;           // Sleep
  std::string url;           // Url
  uint64_t from = 0, to = 0; // Primes
};

struct Job {
  std::string workload;  // sleep, http, cpu, spawn
  std::string model;     // sequential, async, async-mt, threads, processes
  int workers = 1;
  std::vector<Task> tasks;
  uint64_t count = 0;    // spawn only
};

struct Times {
  double start = 0, end = 0;
  std::optional<double> first_byte, cpu;
  int worker = 0;
};

struct TaskResult {
  Times times;
  uint64_t answer = 0;  // primes counted, or body bytes
  std::string error;    // empty when the task succeeded
};

struct Output {
  double t0 = 0, wall = 0, cpu = 0;
  long peak_rss_kib = 0, baseline_rss_kib = 0;
  std::vector<Times> tasks;
  uint64_t result = 0;
  std::optional<std::string> error;
  std::string engine, version;
};

Job parse_job(std::string_view text);
std::string to_json(const Output& out);
Output output_from_json(std::string_view text);

// ---- Clocks and counters ----

double unix_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

double thread_cpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

double seconds(const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; }

double process_cpu() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return seconds(ru.ru_utime) + seconds(ru.ru_stime);
}

// A "VmRSS" or "VmHWM" line of /proc/self/status, in KiB.
long status_kib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return 0;
}

// Which thread of a pool runs the current task: set by each thread before it starts.
thread_local int lane = 0;

// ---- The work itself ----

bool is_prime(uint64_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (uint64_t d = 3; d * d <= n; d += 2) {
    if (n % d == 0) return false;
  }
  return true;
}

uint64_t count_primes(uint64_t from, uint64_t to) {
  uint64_t count = 0;
  for (uint64_t n = from; n < to; ++n) count += is_prime(n);
  return count;
}

std::chrono::nanoseconds duration_of(double secs) {
  return std::chrono::nanoseconds(static_cast<int64_t>(secs * 1e9));
}

// ---- HTTP/1.1, just enough: GET, Content-Length or chunked bodies, keep-alive ----

struct Url {
  std::string host, port, path;
};

Url parse_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) throw std::runtime_error("only http:// URLs");
  std::string rest = url.substr(scheme.size());
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  Url u{authority, "80", slash == std::string::npos ? "/" : rest.substr(slash)};
  if (size_t colon = authority.rfind(':'); colon != std::string::npos) {
    u.host = authority.substr(0, colon);
    u.port = authority.substr(colon + 1);
  }
  if (u.host.empty()) throw std::runtime_error("no host");
  return u;
}

std::string request_for(const Url& u) {
  return "GET " + u.path + " HTTP/1.1\r\nHost: " + u.host + ":" + u.port + "\r\n\r\n";
}

// Reads one response as its bytes arrive: feed() it what the socket gave until done().
class ResponseReader {
 public:
  void feed(const char* data, size_t n) {
    bytes_seen_ += n;
    buf_.append(data, n);
    advance();
    buf_.erase(0, pos_);
    pos_ = 0;
  }

  // The peer closed the connection: the end of a body without a length, else an error.
  void end_of_stream() {
    if (state_ != UntilClose) throw std::runtime_error("the connection closed mid-response");
    state_ = Done;
  }

  bool headers_done() const { return state_ != Headers; }
  bool done() const { return state_ == Done; }
  size_t bytes_seen() const { return bytes_seen_; }
  int status() const { return status_; }
  uint64_t body_bytes() const { return body_bytes_; }
  bool keep_alive() const { return keep_alive_; }

 private:
  enum State { Headers, Length, ChunkSize, ChunkData, ChunkEnd, Trailers, UntilClose, Done };

  // Parses what it can of buf_ from pos_; returns when it needs more bytes.
  void advance() {
    for (;;) {
      switch (state_) {
        case Headers: {
          size_t end = buf_.find("\r\n\r\n");
          if (end == std::string::npos) {
            if (buf_.size() > 65536) throw std::runtime_error("response headers too long");
            return;
          }
          parse_head(std::string_view(buf_).substr(0, end + 2));
          pos_ = end + 4;
          break;
        }
        case Length:
        case ChunkData: {
          uint64_t take = std::min<uint64_t>(remaining_, buf_.size() - pos_);
          body_bytes_ += take;
          remaining_ -= take;
          pos_ += take;
          if (remaining_ > 0) return;
          state_ = state_ == Length ? Done : ChunkEnd;
          break;
        }
        case ChunkSize: {
          size_t eol = buf_.find("\r\n", pos_);
          if (eol == std::string::npos) return;
          uint64_t size = 0;
          auto [end, ec] = std::from_chars(buf_.data() + pos_, buf_.data() + eol, size, 16);
          if (ec != std::errc() || end == buf_.data() + pos_) {
            throw std::runtime_error("bad chunk size");
          }
          pos_ = eol + 2;
          remaining_ = size;
          state_ = size == 0 ? Trailers : ChunkData;
          break;
        }
        case ChunkEnd:
          if (buf_.size() - pos_ < 2) return;
          if (buf_.compare(pos_, 2, "\r\n") != 0) throw std::runtime_error("bad chunk end");
          pos_ += 2;
          state_ = ChunkSize;
          break;
        case Trailers: {
          size_t eol = buf_.find("\r\n", pos_);
          if (eol == std::string::npos) return;
          state_ = eol == pos_ ? Done : Trailers;  // an empty line ends the trailers
          pos_ = eol + 2;
          break;
        }
        case UntilClose:
          body_bytes_ += buf_.size() - pos_;
          pos_ = buf_.size();
          return;
        case Done:
          return;
      }
    }
  }

  void parse_head(std::string_view head) {
    if (head.size() < 12 || head.substr(0, 7) != "HTTP/1.") {
      throw std::runtime_error("not an HTTP/1 response");
    }
    auto [_, ec] = std::from_chars(head.data() + 9, head.data() + 12, status_);
    if (ec != std::errc()) throw std::runtime_error("bad status line");
    keep_alive_ = head[7] == '1';  // HTTP/1.0 closes unless it says otherwise
    bool chunked = false;
    std::optional<uint64_t> length;
    for (size_t at = head.find("\r\n") + 2; at < head.size();) {
      size_t eol = head.find("\r\n", at);
      std::string_view line = head.substr(at, eol - at);
      at = eol + 2;
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string name(line.substr(0, colon));
      std::string value(line.substr(colon + 1));
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      for (auto& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      value.erase(0, value.find_first_not_of(" \t"));
      value.erase(value.find_last_not_of(" \t") + 1);
      if (name == "content-length") {
        uint64_t n = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec != std::errc() || end != value.data() + value.size()) {
          throw std::runtime_error("bad Content-Length");
        }
        length = n;
      } else if (name == "transfer-encoding") {
        chunked = value.find("chunked") != std::string::npos;
      } else if (name == "connection") {
        keep_alive_ = value.find("close") == std::string::npos &&
                      (keep_alive_ || value.find("keep-alive") != std::string::npos);
      }
    }
    if (status_ == 204 || status_ == 304 || (status_ >= 100 && status_ < 200)) {
      state_ = Done;
    } else if (chunked) {
      state_ = ChunkSize;
    } else if (length) {
      remaining_ = *length;
      state_ = *length == 0 ? Done : Length;
    } else {
      keep_alive_ = false;
      state_ = UntilClose;
    }
  }

  std::string buf_;
  size_t pos_ = 0;
  State state_ = Headers;
  uint64_t remaining_ = 0, body_bytes_ = 0;
  size_t bytes_seen_ = 0;
  int status_ = 0;
  bool keep_alive_ = true;
};

void check_status(const ResponseReader& reader) {
  if (reader.status() != 200) throw std::runtime_error("HTTP status " + std::to_string(reader.status()));
}

// What went wrong with a task, for the output: an http task's error names its URL.
std::string task_error(const Task& task, const std::exception& e) {
  return task.kind == Task::Url ? task.url + ": " + e.what() : e.what();
}

// One keep-alive connection with blocking calls, used by one thread for one task after another.
class BlockingHttp {
 public:
  // GETs url: when the headers came, and the body's length.
  std::pair<double, uint64_t> get(const std::string& url) {
    Url u = parse_url(url);
    for (int attempt = 0;; ++attempt) {
      bool reused = socket_.is_open() && peer_ == u.host + ":" + u.port;
      if (!reused) {
        socket_.close();
        tcp::resolver resolver(io_);
        asio::connect(socket_, resolver.resolve(u.host, u.port));
        socket_.set_option(tcp::no_delay(true));
        peer_ = u.host + ":" + u.port;
      }
      ResponseReader reader;
      double first_byte = 0;
      char buf[16384];
      asio::error_code ec;
      asio::write(socket_, asio::buffer(request_for(u)), ec);
      while (!ec && !reader.done()) {
        size_t n = socket_.read_some(asio::buffer(buf), ec);
        reader.feed(buf, n);
        if (!first_byte && reader.headers_done()) first_byte = unix_now();
      }
      if (ec) socket_.close();
      if (ec == asio::error::eof && reader.bytes_seen() > 0) reader.end_of_stream(), ec = {};
      if (ec) {
        // A kept-alive connection the server had closed meanwhile: once more, on a new one.
        if (reused && attempt == 0 && reader.bytes_seen() == 0) continue;
        throw std::system_error(ec);
      }
      if (!reader.keep_alive()) socket_.close();
      check_status(reader);
      return {first_byte, reader.body_bytes()};
    }
  }

 private:
  asio::io_context io_;
  tcp::socket socket_{io_};
  std::string peer_;
};

// GETs url on a connection of its own, as a coroutine: when the headers came, and the body's
// length.
awaitable<std::pair<double, uint64_t>> async_get(std::string url) {
  Url u = parse_url(url);
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  tcp::socket socket(executor);
  co_await asio::async_connect(socket, co_await resolver.async_resolve(u.host, u.port, use_awaitable),
                               use_awaitable);
  socket.set_option(tcp::no_delay(true));
  co_await asio::async_write(socket, asio::buffer(request_for(u)), use_awaitable);
  ResponseReader reader;
  double first_byte = 0;
  char buf[16384];
  asio::error_code ec;
  while (!ec && !reader.done()) {
    size_t n = co_await socket.async_read_some(asio::buffer(buf), asio::redirect_error(use_awaitable, ec));
    reader.feed(buf, n);
    if (!first_byte && reader.headers_done()) first_byte = unix_now();
  }
  if (ec == asio::error::eof) reader.end_of_stream(), ec = {};
  if (ec) throw std::system_error(ec);
  check_status(reader);
  co_return std::pair{first_byte, reader.body_bytes()};
}

// ---- One task ----

// Runs a task on this thread, blocking it while it waits. The thread runs nothing else
// meanwhile, so its CPU clock is the task's.
TaskResult blocking_task(const Task& task, BlockingHttp& http, int worker) {
  TaskResult r;
  r.times.worker = worker;
  r.times.start = unix_now();
  double cpu0 = thread_cpu();
  try {
    switch (task.kind) {
      case Task::Sleep:
        std::this_thread::sleep_for(duration_of(task.secs));
        break;
      case Task::Primes:
        r.answer = count_primes(task.from, task.to);
        break;
      case Task::Url:
        std::tie(r.times.first_byte, r.answer) = http.get(task.url);
        break;
    }
  } catch (const std::exception& e) {
    r.error = task_error(task, e);
  }
  r.times.cpu = thread_cpu() - cpu0;
  r.times.end = unix_now();
  return r;
}

// Runs a task as a coroutine. CPU work never suspends, so a cpu task's thread CPU time is its
// own; a sleep or http task shares its thread with the others, and its cpu stays null.
awaitable<TaskResult> async_task(Task task) {
  TaskResult r;
  r.times.worker = lane;
  r.times.start = unix_now();
  try {
    switch (task.kind) {
      case Task::Sleep: {
        asio::steady_timer timer(co_await asio::this_coro::executor, duration_of(task.secs));
        co_await timer.async_wait(use_awaitable);
        break;
      }
      case Task::Primes: {
        double cpu0 = thread_cpu();
        r.answer = count_primes(task.from, task.to);
        r.times.cpu = thread_cpu() - cpu0;
        break;
      }
      case Task::Url:
        std::tie(r.times.first_byte, r.answer) = co_await async_get(task.url);
        break;
    }
  } catch (const std::exception& e) {
    r.error = task_error(task, e);
  }
  r.times.end = unix_now();
  co_return r;
}

// ---- The models ----

// sequential: this thread runs the tasks one after another, blocking on each.
std::vector<TaskResult> sequential(const std::vector<Task>& tasks, int worker) {
  BlockingHttp http;  // one keep-alive connection for all the tasks
  std::vector<TaskResult> results;
  for (const Task& task : tasks) results.push_back(blocking_task(task, http, worker));
  return results;
}

// async / async-mt: one coroutine per task, all started at once on one io_context, which
// `threads` threads run (this one among them).
std::vector<TaskResult> coroutines(const std::vector<Task>& tasks, int threads) {
  asio::io_context io(threads);
  std::vector<TaskResult> results(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    asio::co_spawn(io, async_task(tasks[i]),
                   [&results, i](std::exception_ptr, TaskResult r) { results[i] = std::move(r); });
  }
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back([&io, t] { lane = t; io.run(); });
  lane = 0;
  io.run();
  for (auto& thread : pool) thread.join();
  return results;
}

// threads: `workers` OS threads, each taking the next task from a shared counter and blocking
// on it.
std::vector<TaskResult> threads(const std::vector<Task>& tasks, int workers) {
  std::vector<TaskResult> results(tasks.size());
  std::atomic<size_t> next{0};
  {
    std::vector<std::jthread> pool;
    for (int w = 0; w < workers; ++w) {
      pool.emplace_back([&, w] {
        BlockingHttp http;  // this thread's keep-alive connection
        for (size_t i = next++; i < tasks.size(); i = next++) {
          results[i] = blocking_task(tasks[i], http, w);
        }
      });
    }
  }  // the jthreads join here
  return results;
}

struct Children {
  double cpu = 0;
  long peak_rss_kib = 0;
};

void write_all(int fd, const std::string& text) {
  for (size_t done = 0; done < text.size();) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += n;
  }
}

std::string read_all(int fd) {
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return text;
    text.append(buf, n);
  }
}

// What a forked child does: its share of the tasks, one after another, answered as JSON into
// the pipe. It never returns.
[[noreturn]] void child_main(const std::vector<Task>& tasks, int w, int workers, int pipe_out) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // die with the parent
  Output out;
  try {
    std::vector<Task> share;
    for (size_t i = w; i < tasks.size(); i += workers) share.push_back(tasks[i]);
    for (const TaskResult& r : sequential(share, w)) {
      out.tasks.push_back(r.times);
      out.result += r.answer;
      if (!r.error.empty() && !out.error) out.error = r.error;
    }
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  write_all(pipe_out, to_json(out));
  _exit(0);
}

// processes: fork `workers` children; child w runs tasks w, w+workers, ... one after another
// and sends back its times over a pipe; wait4 gives each child's CPU time and peak memory.
std::vector<TaskResult> processes(const std::vector<Task>& tasks, int workers, Children& usage) {
  std::vector<pid_t> pids;
  std::vector<int> pipes;
  for (int w = 0; w < workers; ++w) {
    int fds[2];
    if (pipe(fds) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    pid_t pid = fork();
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid == 0) {
      close(fds[0]);
      child_main(tasks, w, workers, fds[1]);
    }
    close(fds[1]);
    pids.push_back(pid);
    pipes.push_back(fds[0]);
  }
  std::vector<TaskResult> results(tasks.size());
  std::string error;
  for (int w = 0; w < workers; ++w) {
    std::string answer = read_all(pipes[w]);
    close(pipes[w]);
    int status = 0;
    rusage ru{};
    wait4(pids[w], &status, 0, &ru);
    usage.cpu += seconds(ru.ru_utime) + seconds(ru.ru_stime);
    usage.peak_rss_kib += ru.ru_maxrss;
    try {
      Output out = output_from_json(answer);
      for (size_t k = 0; k < out.tasks.size() && w + k * workers < tasks.size(); ++k) {
        results[w + k * workers].times = out.tasks[k];
      }
      results[w].answer = out.result;  // the share's whole answer goes to its first task
      if (out.error) results[w].error = *out.error;
    } catch (const std::exception& e) {
      results[w].error = "worker " + std::to_string(w) + " answered badly: " + e.what();
    }
  }
  return results;
}

// spawn, async: n coroutines at once, each waiting on its own timer, on one io_context run by
// `threads` threads.
awaitable<void> sleeper(std::chrono::nanoseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(use_awaitable);
}

uint64_t spawn_coroutines(uint64_t n, std::chrono::nanoseconds d, int threads) {
  asio::io_context io(threads);
  std::atomic<uint64_t> done{0};
  for (uint64_t i = 0; i < n; ++i) {
    asio::co_spawn(io, sleeper(d), [&done](std::exception_ptr e) { done += !e; });
  }
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& thread : pool) thread.join();
  return done;
}

// spawn, threads: n OS threads, each sleeping.
uint64_t spawn_threads(uint64_t n, std::chrono::nanoseconds d) {
  std::vector<std::jthread> threads;
  for (uint64_t i = 0; i < n; ++i) threads.emplace_back([d] { std::this_thread::sleep_for(d); });
  return n;  // the jthreads join on the way out
}

// ---- The job ----

std::string version() {
#ifdef __clang__
  std::string compiler = "clang++ " __clang_version__;
#else
  std::string compiler = "g++ " __VERSION__;
#endif
  return compiler + ", asio " + std::to_string(ASIO_VERSION / 100000) + "." +
         std::to_string(ASIO_VERSION / 100 % 1000) + "." + std::to_string(ASIO_VERSION % 100);
}

std::string engine(const Job& job) {
  std::string n = std::to_string(job.workload == "spawn" ? job.count : job.workers);
  if (job.model == "sequential") return "one thread, blocking calls";
  if (job.model == "async") return "asio coroutines, 1 thread";
  if (job.model == "async-mt") return "asio coroutines, " + n + " threads";
  if (job.model == "threads") return n + " std::threads";
  return n + " fork() processes";
}

Output run(const Job& job) {
  Output out;
  out.engine = engine(job);
  out.version = version();
  int lanes = std::max<int>(1, std::min<size_t>(job.workers, job.tasks.size()));

  out.baseline_rss_kib = status_kib("VmRSS");
  double cpu0 = process_cpu();
  out.t0 = unix_now();
  auto start = std::chrono::steady_clock::now();
  std::vector<TaskResult> results;
  Children children;
  try {
    if (job.workload == "spawn") {
      auto d = duration_of(job.tasks.at(0).secs);
      out.result = job.model == "threads" ? spawn_threads(job.count, d)
                                          : spawn_coroutines(job.count, d, job.model == "async" ? 1 : job.workers);
    } else if (job.model == "sequential") {
      results = sequential(job.tasks, 0);
    } else if (job.model == "async") {
      results = coroutines(job.tasks, 1);
    } else if (job.model == "async-mt") {
      results = coroutines(job.tasks, job.workers);
    } else if (job.model == "threads") {
      results = threads(job.tasks, lanes);
    } else {
      results = processes(job.tasks, lanes, children);
    }
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  out.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out.cpu = process_cpu() - cpu0 + children.cpu;
  out.peak_rss_kib = status_kib("VmHWM") + children.peak_rss_kib;

  for (const TaskResult& r : results) {
    out.tasks.push_back(r.times);
    out.result += r.answer;
    if (!r.error.empty() && !out.error) out.error = r.error;
  }
  return out;
}

int main() {
  Output out;
  try {
    std::string input{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    out = run(parse_job(input));
  } catch (const std::exception& e) {
    out = Output{};
    out.t0 = unix_now();
    out.error = e.what();
    out.version = version();
  }
  std::string text = to_json(out) + "\n";
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
    std::perror("cannot write the output");
    return 1;
  }
  return 0;
}

// ---- JSON, just enough: a parser for the job (and for a child's answer), and a writer ----

struct Json {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool boolean = false;
  double number = 0;
  std::string text;               // a String's value, or a Number as written
  std::vector<std::string> keys;  // an Object's keys, in order
  std::vector<Json> items;        // an Array's items, or an Object's values

  const Json* get(std::string_view key) const {
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] == key) return &items[i];
    }
    return nullptr;
  }
};

class JsonParser {
 public:
  explicit JsonParser(std::string_view s) : s_(s) {}

  Json document() {
    Json v = value(0);
    skip_space();
    if (i_ != s_.size()) fail("text after the value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) {
    throw std::runtime_error("bad JSON at byte " + std::to_string(i_) + ": " + why);
  }

  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }

  bool eat(char c) {
    skip_space();
    if (i_ < s_.size() && s_[i_] == c) return ++i_, true;
    return false;
  }

  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "'");
  }

  Json value(int depth) {
    if (depth > 64) fail("nested too deeply");
    skip_space();
    if (i_ >= s_.size()) fail("unexpected end");
    Json v;
    char c = s_[i_];
    if (c == '{') {
      ++i_;
      v.kind = Json::Object;
      if (eat('}')) return v;
      do {
        skip_space();
        if (i_ >= s_.size() || s_[i_] != '"') fail("expected a key");
        v.keys.push_back(string());
        expect(':');
        v.items.push_back(value(depth + 1));
      } while (eat(','));
      expect('}');
    } else if (c == '[') {
      ++i_;
      v.kind = Json::Array;
      if (eat(']')) return v;
      do v.items.push_back(value(depth + 1));
      while (eat(','));
      expect(']');
    } else if (c == '"') {
      v.kind = Json::String;
      v.text = string();
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind = Json::Number;
      v.text = number();
      v.number = std::strtod(v.text.c_str(), nullptr);
    } else if (literal("true")) {
      v.kind = Json::Bool;
      v.boolean = true;
    } else if (literal("false")) {
      v.kind = Json::Bool;
    } else if (!literal("null")) {
      fail("unexpected character");
    }
    return v;
  }

  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  std::string number() {
    size_t start = i_;
    auto digits = [&] {
      size_t from = i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      if (i_ == from) fail("expected a digit");
    };
    if (s_[i_] == '-') ++i_;
    if (i_ < s_.size() && s_[i_] == '0') {
      ++i_;
    } else {
      digits();
    }
    if (i_ < s_.size() && s_[i_] == '.') ++i_, digits();
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      digits();
    }
    return std::string(s_.substr(start, i_ - start));
  }

  unsigned hex4() {
    if (s_.size() - i_ < 4) fail("short \\u escape");
    unsigned code = 0;
    auto [end, ec] = std::from_chars(s_.data() + i_, s_.data() + i_ + 4, code, 16);
    if (ec != std::errc() || end != s_.data() + i_ + 4) fail("bad \\u escape");
    i_ += 4;
    return code;
  }

  static void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | code >> 6);
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | code >> 12);
      out += static_cast<char>(0x80 | (code >> 6 & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | code >> 18);
      out += static_cast<char>(0x80 | (code >> 12 & 0x3F));
      out += static_cast<char>(0x80 | (code >> 6 & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  std::string string() {
    ++i_;  // the opening quote
    std::string out;
    for (;;) {
      if (i_ >= s_.size()) fail("unterminated string");
      char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail("unterminated string");
      switch (char e = s_[i_++]) {
        case '"': case '\\': case '/': out += e; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned code = hex4();
          if (code >= 0xD800 && code < 0xDC00 && s_.substr(i_, 2) == "\\u") {
            i_ += 2;
            unsigned low = hex4();
            code = low >= 0xDC00 && low < 0xE000 ? 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00) : 0xFFFD;
          } else if (code >= 0xD800 && code < 0xE000) {
            code = 0xFFFD;  // a lone surrogate
          }
          append_utf8(out, code);
          break;
        }
        default: fail("bad escape");
      }
    }
  }

  std::string_view s_;
  size_t i_ = 0;
};

// A non-negative integer, written as one (no fraction, no exponent), that fits in 64 bits.
uint64_t to_u64(const Json& v, const char* what) {
  uint64_t n = 0;
  const char* end = v.text.data() + v.text.size();
  if (v.kind != Json::Number || std::from_chars(v.text.data(), end, n).ptr != end) {
    throw std::runtime_error(std::string(what) + " is not a non-negative integer");
  }
  return n;
}

Task parse_task(const Json& v) {
  if (v.kind != Json::Object || v.keys.size() != 1) {
    throw std::runtime_error(R"(a task is one of {"sleep": S}, {"url": U}, {"primes": [from, to]})");
  }
  Task task;
  const Json& arg = v.items[0];
  if (v.keys[0] == "sleep" && arg.kind == Json::Number) {
    task.kind = Task::Sleep;
    task.secs = arg.number;
    if (!(task.secs >= 0 && task.secs <= 1e6)) throw std::runtime_error("cannot sleep " + arg.text + " s");
  } else if (v.keys[0] == "url" && arg.kind == Json::String) {
    task.kind = Task::Url;
    task.url = arg.text;
  } else if (v.keys[0] == "primes" && arg.kind == Json::Array && arg.items.size() == 2) {
    task.kind = Task::Primes;
    task.from = to_u64(arg.items[0], "primes");
    task.to = to_u64(arg.items[1], "primes");
  } else {
    throw std::runtime_error("bad task: " + v.keys[0]);
  }
  return task;
}

Job parse_job(std::string_view text) {
  Json v = JsonParser(text).document();
  if (v.kind != Json::Object) throw std::runtime_error("the job is not a JSON object");
  auto field = [&](const char* name, Json::Kind kind) -> const Json* {
    const Json* f = v.get(name);
    if (f && f->kind != kind) throw std::runtime_error(std::string(name) + " has the wrong type");
    return f;
  };
  Job job;
  const Json* workload = field("workload", Json::String);
  const Json* model = field("model", Json::String);
  const Json* tasks = field("tasks", Json::Array);
  if (!workload || !model || !tasks) throw std::runtime_error("the job needs workload, model and tasks");
  job.workload = workload->text;
  job.model = model->text;
  if (const Json* workers = field("workers", Json::Number)) {
    job.workers = static_cast<int>(std::clamp<uint64_t>(to_u64(*workers, "workers"), 1, 100000));
  }
  if (const Json* count = field("count", Json::Number)) job.count = to_u64(*count, "count");
  for (const Json& t : tasks->items) job.tasks.push_back(parse_task(t));

  const std::vector<std::string> workloads{"sleep", "http", "cpu", "spawn"};
  const std::vector<std::string> models{"sequential", "async", "async-mt", "threads", "processes"};
  if (std::find(workloads.begin(), workloads.end(), job.workload) == workloads.end()) {
    throw std::runtime_error("unknown workload \"" + job.workload + "\"");
  }
  if (std::find(models.begin(), models.end(), job.model) == models.end()) {
    throw std::runtime_error("unknown model \"" + job.model + "\"");
  }
  if (job.workload == "spawn") {
    if (job.model == "sequential" || job.model == "processes") {
      throw std::runtime_error("spawn starts its tasks all at once: use async, async-mt or threads");
    }
    if (job.tasks.size() != 1 || job.tasks[0].kind != Task::Sleep || !v.get("count")) {
      throw std::runtime_error(R"(spawn takes one {"sleep": S} task and a count)");
    }
  }
  return job;
}

// A child's answer, as to_json wrote it.
Output output_from_json(std::string_view text) {
  Json v = JsonParser(text).document();
  Output out;
  auto number = [](const Json* f) { return f && f->kind == Json::Number ? f->number : 0.0; };
  auto optional = [](const Json* f) {
    return f && f->kind == Json::Number ? std::optional<double>(f->number) : std::nullopt;
  };
  if (const Json* tasks = v.get("tasks"); tasks && tasks->kind == Json::Array) {
    for (const Json& t : tasks->items) {
      Times times;
      times.start = number(t.get("start"));
      times.end = number(t.get("end"));
      times.first_byte = optional(t.get("first_byte"));
      times.cpu = optional(t.get("cpu"));
      times.worker = static_cast<int>(number(t.get("worker")));
      out.tasks.push_back(times);
    }
  }
  if (const Json* result = v.get("result")) out.result = to_u64(*result, "result");
  if (const Json* error = v.get("error"); error && error->kind == Json::String) out.error = error->text;
  return out;
}

// Writes s as a JSON string: quotes, backslashes and control characters escaped; bytes that
// are not valid UTF-8 replaced by U+FFFD, so that the output always parses.
std::string quote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", c);
      out += esc;
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else {
      size_t len = c >= 0xF0 && c < 0xF5 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
      bool valid = len > 0 && i + len <= s.size();
      for (size_t k = 1; valid && k < len; ++k) valid = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
      if (valid) {
        out.append(s.substr(i, len));
        i += len;
      } else {
        out += "\xEF\xBF\xBD";
        ++i;
      }
    }
  }
  return out + "\"";
}

std::string num(double x) {
  if (!std::isfinite(x)) return "null";
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, x).ptr);  // the shortest exact form
}

std::string opt(const std::optional<double>& x) { return x ? num(*x) : "null"; }

std::string to_json(const Output& out) {
  std::string s = "{\"t0\": " + num(out.t0) + ", \"wall\": " + num(out.wall) + ", \"cpu\": " + num(out.cpu) +
                  ", \"peak_rss_kib\": " + std::to_string(out.peak_rss_kib) +
                  ", \"baseline_rss_kib\": " + std::to_string(out.baseline_rss_kib) + ", \"tasks\": [";
  for (size_t i = 0; i < out.tasks.size(); ++i) {
    const Times& t = out.tasks[i];
    s += (i ? ", " : "") + std::string("{\"start\": ") + num(t.start) + ", \"first_byte\": " + opt(t.first_byte) +
         ", \"end\": " + num(t.end) + ", \"cpu\": " + opt(t.cpu) + ", \"worker\": " + std::to_string(t.worker) + "}";
  }
  return s + "], \"result\": " + std::to_string(out.result) +
         ", \"error\": " + (out.error ? quote(*out.error) : "null") + ", \"engine\": " + quote(out.engine) +
         ", \"version\": " + quote(out.version) + "}";
}
