// SPDX-License-Identifier: GPL-2.0-only
// The pin directory: where a helper's maps and links live between helpers (maps/NAME, links/NAME),
// and how a helper of a new build takes over pins whose maps another build shaped differently.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct bpf_object;

namespace portcullis {

std::string MapPin(const std::string& pin_dir, const char* name);
std::string LinkPin(const std::string& pin_dir, const char* name);
bool Exists(const std::string& path);
void MakeDir(const std::string& path);
// Unlinks every entry of `dir`, then the directory.
void RemoveDirEntries(const std::string& dir);
uint32_t PinnedMaxEntries(const std::string& pin);
// Detaches the link pinned at `path` (enforcement through it stops even if another process holds
// it), then unpins it.
void DetachPinnedLink(const std::string& path);

// The first of the object's maps (sized as it will be loaded) whose pin under pin_dir has another
// shape — type, key or value size, entries, flags: what libbpf needs equal to reuse a pin — as
// "NAME (what differs)"; empty when every pinned map fits. A build that changed a map's layout
// cannot reuse the pins of the build before it.
std::string FirstMisfitPin(bpf_object* obj, const std::string& pin_dir);

// Moves the pinned links of another build aside (retired/), still attached and enforcing that
// build's rules, and unpins its maps (its programs keep them alive), so this build, loaded with
// maps of its own, pins them and attaches beside it. Nothing is detached: a packet meets both
// builds' programs, and passes only if both allow it.
void SetAsideOldBuild(const std::string& pin_dir);

// The pinned links set aside under pin_dir ("retired/NAME"): those of a build replaced that no
// helper has retired yet. Only links: anything else there is not ours.
std::vector<std::string> SetAsideLinks(const std::string& pin_dir);

struct Retirement {
  int retired = 0;                // links detached and unpinned
  std::vector<std::string> left;  // "retired/NAME: why" for each entry that stays
};
// Detaches and unpins the links set aside (the old build stops), once this build enforces the
// rules. Entry by entry: what cannot be retired (or is no link) stays and is reported, the rest
// goes, and retired/ goes when emptied.
Retirement RetireOldBuild(const std::string& pin_dir);

}  // namespace portcullis
