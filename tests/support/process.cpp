// process.cpp: see process.hpp.
#include "tests/support/process.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace walmux::testing {

child_process spawn(const std::vector<std::string>& argv,
                    const std::string& output_path) {
  child_process child;
  child.output_path = output_path;
  pid_t pid = ::fork();
  if (pid < 0)
    return child;
  if (pid == 0) {
    int fd = ::open(output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      ::dup2(devnull, 0);
    // Signals blocked in the test process must not stay blocked in the child.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // Nor ignored: a shell starting the tests in the background ignores
    // SIGINT for them, and tests stop children (pgbench) with it.
    for (int sig : {SIGINT, SIGQUIT, SIGTERM})
      ::signal(sig, SIG_DFL);
    std::vector<char*> args;
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::dprintf(2, "exec %s failed: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  child.pid = pid;
  return child;
}

std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
  std::optional<int> result;
  wait_until(
      [&] {
        int status = 0;
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r != pid)
          return false;
        result =
            WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return true;
      },
      timeout);
  return result;
}

bool wait_until(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition())
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool process_alive(pid_t pid) {
  if (pid <= 0)
    return false;
  // A zombie is dead for every purpose here. Orphans (a stopped postmaster)
  // are reparented to PID 1, which in some containers never reaps them, so
  // kill(pid, 0) alone would report them alive forever.
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(')');
  if (stat.empty() || paren == std::string::npos || paren + 2 >= stat.size())
    return false;
  char state = stat[paren + 2];
  return state != 'Z' && state != 'X';
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

temp_dir::temp_dir() {
  char tmpl[] = "/tmp/walmux-test.XXXXXX";
  if (::mkdtemp(tmpl) != nullptr)
    path_ = tmpl;
}

temp_dir::~temp_dir() {
  if (path_.empty())
    return;
  std::string cmd = "rm -rf '" + path_ + "'";
  if (std::system(cmd.c_str()) != 0) {
    // Leaving a temporary directory behind is not worth failing a test for.
  }
}

} // namespace walmux::testing

namespace walmux::testing {

int free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

} // namespace walmux::testing
