// SPDX-License-Identifier: GPL-2.0-only
#include "pins.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "fd.h"
#include "native-error.h"

namespace portcullis {
namespace {

// The kernel's internal "not supported" (not in libc headers); some link types return it.
constexpr int kENOTSUPP = 524;

std::string RetiredDir(const std::string& pin_dir) { return pin_dir + "/retired"; }

std::vector<std::string> EntriesOf(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (!d) return names;
  while (dirent* entry = readdir(d)) {
    if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) names.emplace_back(entry->d_name);
  }
  closedir(d);
  return names;
}

bpf_map_info PinnedMapInfo(const std::string& pin) {
  Fd map(bpf_obj_get(pin.c_str()));
  if (map.get() < 0) throw NativeFailure("open pinned map " + pin, errno);
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(map.get(), &info, &len) != 0) throw NativeFailure("inspect pinned map " + pin, errno);
  return info;
}

// Why the entry at `path` is not a pinned BPF link, or "" when it is one. bpffs pins maps,
// programs and links alike, and only the fd's anonymous inode tells them apart.
std::string NotALink(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return std::string("cannot stat it: ") + strerror(errno);
  if (!S_ISREG(st.st_mode)) return S_ISDIR(st.st_mode) ? "a directory, not a pinned link" : "not a pinned link";
  Fd pinned(bpf_obj_get(path.c_str()));
  if (pinned.get() < 0) return std::string("cannot open it: ") + strerror(errno);
  char kind[64] = {};
  std::string fd_path = "/proc/self/fd/" + std::to_string(pinned.get());
  if (readlink(fd_path.c_str(), kind, sizeof(kind) - 1) <= 0) return std::string("cannot tell what it pins: ") + strerror(errno);
  const std::string prefix = "anon_inode:bpf-";  // then "link", "map" or "prog"
  std::string what(kind);
  if (what == prefix + "link") return "";
  return "pins a " + (what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what) + ", not a link";
}

std::string Change(const char* what, uint32_t pinned, uint32_t wanted) {
  return std::string(what) + " " + std::to_string(pinned) + ", this build's " + std::to_string(wanted);
}

}  // namespace

// bpffs refuses names with a dot, which libbpf's maps for global data have (".data.config").
std::string MapPin(const std::string& pin_dir, const char* name) {
  std::string file(name);
  std::replace(file.begin(), file.end(), '.', '_');
  return pin_dir + "/maps/" + file;
}

std::string LinkPin(const std::string& pin_dir, const char* name) { return pin_dir + "/links/" + name; }

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

void MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) throw NativeFailure("mkdir " + path, errno);
}

void RemoveDirEntries(const std::string& dir) {
  for (const std::string& name : EntriesOf(dir)) unlink((dir + "/" + name).c_str());
  rmdir(dir.c_str());
}

uint32_t PinnedMaxEntries(const std::string& pin) { return PinnedMapInfo(pin).max_entries; }

void DetachPinnedLink(const std::string& path) {
  Fd link(bpf_obj_get(path.c_str()));
  if (link.get() < 0) throw NativeFailure("open pinned link " + path, errno);
  // Tracing links may not support BPF_LINK_DETACH; unpinning releases them (our fd closes).
  if (bpf_link_detach(link.get()) != 0 && errno != EOPNOTSUPP && errno != EINVAL && errno != kENOTSUPP)
    throw NativeFailure("detach " + path, errno);
  if (unlink(path.c_str()) != 0) throw NativeFailure("unpin " + path, errno);
}

std::string FirstMisfitPin(bpf_object* obj, const std::string& pin_dir) {
  bpf_map* map;
  bpf_object__for_each_map(map, obj) {
    std::string pin = MapPin(pin_dir, bpf_map__name(map));
    if (!Exists(pin)) continue;
    bpf_map_info info = PinnedMapInfo(pin);
    std::string differs;
    if (info.type != uint32_t(bpf_map__type(map)))
      differs = Change("type", info.type, bpf_map__type(map));
    else if (info.key_size != bpf_map__key_size(map))
      differs = Change("key size", info.key_size, bpf_map__key_size(map));
    else if (info.value_size != bpf_map__value_size(map))
      differs = Change("value size", info.value_size, bpf_map__value_size(map));
    else if (info.max_entries != bpf_map__max_entries(map))
      differs = Change("entries", info.max_entries, bpf_map__max_entries(map));
    else if (info.map_flags != bpf_map__map_flags(map))
      differs = Change("flags", info.map_flags, bpf_map__map_flags(map));
    if (!differs.empty()) return std::string(bpf_map__name(map)) + ": " + differs;
  }
  return "";
}

void SetAsideOldBuild(const std::string& pin_dir) {
  std::string retired = RetiredDir(pin_dir);
  MakeDir(retired);
  // A stamp keeps links set aside by an earlier, interrupted takeover apart from these.
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  std::string stamp = std::to_string(now.tv_sec) + "-" + std::to_string(now.tv_nsec);
  std::string links = pin_dir + "/links";
  for (const std::string& name : EntriesOf(links)) {
    std::string from = links + "/" + name;
    std::string to = retired + "/" + name + "-" + stamp;
    if (rename(from.c_str(), to.c_str()) != 0) throw NativeFailure("set aside " + from, errno);
  }
  std::string maps = pin_dir + "/maps";
  for (const std::string& name : EntriesOf(maps)) {
    std::string pin = maps + "/" + name;
    if (unlink(pin.c_str()) != 0) throw NativeFailure("unpin " + pin, errno);
  }
}

std::vector<std::string> SetAsideLinks(const std::string& pin_dir) {
  std::vector<std::string> links;
  for (const std::string& name : EntriesOf(RetiredDir(pin_dir))) {
    if (NotALink(RetiredDir(pin_dir) + "/" + name).empty()) links.push_back("retired/" + name);
  }
  return links;
}

Retirement RetireOldBuild(const std::string& pin_dir) {
  std::string retired = RetiredDir(pin_dir);
  Retirement result;
  // Entry by entry: one that cannot go must not keep the others attached.
  for (const std::string& name : EntriesOf(retired)) {
    std::string path = retired + "/" + name;
    std::string why = NotALink(path);
    if (why.empty()) {
      try {
        DetachPinnedLink(path);
        result.retired++;
        continue;
      } catch (const NativeFailure& failure) {
        why = failure.what();
      }
    }
    result.left.push_back("retired/" + name + ": " + why);
  }
  rmdir(retired.c_str());  // only when empty
  return result;
}

}  // namespace portcullis
