// attunectl keys: the storage key file of attuned (store.key_file, see
// service/security/key_ring.h for its format).
//
//   attunectl keys generate --out /etc/attune/storage.keys
//   attunectl keys rotate --file /etc/attune/storage.keys
//
// Both print only the key id: key material never reaches a terminal, a log
// or an error message, and buffers that held it are wiped.
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "service/ctl/commands.h"
#include "service/security/key_ring.h"

namespace attune::ctl {
namespace {

// Overwrites a string that held key material when it goes out of scope.
class Wiped {
 public:
  explicit Wiped(std::string& secret) : secret_(secret) {}
  ~Wiped() { OPENSSL_cleanse(secret_.data(), secret_.size()); }
  Wiped(const Wiped&) = delete;
  Wiped& operator=(const Wiped&) = delete;

 private:
  std::string& secret_;
};

// Closes a file descriptor on every path out of a function.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now; false when close reports an error (a lost write).
  bool Close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

std::string DefaultKeyId() {
  return absl::StrCat(
      "k", absl::FormatTime("%Y%m%d", absl::Now(), absl::UTCTimeZone()));
}

absl::Status ErrnoError(absl::string_view flag, const std::string& path,
                        absl::string_view what, int err) {
  return absl::InvalidArgumentError(absl::StrCat(
      flag, ": ", path, ": ", what, " (", std::strerror(err), ")"));
}

absl::StatusOr<std::string> NewKeyLine(const std::string& id) {
  absl::StatusOr<std::string> line = security::KeyRing::GenerateKeyLine(id);
  if (line.ok() || line.status().code() != absl::StatusCode::kInvalidArgument) {
    return line;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--id: '", id,
                   "' is not a key id (1-32 characters of A-Z a-z 0-9 _ . -)"));
}

absl::Status WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::DataLossError(std::strerror(errno));
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Makes a created or renamed directory entry durable.
absl::Status SyncDirectoryOf(absl::string_view flag, const std::string& path) {
  const std::filesystem::path parent =
      std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0) {
    return ErrnoError(flag, path,
                      "written, but its directory could not be synced", errno);
  }
  return absl::OkStatus();
}

// Writes `text` to a new file `path` (never an existing one, never through a
// symbolic link), mode 0600, synced.
absl::Status CreateKeyFile(const std::string& path, absl::string_view text) {
  // O_EXCL also refuses a symbolic link at `path`, dangling or not.
  Fd fd(::open(path.c_str(),
               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    const int err = errno;
    struct stat st;
    if (err == EEXIST && ::lstat(path.c_str(), &st) == 0 &&
        S_ISLNK(st.st_mode)) {
      return absl::AlreadyExistsError(
          absl::StrCat("--out: ", path,
                       ": is a symbolic link; a key file is never written "
                       "through one"));
    }
    if (err == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat(
          "--out: ", path,
          ": already exists; a key file is never overwritten (add a key "
          "with 'attunectl keys rotate --file ",
          path, "')"));
    }
    return ErrnoError("--out", path, "cannot be created", err);
  }
  absl::Status status;
  // The umask may have taken bits away; this sets exactly owner read/write.
  if (::fchmod(fd.get(), 0600) != 0) {
    status = ErrnoError("--out", path, "cannot be made private", errno);
  }
  if (status.ok()) {
    status = WriteAll(fd.get(), text);
    if (!status.ok()) {
      status = absl::DataLossError(absl::StrCat(
          "--out: ", path, ": writing failed (", status.message(), ")"));
    }
  }
  if (status.ok() && (::fsync(fd.get()) != 0 || !fd.Close())) {
    status = ErrnoError("--out", path, "writing failed", errno);
  }
  if (!status.ok()) {
    ::unlink(path.c_str());
    return status;
  }
  return SyncDirectoryOf("--out", path);
}

int Generate(const CommandEnv& env) {
  if (env.line.Has("file")) {
    return ReportUsageError(
        env, absl::InvalidArgumentError(
                 "--file: is for 'keys rotate'; 'keys generate' writes --out"));
  }
  const std::string path = env.line.Get("out");
  if (path.empty()) {
    return ReportUsageError(env,
                            absl::InvalidArgumentError("--out: is required"));
  }
  const std::string id = env.line.Get("id", DefaultKeyId());
  absl::StatusOr<std::string> line = NewKeyLine(id);
  if (!line.ok()) return ReportUsageError(env, line.status());
  std::string text = absl::StrCat(*line, "\n");
  Wiped wipe_line(*line);
  Wiped wipe_text(text);
  if (absl::Status written = CreateKeyFile(path, text); !written.ok()) {
    env.err << "attunectl: keys: " << written.message() << "\n";
    return kExitFailed;
  }
  env.out << id << "\n";
  env.err << "wrote storage key '" << id << "' to " << path
          << " (mode 0600). Keep a copy in a safe place: data sealed with it "
             "cannot be read without it\n";
  return kExitOk;
}

// The key file's text, read under an exclusive lock held until `lock` is
// closed, so that two rotations at once cannot both keep only their own key.
absl::StatusOr<std::string> ReadLocked(const std::string& path, Fd& lock,
                                       struct stat* st) {
  if (lock.get() < 0)
    return ErrnoError("--file", path, "cannot be read", errno);
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    return absl::AbortedError(absl::StrCat(
        "--file: ", path, ": another rotation is under way; try again"));
  }
  // A rotation that finished while we waited renamed a new file into place:
  // ours is the old one.
  struct stat now;
  if (::fstat(lock.get(), st) != 0 || ::lstat(path.c_str(), &now) != 0 ||
      st->st_ino != now.st_ino || st->st_dev != now.st_dev) {
    return absl::AbortedError(absl::StrCat(
        "--file: ", path, ": changed while being rotated; try again"));
  }
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(lock.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      OPENSSL_cleanse(text.data(), text.size());
      OPENSSL_cleanse(buffer, sizeof buffer);
      return ErrnoError("--file", path, "cannot be read", err);
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  OPENSSL_cleanse(buffer, sizeof buffer);
  return text;
}

// Replaces `path` by `text` atomically: a private temporary file in the same
// directory, synced, renamed over it. The new file keeps the old one's
// owner, so an administrator rotating attuned's key file leaves it readable
// by attuned.
absl::Status ReplaceKeyFile(const std::string& path, absl::string_view text,
                            const struct stat& old) {
  std::string temp = absl::StrCat(path, ".rotate-XXXXXX");
  Fd fd(::mkstemp(temp.data()));  // mode 0600
  if (fd.get() < 0) {
    return ErrnoError("--file", path,
                      "cannot create a temporary file beside it", errno);
  }
  absl::Status status;
  if (::fchmod(fd.get(), 0600) != 0 ||
      ((old.st_uid != ::geteuid() || old.st_gid != ::getegid()) &&
       ::fchown(fd.get(), old.st_uid, old.st_gid) != 0)) {
    status = ErrnoError("--file", path,
                        "cannot give the new file the old one's owner", errno);
  }
  if (status.ok()) {
    status = WriteAll(fd.get(), text);
    if (!status.ok()) {
      status = absl::DataLossError(absl::StrCat(
          "--file: ", path, ": writing failed (", status.message(), ")"));
    }
  }
  if (status.ok() && (::fsync(fd.get()) != 0 || !fd.Close())) {
    status = ErrnoError("--file", path, "writing failed", errno);
  }
  if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    status = ErrnoError("--file", path, "cannot be replaced", errno);
  }
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  return SyncDirectoryOf("--file", path);
}

int Rotate(const CommandEnv& env) {
  if (env.line.Has("out")) {
    return ReportUsageError(
        env,
        absl::InvalidArgumentError(
            "--out: is for 'keys generate'; 'keys rotate' changes --file"));
  }
  const std::string path = env.line.Get("file");
  if (path.empty()) {
    return ReportUsageError(env,
                            absl::InvalidArgumentError("--file: is required"));
  }
  // The checks attuned makes (regular file, not a link, private, well
  // formed): a file it would refuse is not rotated either.
  absl::StatusOr<std::shared_ptr<const security::KeyRing>> ring =
      security::KeyRing::FromFile(path);
  if (!ring.ok()) {
    return ReportUsageError(
        env, absl::Status(ring.status().code(),
                          absl::StrCat("--file: ", ring.status().message())));
  }
  const std::string id = env.line.Get("id", DefaultKeyId());
  for (const std::string& known : (*ring)->key_ids()) {
    if (known == id) {
      return ReportUsageError(env, absl::AlreadyExistsError(absl::StrCat(
                                       "--id: key id '", id, "' is already in ",
                                       path, "; choose another with --id")));
    }
  }

  Fd lock(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st;
  absl::StatusOr<std::string> old_text = ReadLocked(path, lock, &st);
  if (!old_text.ok()) {
    env.err << "attunectl: keys: " << old_text.status().message() << "\n";
    return kExitFailed;
  }
  Wiped wipe_old(*old_text);
  absl::StatusOr<std::string> line = NewKeyLine(id);
  if (!line.ok()) return ReportUsageError(env, line.status());
  Wiped wipe_line(*line);
  // The new key first (it writes from attuned's next start), every old line
  // after it unchanged (they still read what they sealed).
  std::string text = absl::StrCat(*line, "\n", *old_text);
  Wiped wipe_text(text);
  absl::StatusOr<std::shared_ptr<const security::KeyRing>> rotated =
      security::KeyRing::FromText(text, path);
  if (!rotated.ok() || (*rotated)->active_key_id() != id) {
    env.err << "attunectl: keys: " << path
            << ": changed while being rotated; try again\n";
    return kExitFailed;
  }
  if (absl::Status replaced = ReplaceKeyFile(path, text, st); !replaced.ok()) {
    env.err << "attunectl: keys: " << replaced.message() << "\n";
    return kExitFailed;
  }
  std::vector<std::string> older = (*ring)->key_ids();
  env.out << id << "\n";
  env.err << "added storage key '" << id << "' to " << path
          << " as the active key; kept " << older.size() << " older key(s) ("
          << absl::StrJoin(older, ", ")
          << ") to read what they sealed. Restart attuned to write with it\n";
  return kExitOk;
}

}  // namespace

int RunKeys(const CommandEnv& env) {
  const std::string& action = env.line.arguments.at(0);
  if (action == "generate") return Generate(env);
  if (action == "rotate") return Rotate(env);
  return ReportUsageError(
      env, absl::InvalidArgumentError(absl::StrCat(
               "<action>: expected generate or rotate, got '", action, "'")));
}

}  // namespace attune::ctl
