// env.cpp: the POSIX env (see env.hpp).
#include "storage/env.hpp"

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace walmux::storage {
namespace {

error os_error(const std::string& what, const std::string& path, int err) {
  return error{err == ENOSPC ? disk_full_sqlstate : sqlstate::io_error,
               "could not " + what + " file \"" + path +
                   "\": " + std::strerror(err)};
}

class posix_writable : public writable_file {
 public:
  posix_writable(int fd, std::string path, uint64_t size)
      : fd_(fd)
      , path_(std::move(path))
      , size_(size) {}
  ~posix_writable() override { ::close(fd_); }

  status append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR)
          continue;
        return os_error("write to", path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
      size_ += static_cast<uint64_t>(n);
    }
    return ok();
  }
  status sync() override {
    if (::fdatasync(fd_) != 0)
      return os_error("fsync", path_, errno);
    return ok();
  }
  status truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0)
      return os_error("truncate", path_, errno);
    size_ = size;
    return ok();
  }
  uint64_t size() const override { return size_; }

 private:
  int fd_;
  std::string path_;
  uint64_t size_;
};

class posix_readable : public readable_file {
 public:
  posix_readable(int fd, std::string path)
      : fd_(fd)
      , path_(std::move(path)) {}
  ~posix_readable() override { ::close(fd_); }

  expected<size_t> read_at(uint64_t offset, char* dst,
                           size_t n) const override {
    size_t done = 0;
    while (done < n) {
      ssize_t r =
          ::pread(fd_, dst + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR)
          continue;
        return os_error("read", path_, errno);
      }
      if (r == 0)
        break;
      done += static_cast<size_t>(r);
    }
    return done;
  }
  expected<uint64_t> size() const override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0)
      return os_error("stat", path_, errno);
    return static_cast<uint64_t>(st.st_size);
  }

 private:
  int fd_;
  std::string path_;
};

class posix_env_impl : public env {
 public:
  expected<std::unique_ptr<writable_file>>
  open_writable(const std::string& path) override {
    int fd =
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
      return os_error("open", path, errno);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      return os_error("stat", path, err);
    }
    return std::unique_ptr<writable_file>(
        new posix_writable(fd, path, static_cast<uint64_t>(st.st_size)));
  }
  expected<std::unique_ptr<readable_file>>
  open_readable(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return os_error("open", path, errno);
    // WAL files are read front to back: a larger kernel read-ahead window.
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return std::unique_ptr<readable_file>(new posix_readable(fd, path));
  }
  expected<bool> exists(const std::string& path) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0)
      return true;
    if (errno == ENOENT)
      return false;
    return os_error("stat", path, errno);
  }
  expected<std::vector<std::string>> list(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr)
      return os_error("open directory", dir, errno);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.')
        names.emplace_back(e->d_name);
    ::closedir(d);
    return names;
  }
  status remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return os_error("remove", path, errno);
    return ok();
  }
  status make_dir(const std::string& path) override {
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
      return os_error("create directory", path, errno);
    return ok();
  }
  status sync_dir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
      return os_error("open directory", dir, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0)
      return os_error("fsync directory", dir, err);
    return ok();
  }
  status write_atomically(const std::string& path,
                          std::string_view data) override {
    std::string tmp = path + ".tmp";
    (void)remove(tmp); // a leftover from a crash is replaced
    auto f = open_writable(tmp);
    if (!f)
      return std::move(f).err();
    if (auto st = (*f)->append(data); !st)
      return st;
    if (auto st = (*f)->sync(); !st)
      return st;
    f->reset();
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      return os_error("rename", tmp, errno);
    auto slash = path.rfind('/');
    return sync_dir(slash == std::string::npos ? "." : path.substr(0, slash));
  }
};

} // namespace

env* posix_env() {
  static posix_env_impl instance;
  return &instance;
}

} // namespace walmux::storage
