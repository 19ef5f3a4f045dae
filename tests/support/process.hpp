// process.hpp: child processes, polling and temporary directories for tests.
//
// Tests wait for conditions with a deadline (wait_until), never for a fixed
// time: a condition met early returns early, one never met fails the test
// with its deadline instead of hanging.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace walmux::testing {

struct child_process {
  pid_t pid = -1;
  std::string output_path; // stdout and stderr of the child
};

// Starts argv[0] (a path) with stdout and stderr appended to `output_path`.
// Returns pid -1 if fork or exec fails (the exec failure shows in the file).
child_process spawn(const std::vector<std::string>& argv,
                    const std::string& output_path);

// Waits for exit up to `timeout`. The result is the exit code, 128 + signal
// number for a signal death, or nullopt on timeout (the child still runs).
std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds timeout);

// Polls `condition` every 20ms until it is true or `timeout` has passed.
bool wait_until(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout);

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and
// released); good enough for a test that starts a server on it at once.
int free_tcp_port();
// A socket connected to 127.0.0.1:port, or -1.
int connect_loopback(int port);

// True when `pid` exists and is not a zombie.
bool process_alive(pid_t pid);
std::string read_file(const std::string& path);
bool path_exists(const std::string& path);

// A new directory /tmp/walmux-test.XXXXXX, removed with its contents when the
// object is destroyed.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

} // namespace walmux::testing
