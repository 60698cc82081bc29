/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The seam between the C glue (glue.c) and the Rust core (devcg.rs).
 *
 * Everything the cgroup core needs as C (the cgroup_subsys, the cftype table,
 * inline css helpers, RCU-walking iterators) is in glue.c; everything with
 * policy is in Rust. This header is also fed to bindgen (patches/0002), so a
 * prototype that drifts from its Rust definition fails the build.
 */
#ifndef _DEVCG_GLUE_H
#define _DEVCG_GLUE_H

#include <linux/cgroup-defs.h>
#include <linux/types.h>

struct seq_file;

/*
 * A css of the dev controller. Rust reads @state directly (bindgen sees this
 * definition), so the charge path makes no call to find it.
 */
struct dev_cgroup {
	struct cgroup_subsys_state css;
	/* Notified when dev.events / dev.events.local change. */
	struct cgroup_file events_file;
	struct cgroup_file events_local_file;
	/* Rust-owned per-cgroup state (pool table); see devcg_state_alloc(). */
	void *state;
};

/* Interface files; the cftype's private value. */
enum devcg_file {
	DEVCG_FILE_CAPACITY = 0,
	DEVCG_FILE_CURRENT = 1,
	DEVCG_FILE_MAX = 2,
	DEVCG_FILE_MIN = 3,
	DEVCG_FILE_LOW = 4,
	DEVCG_FILE_PEAK = 5,
	DEVCG_FILE_EVENTS = 6,
	DEVCG_FILE_EVENTS_LOCAL = 7,
	DEVCG_FILE_STAT = 8,
};

/* Implemented in Rust, called by glue.c. */
/* Defined by kernel::dev_cgroup_state! (rust/kernel/cgroup/dev.rs). */
void *devcg_state_alloc(struct cgroup_subsys_state *css, bool is_root);
void devcg_state_offline(void *state);
void devcg_state_free(void *state);
/*
 * @opener is the file's struct kernfs_open_file, an identity for dev.peak's
 * per-descriptor reset.
 */
int devcg_file_show(struct cgroup_subsys_state *css, struct seq_file *sf,
		    unsigned int file, void *opener);
int devcg_file_write(struct cgroup_subsys_state *css, unsigned int file,
		     void *opener, const char *buf, size_t len);
void devcg_file_release(struct cgroup_subsys_state *css, void *opener);
/* Bytes of controller state per (cgroup, region) pool, for the benchmark. */
size_t devcg_pool_bytes(void);

/* Implemented in glue.c, called by Rust (rust/kernel/cgroup/dev.rs). */
struct cgroup_subsys_state *devcg_current_css(void);
struct cgroup_subsys_state *devcg_root_css(void);
struct cgroup_subsys_state *devcg_task_css(void);
void devcg_warn_underflow(u64 size);

#endif /* _DEVCG_GLUE_H */
