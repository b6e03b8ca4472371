/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Processes and their apps (see "Executables and processes" in portcullis.h): which app a process
 * is (exec, fork, its cgroup), where each executable was run from (the path recorded once per file
 * at exec), and the cgroups made as an application's unit (their names read when they are made).
 */
#ifndef PCL_PROCESS_BPF_H
#define PCL_PROCESS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "common.bpf.h"
#include "maps.bpf.h"

/* A process's app, and an app its unit claims (whose blocks apply too). */
struct app_of {
	__u32 app_id;
	__u32 claim_id;
};

/*
 * The app of a process (its pcl_procs entry, possibly NULL) in a cgroup: its own executable's
 * wherever it is; an inherited one in the cgroup it was inherited in; else the app the unit the
 * cgroup is was bound to by the helper (a launcher's child placed in an app's unit is that app, or
 * none for a unit of an app not known yet); else the inherited one. The claim: the unit's, or the
 * one inherited.
 */
static __always_inline struct app_of app_in_cgroup(struct pcl_proc *proc, __u64 cgroup_id)
{
	struct app_of found = {};
	struct pcl_cgroup *unit = bpf_map_lookup_elem(&pcl_cgrp_app, &cgroup_id);
	int claim = unit && (unit->flags & PCL_CG_CLAIM);
	if (claim)
		found.claim_id = unit->app_id;
	else if (proc)
		found.claim_id = proc->claim_id;
	if (proc && ((proc->flags & PCL_PROC_EXE) || proc->cgroup_id == cgroup_id))
		found.app_id = proc->app_id;
	else if (unit)
		found.app_id = claim ? 0 : unit->app_id;
	else if (proc)
		found.app_id = proc->app_id;
	return found;
}

static __always_inline void exe_key_of(struct file *file, struct pcl_exe_key *key)
{
	struct inode *inode = file->f_inode;
	if (!inode)
		return;
	key->dev = inode->i_sb->s_dev;
	key->ino = inode->i_ino;
}

/* A task's executable; zero for a kernel thread. */
static __always_inline void exe_of_task(struct task_struct *task, struct pcl_exe_key *key)
{
	struct mm_struct *mm = task->mm;
	if (!mm)
		return;
	struct file *file = mm->exe_file;
	if (file)
		exe_key_of(file, key);
}

/* ---- exec paths -------------------------------------------------------------------------- */

/* Per-CPU room to build a path in (too big for the stack). */
struct path_scratch {
	/* The path as built: twice the kept length, so that every copy's bounds hold for the verifier. */
	char buf[2 * PCL_PATH_MAX];
	struct pcl_exe_path record;
	__u64 parts[PCL_PATH_DEPTH]; /* the components' dentries, last component first */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_scratch);
} pcl_path_scratch SEC(".maps");

/* Mount crossings walked at most, beside the PCL_PATH_DEPTH components. */
#define PCL_PATH_MOUNTS 8

/*
 * The path walks run as bpf_loop callbacks: verified once, not once per iteration (unrolled, the
 * exec program took seconds to verify).
 */
struct walk_up {
	struct path_scratch *sc;
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	__u32 n;
	__u32 cut;
};

/*
 * One step up a file's path, as d_path walks it (without the process's chroot): a component
 * noted in sc->parts (last first), or a mount crossed to the one it is mounted on. Stops at the
 * root of the mount namespace's tree.
 */
static long walk_up_step(__u64 index, void *data)
{
	struct walk_up *w = data;
	/* Locals, not w->...: inside BPF_CORE_READ a field of our own struct would get a CO-RE relocation. */
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	struct dentry *root = BPF_CORE_READ(vfsmnt, mnt_root);
	if (dentry == root) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
		if (up == mnt)
			return 1; /* the root of the tree */
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = up;
		w->vfsmnt = &up->mnt;
		return 0;
	}
	if (w->n >= PCL_PATH_DEPTH) {
		w->cut = 1;
		return 1;
	}
	w->sc->parts[w->n & (PCL_PATH_DEPTH - 1)] = (__u64)dentry;
	w->n++;
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	if (parent == dentry)
		return 1; /* a file with no place in a tree (a memfd): its name alone */
	w->dentry = parent;
	return 0;
}

struct walk_down {
	struct path_scratch *sc;
	__u32 n;   /* components in sc->parts */
	__u32 off; /* bytes of sc->buf written */
	__u32 cut;
};

/* Appends "/name" of component n - 1 - index to sc->buf. */
static long walk_down_step(__u64 index, void *data)
{
	struct walk_down *w = data;
	if (index >= w->n)
		return 1;
	__u32 off = w->off;
	if (off >= PCL_PATH_MAX - 2) {
		w->cut = 1;
		return 1;
	}
	w->sc->buf[off & (PCL_PATH_MAX - 1)] = '/';
	off = (off + 1) & (PCL_PATH_MAX - 1);
	struct dentry *d = (struct dentry *)w->sc->parts[(w->n - 1 - index) & (PCL_PATH_DEPTH - 1)];
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	long copied = bpf_probe_read_kernel_str(&w->sc->buf[off], PCL_PATH_MAX - off, name);
	if (copied > 0)
		off += copied - 1;
	w->off = off;
	if (off >= PCL_PATH_MAX - 1) {
		w->cut = 1;
		return 1;
	}
	return 0;
}

/*
 * Writes the path of `file` into sc->record: absolute in its mount namespace, NUL-terminated and
 * zero after (it keys pcl_path_app as a zero-padded buffer; every copy stays below PCL_PATH_MAX).
 */
static __always_inline void build_path(struct file *file, struct path_scratch *sc)
{
	struct vfsmount *vfsmnt = BPF_CORE_READ(file, f_path.mnt);
	struct walk_up up = {
		.sc = sc,
		.dentry = BPF_CORE_READ(file, f_path.dentry),
		.vfsmnt = vfsmnt,
		.mnt = container_of(vfsmnt, struct mount, mnt),
	};
	bpf_loop(PCL_PATH_DEPTH + PCL_PATH_MOUNTS, walk_up_step, &up, 0);
	__builtin_memset(sc->buf, 0, PCL_PATH_MAX);
	struct walk_down down = { .sc = sc, .n = up.n, .cut = up.cut };
	bpf_loop(PCL_PATH_DEPTH, walk_down_step, &down, 0);
	__u32 off = down.off;
	if (off == 0)
		sc->buf[off++] = '/';
	off &= PCL_PATH_MAX - 1;
	sc->buf[off] = 0; /* a cut copy may end without its NUL */
	sc->record.len = off;
	sc->record.flags = down.cut ? PCL_PATH_CUT : 0;
	sc->record.pad = 0;
	__builtin_memcpy(sc->record.path, sc->buf, PCL_PATH_MAX);
}

/*
 * The recorded path of the file a process execs: written the first time the file is run (or when a
 * new file took over the inode number), looked up after that. NULL when there is no room.
 */
static __always_inline struct pcl_exe_path *exec_path(struct file *file, struct inode *inode, struct pcl_exe_key *key)
{
	__u32 generation = inode->i_generation;
	struct pcl_exe_path *known = bpf_map_lookup_elem(&pcl_exe_path, key);
	if (known && known->generation == generation)
		return known;
	__u32 zero = 0;
	struct path_scratch *sc = bpf_map_lookup_elem(&pcl_path_scratch, &zero);
	if (!sc)
		return NULL;
	build_path(file, sc);
	sc->record.generation = generation;
	bpf_map_update_elem(&pcl_exe_path, key, &sc->record, BPF_ANY);
	return &sc->record;
}

/* ---- process lifecycle ------------------------------------------------------------------- */

/* Whether the task runs in PID 1's mount namespace (where only root can change what a path names). */
static __always_inline int in_host_mount_ns(struct task_struct *task)
{
	__u32 host = pcl_config.host_mnt_ns;
	return host != 0 && BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum) == host;
}

/*
 * Exec: a bound file makes the process its app (by identity, or by path for a file an update put
 * at a bound path); an unbound one keeps the app it had. Every executable's path is recorded.
 */
static __always_inline void on_exec(struct task_struct *task, struct linux_binprm *bprm)
{
	struct file *file = bprm->file;
	if (!file)
		return;
	struct inode *inode = file->f_inode;
	if (!inode)
		return;
	struct pcl_exe_key key = {};
	exe_key_of(file, &key);
	struct pcl_exe_path *path = exec_path(file, inode, &key);
	__u32 *app = bpf_map_lookup_elem(&pcl_exe, &key);
	if (!app && path && !(path->flags & PCL_PATH_CUT) && in_host_mount_ns(task))
		app = bpf_map_lookup_elem(&pcl_path_app, path->path);
	if (!app)
		return;
	__u32 tgid = task->tgid;
	struct pcl_proc *had = bpf_map_lookup_elem(&pcl_procs, &tgid);
	struct pcl_proc proc = {
		.cgroup_id = bpf_get_current_cgroup_id(),
		.app_id = *app,
		.claim_id = had ? had->claim_id : 0,
		.flags = PCL_PROC_EXE,
	};
	bpf_map_update_elem(&pcl_procs, &tgid, &proc, BPF_ANY);
}

/* The id of the cgroup v2 cgroup a task is in. */
static __always_inline __u64 cgroup_id_of(struct task_struct *task)
{
	return BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
}

/*
 * Fork: the child is the app its parent is where the child starts (an inherited app, which holds
 * in that cgroup). A new thread is not a new process.
 */
static __always_inline void on_fork(struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	if (ptgid == ctgid)
		return;
	struct pcl_proc *parent_proc = bpf_map_lookup_elem(&pcl_procs, &ptgid);
	if (!parent_proc)
		return;
	__u64 cgroup_id = cgroup_id_of(child);
	struct app_of app = app_in_cgroup(parent_proc, cgroup_id);
	if (app.app_id == 0 && app.claim_id == 0)
		return;
	struct pcl_proc proc = { .cgroup_id = cgroup_id, .app_id = app.app_id, .claim_id = app.claim_id };
	bpf_map_update_elem(&pcl_procs, &ctgid, &proc, BPF_ANY);
}

static __always_inline void on_exit(struct task_struct *task)
{
	if (task->pid != task->tgid)
		return; /* a thread; the process lives on */
	__u32 tgid = task->tgid;
	bpf_map_delete_elem(&pcl_procs, &tgid);
}

/* ---- application units -------------------------------------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__uint(value_size, PCL_UNIT_MAX);
} pcl_unit_scratch SEC(".maps");

#define UNIT_MASK (PCL_UNIT_MAX - 1)

static __always_inline int starts_with_app(const char *name)
{
	return name[0] == 'a' && name[1] == 'p' && name[2] == 'p' && name[3] == '-';
}

static __always_inline int starts_with_snap(const char *name)
{
	return name[0] == 's' && name[1] == 'n' && name[2] == 'a' && name[3] == 'p' && name[4] == '.';
}

static __always_inline int ends_with(const char *name, __u32 len, const char *suffix, __u32 suffix_len)
{
	if (len <= suffix_len)
		return 0;
	for (__u32 i = 0; i < 8; i++) {
		if (i >= suffix_len)
			break;
		if (name[(len - suffix_len + i) & UNIT_MASK] != suffix[i])
			return 0;
	}
	return 1;
}

/* Where the separators of a unit name are: its last '-' and its first '@' before `end` (-1: none). */
struct unit_scan {
	char *name;
	__u32 end;
	int last_dash;
	int first_at;
};

static long unit_scan_step(__u64 index, void *data)
{
	struct unit_scan *scan = data;
	if (index >= scan->end)
		return 1;
	char c = scan->name[index & UNIT_MASK];
	if (c == '-')
		scan->last_dash = index;
	else if (c == '@' && scan->first_at < 0)
		scan->first_at = index;
	return 0;
}

struct unit_cut {
	char *name;
	__u32 from;
};

static long unit_cut_step(__u64 index, void *data)
{
	struct unit_cut *cut = data;
	if (index >= cut->from)
		cut->name[index & UNIT_MASK] = 0;
	return 0;
}

/* What a cgroup's name says: not a unit of an application, a unit that keys no app, or one that does. */
#define UNIT_NONE 0
#define UNIT_UNKEYED 1
#define UNIT_KEYED 2

/*
 * Reads a unit name (NUL-terminated in `name`, `len` bytes) as an application's unit, and cuts it to
 * its key in place (the instance part goes, the rest of the buffer is zeroed): app-*.scope and
 * snap.*.scope are applications launched by a desktop, *.service a service (templated system
 * instances name no app of their own). The loops are bpf_loop callbacks, verified once.
 */
static __always_inline int unit_key(char *name, __u32 len)
{
	__u32 cut;
	struct unit_scan scan = { .name = name, .last_dash = -1, .first_at = -1 };
	if (ends_with(name, len, ".scope", 6)) {
		__u32 end = len - 6;
		if (starts_with_app(name)) {
			scan.end = end;
			bpf_loop(PCL_UNIT_MAX, unit_scan_step, &scan, 0);
			/* before the random part (a '-' inside an app id is escaped as \x2d) */
			if (scan.last_dash <= 4)
				return UNIT_NONE;
			cut = scan.last_dash;
		} else if (starts_with_snap(name)) {
			cut = end;
			/* snap.NAME.APP-<uuid>: the uuid is 36 characters */
			if (end > 37 && name[(end - 37) & UNIT_MASK] == '-')
				cut = end - 37;
		} else {
			return UNIT_NONE; /* session-N.scope, init.scope, containers: not an app's unit */
		}
	} else if (ends_with(name, len, ".service", 8)) {
		__u32 end = len - 8;
		scan.end = end;
		bpf_loop(PCL_UNIT_MAX, unit_scan_step, &scan, 0);
		if (starts_with_app(name))
			cut = scan.first_at >= 0 ? scan.first_at : end;
		else if (scan.first_at >= 0)
			return UNIT_UNKEYED;
		else
			cut = end;
	} else {
		return UNIT_NONE;
	}
	struct unit_cut zero_from = { .name = name, .from = cut };
	bpf_loop(PCL_UNIT_MAX, unit_cut_step, &zero_from, 0);
	return UNIT_KEYED;
}

/*
 * A cgroup v2 cgroup was made: if its name is an application's unit, it is noted in pcl_cgrp_app
 * (inheritance ends there), with the app its name keys in pcl_units: a claim unless the entry binds
 * only what root made and root made it.
 */
static __always_inline void on_cgroup_mkdir(struct cgroup *cgrp)
{
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return; /* a cgroup v1 hierarchy: its ids are another numbering */
	__u32 zero = 0;
	char *name = bpf_map_lookup_elem(&pcl_unit_scratch, &zero);
	if (!name)
		return;
	long copied = bpf_probe_read_kernel_str(name, PCL_UNIT_MAX, BPF_CORE_READ(cgrp, kn, name));
	if (copied <= 1 || copied >= PCL_UNIT_MAX)
		return; /* unreadable, or too long to key (a cut name could match another's key) */
	int kind = unit_key(name, copied - 1);
	if (kind == UNIT_NONE)
		return;
	struct pcl_cgroup entry = {};
	if (kind == UNIT_KEYED) {
		struct pcl_unit *unit = bpf_map_lookup_elem(&pcl_units, name);
		__u32 uid = (__u32)bpf_get_current_uid_gid();
		if (unit && !(unit->flags & PCL_UNIT_ROOT_ONLY)) {
			entry.app_id = unit->app_id;
			entry.flags = PCL_CG_CLAIM;
		} else if (unit && uid == 0) {
			entry.app_id = unit->app_id;
		}
	}
	__u64 id = BPF_CORE_READ(cgrp, kn, id);
	bpf_map_update_elem(&pcl_cgrp_app, &id, &entry, BPF_ANY);
}

static __always_inline void on_cgroup_rmdir(struct cgroup *cgrp)
{
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return;
	__u64 id = BPF_CORE_READ(cgrp, kn, id);
	bpf_map_delete_elem(&pcl_cgrp_app, &id);
}

#endif /* PCL_PROCESS_BPF_H */
