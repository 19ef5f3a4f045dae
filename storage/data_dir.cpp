// data_dir.cpp: data directory creation, checks and locking (see
// data_dir.hpp).
#include "storage/data_dir.hpp"

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

namespace walmux::storage {
namespace {

error io_error(const std::string& message, int err) {
  return error{sqlstate::io_error, message + ": " + std::strerror(err)};
}

// mkdir -p with mode 0700 for every directory it creates.
status make_dirs(const std::string& path) {
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty())
      continue;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST)
      return io_error("could not create directory \"" + partial + "\"", errno);
  }
  return ok();
}

// 1 if `dir` exists and holds entries, 0 if it exists empty, -1 if absent.
int directory_state(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr)
    return -1;
  int state = 0;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      state = 1;
      break;
    }
  }
  ::closedir(d);
  return state;
}

status write_file_synced(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return io_error("could not create file \"" + path + "\"", errno);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return io_error("could not write file \"" + path + "\"", err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    return io_error("could not fsync file \"" + path + "\"", err);
  }
  ::close(fd);
  return ok();
}

} // namespace

std::string path_in_data_dir(const std::string& dir, const std::string& file) {
  return file.empty() || file.front() == '/' ? file : dir + "/" + file;
}
std::string conf_path(const std::string& dir) {
  return dir + "/walmux.conf";
}
std::string catalog_path(const std::string& dir) {
  return dir + "/catalog";
}
std::string wal_path(const std::string& dir) {
  return dir + "/wal";
}

std::string stream_spool_path(const std::string& dir) {
  return dir + "/stream_spool";
}

expected<uint64_t> new_system_identifier() {
  uint64_t id = 0;
  while (id == 0) {
    ssize_t n = ::getrandom(&id, sizeof id, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n != static_cast<ssize_t>(sizeof id))
      return io_error("could not generate a system identifier", errno);
  }
  return id;
}

status data_dir_init(const std::string& dir, const std::string& conf_text,
                     const node_meta& meta) {
  int state = directory_state(dir);
  if (state == 1)
    return error{sqlstate::io_error,
                 "directory \"" + dir + "\" exists but is not empty"}
        .with_hint("If you want to create a new walmux data directory, remove "
                   "or empty the directory \"" +
                   dir + "\", or run walmux init with another -D argument.");
  if (state == -1) {
    if (auto st = make_dirs(dir); !st)
      return st;
  } else if (::chmod(dir.c_str(), 0700) != 0) {
    return io_error("could not change permissions of directory \"" + dir + "\"",
                    errno);
  }
  if (auto st = write_file_synced(conf_path(dir), conf_text); !st)
    return st;
  if (::mkdir(wal_path(dir).c_str(), 0700) != 0)
    return io_error("could not create directory \"" + wal_path(dir) + "\"",
                    errno);
  auto cat = catalog::create(catalog_path(dir));
  if (!cat)
    return std::move(cat).err();
  return (*cat)->write_node_meta(meta);
}

status data_dir_check(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT)
      return error{sqlstate::io_error,
                   "data directory \"" + dir + "\" does not exist"}
          .with_hint("Create it with: walmux init -D " + dir);
    return io_error("could not access data directory \"" + dir + "\"", errno);
  }
  if (!S_ISDIR(st.st_mode))
    return error{sqlstate::io_error,
                 "specified data directory \"" + dir + "\" is not a directory"};
  if ((st.st_mode & 0027) != 0)
    return error{sqlstate::io_error,
                 "data directory \"" + dir + "\" has invalid permissions"}
        .with_detail(
            "Permissions should be u=rwx (0700) or u=rwx,g=rx (0750).");
  for (const auto& required :
       {conf_path(dir), catalog_path(dir) + "/CURRENT"}) {
    if (::access(required.c_str(), F_OK) != 0)
      return error{sqlstate::io_error,
                   "\"" + dir + "\" is not a valid walmux data directory"}
          .with_detail("File \"" + required + "\" is missing.")
          .with_hint("Create a data directory with: walmux init -D DIR");
  }
  return ok();
}

expected<data_dir_lock> data_dir_lock::acquire(const std::string& dir) {
  std::string path = dir + "/walmux.pid";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return io_error("could not create lock file \"" + path + "\"", errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char buf[64] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    if (err != EWOULDBLOCK)
      return io_error("could not lock file \"" + path + "\"", err);
    long pid = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
    return error{sqlstate::lock_file_exists,
                 "lock file \"walmux.pid\" already exists"}
        .with_hint("Is another walmux (PID " + std::to_string(pid) +
                   ") running in data directory \"" + dir + "\"?");
  }
  std::string content = std::to_string(::getpid()) + "\n" + dir + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, content.data(), content.size(), 0) !=
          static_cast<ssize_t>(content.size())) {
    int err = errno;
    ::close(fd);
    return io_error("could not write lock file \"" + path + "\"", err);
  }
  return data_dir_lock(fd, path);
}

data_dir_lock::data_dir_lock(data_dir_lock&& other) noexcept
    : fd_(other.fd_)
    , path_(std::move(other.path_)) {
  other.fd_ = -1;
}

data_dir_lock::~data_dir_lock() {
  if (fd_ < 0)
    return;
  // Unlink while still holding the lock, so no other walmux can have locked
  // the file we remove.
  ::unlink(path_.c_str());
  ::close(fd_);
}

} // namespace walmux::storage
