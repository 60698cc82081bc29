// SPDX-License-Identifier: GPL-2.0
/*
 * C glue of the dev controller: the cgroup_subsys and cftype tables (cgroup
 * core writes into both, and they use bitfields Rust cannot express), thin
 * trampolines into the Rust core, and the css/RCU helpers that are inline or
 * macros in C. No policy lives here; see devcg.rs.
 */

#include <linux/cgroup.h>
#include <linux/cgroup_dev.h>
#include <linux/export.h>
#include <linux/init.h>
#include <linux/kernfs.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

#include "glue.h"

/* Set once, when cgroup_init() allocates the root css; never freed. */
static struct cgroup_subsys_state *devcg_root_css_ptr;

static struct dev_cgroup *css_devcg(struct cgroup_subsys_state *css)
{
	return container_of(css, struct dev_cgroup, css);
}

static struct cgroup_subsys_state *
devcg_css_alloc(struct cgroup_subsys_state *parent_css)
{
	struct dev_cgroup *dcg = kzalloc(sizeof(*dcg), GFP_KERNEL);

	if (!dcg)
		return ERR_PTR(-ENOMEM);
	dcg->state = devcg_state_alloc(&dcg->css, !parent_css);
	if (!dcg->state) {
		kfree(dcg);
		return ERR_PTR(-ENOMEM);
	}
	if (!parent_css)
		devcg_root_css_ptr = &dcg->css;
	return &dcg->css;
}

static void devcg_css_offline(struct cgroup_subsys_state *css)
{
	devcg_state_offline(css_devcg(css)->state);
}

static void devcg_css_free(struct cgroup_subsys_state *css)
{
	struct dev_cgroup *dcg = css_devcg(css);

	devcg_state_free(dcg->state);
	kfree(dcg);
}

static int devcg_seq_show(struct seq_file *sf, void *v)
{
	return devcg_file_show(seq_css(sf), sf, (unsigned long)seq_cft(sf)->private,
			       sf->private);
}

static ssize_t devcg_seq_write_file(struct kernfs_open_file *of, char *buf,
				    size_t nbytes, loff_t off)
{
	int ret = devcg_file_write(of_css(of), (unsigned long)of_cft(of)->private,
				   of, buf, nbytes);

	return ret ? ret : nbytes;
}

/* dev.peak: forget what a closed descriptor's reset set up. */
static void devcg_peak_release(struct kernfs_open_file *of)
{
	devcg_file_release(of_css(of), of);
}

#define DEVCG_RO(_name, _file, _flags) {			\
	.name = _name,						\
	.flags = _flags,					\
	.seq_show = devcg_seq_show,				\
	.private = _file,					\
}
#define DEVCG_RW(_name, _file) {				\
	.name = _name,						\
	.flags = CFTYPE_NOT_ON_ROOT,				\
	.seq_show = devcg_seq_show,				\
	.write = devcg_seq_write_file,				\
	.private = _file,					\
}

static struct cftype devcg_files[] = {
	DEVCG_RO("capacity", DEVCG_FILE_CAPACITY, CFTYPE_ONLY_ON_ROOT),
	DEVCG_RO("current", DEVCG_FILE_CURRENT, 0),
	DEVCG_RW("max", DEVCG_FILE_MAX),
	DEVCG_RW("min", DEVCG_FILE_MIN),
	DEVCG_RW("low", DEVCG_FILE_LOW),
	{
		.name = "peak",
		.flags = CFTYPE_NOT_ON_ROOT,
		.seq_show = devcg_seq_show,
		.write = devcg_seq_write_file,
		.release = devcg_peak_release,
		.private = DEVCG_FILE_PEAK,
	},
	{
		.name = "events",
		.flags = CFTYPE_NOT_ON_ROOT,
		.seq_show = devcg_seq_show,
		.private = DEVCG_FILE_EVENTS,
		.file_offset = offsetof(struct dev_cgroup, events_file),
	},
	{
		.name = "events.local",
		.flags = CFTYPE_NOT_ON_ROOT,
		.seq_show = devcg_seq_show,
		.private = DEVCG_FILE_EVENTS_LOCAL,
		.file_offset = offsetof(struct dev_cgroup, events_local_file),
	},
	DEVCG_RO("stat", DEVCG_FILE_STAT, CFTYPE_NOT_ON_ROOT),
	{ }	/* terminate */
};

struct cgroup_subsys dev_cgrp_subsys = {
	.css_alloc = devcg_css_alloc,
	.css_offline = devcg_css_offline,
	.css_free = devcg_css_free,
	/* cgroup v2 only: no legacy_cftypes. */
	.dfl_cftypes = devcg_files,
};

/*
 * cgroup_init() creates the root's controller files after the root's kernfs
 * directory was activated, so they stay invisible until some later change
 * (typically the first write to cgroup.subtree_control) activates the tree.
 * dev.capacity and dev.current must be readable from boot, so activate here.
 */
static int __init devcg_activate_root_files(void)
{
	if (devcg_root_css_ptr)
		kernfs_activate(devcg_root_css_ptr->cgroup->kn);
	return 0;
}
core_initcall(devcg_activate_root_files);

/*
 * A driver's probe (really_probe(), patches/0008). What a driver allocates
 * for itself then, the fbdev console's framebuffer or its own buffers,
 * belongs to the system, not to whichever task bound the driver (udev
 * loading its module, a write to a bind file): it is charged to the root,
 * as a built-in driver's is at boot, and as the memory controller leaves
 * kernel allocations nobody asked for to the root. The task's
 * devcg_active_css says so while the probe runs, as memcg's
 * set_active_memcg() does: per task, no lock, and gone with the task if the
 * probe never returns (an oops). Nested scopes restore the outer one.
 */
void dev_cgroup_probe_begin(struct dev_cgroup_probe_scope *scope)
{
	scope->outer = current->devcg_active_css;
	WRITE_ONCE(current->devcg_active_css, devcg_root_css_ptr);
}
EXPORT_SYMBOL_GPL(dev_cgroup_probe_begin);

void dev_cgroup_probe_end(struct dev_cgroup_probe_scope *scope)
{
	WRITE_ONCE(current->devcg_active_css, scope->outer);
}
EXPORT_SYMBOL_GPL(dev_cgroup_probe_end);

/*
 * The css the current task's charges go to, referenced (see above). The
 * active css is the root, which never goes away.
 */
static struct cgroup_subsys_state *devcg_charged_css(void)
{
	struct cgroup_subsys_state *active = READ_ONCE(current->devcg_active_css);

	if (unlikely(active)) {
		css_get(active);
		return active;
	}
	return task_get_css(current, dev_cgrp_id);
}

/* Helpers the Rust core calls: C inlines and macros it cannot reach. */

struct cgroup_subsys_state *devcg_current_css(void)
{
	return devcg_charged_css();
}

/*
 * The dev css of the current task's own cgroup, referenced, whatever scope
 * it is in (a charge transfer charges the caller's own cgroup only).
 */
struct cgroup_subsys_state *devcg_task_css(void)
{
	return task_get_css(current, dev_cgrp_id);
}

/* The root's css, which is never freed; NULL before cgroup_init(). */
struct cgroup_subsys_state *devcg_root_css(void)
{
	return devcg_root_css_ptr;
}

/* A driver uncharged more than it charged: a bug worth a backtrace. */
void devcg_warn_underflow(u64 size)
{
	WARN_ONCE(1, "dev cgroup: uncharge of %llu bytes exceeds a pool's usage\n", size);
}

/* Modules (GEM DMA helper, videobuf2, test code) reach the Rust API here. */
EXPORT_SYMBOL_GPL(dev_cgroup_register_device);
EXPORT_SYMBOL_GPL(dev_cgroup_device_region);
EXPORT_SYMBOL_GPL(dev_cgroup_unregister_device);
EXPORT_SYMBOL_GPL(dev_cgroup_device_get);
EXPORT_SYMBOL_GPL(dev_cgroup_device_put);
EXPORT_SYMBOL_GPL(dev_cgroup_try_charge);
EXPORT_SYMBOL_GPL(dev_cgroup_try_charge_css);
EXPORT_SYMBOL_GPL(dev_cgroup_try_charge_owner);
EXPORT_SYMBOL_GPL(dev_cgroup_check_room);
EXPORT_SYMBOL_GPL(dev_cgroup_uncharge);
EXPORT_SYMBOL_GPL(dev_cgroup_evict_valuable);
EXPORT_SYMBOL_GPL(dev_cgroup_pool_put);
EXPORT_SYMBOL_GPL(dev_cgroup_charge_buffer);

/*
 * The dev css of the current task, referenced, for frameworks that charge
 * later on behalf of the task that created an object (TTM buffer objects).
 */
struct cgroup_subsys_state *dev_cgroup_get_current_css(void)
{
	return devcg_charged_css();
}
EXPORT_SYMBOL_GPL(dev_cgroup_get_current_css);

void dev_cgroup_put_css(struct cgroup_subsys_state *css)
{
	if (css)
		css_put(css);
}
EXPORT_SYMBOL_GPL(dev_cgroup_put_css);
EXPORT_SYMBOL_GPL(dev_cgroup_uncharge_buffer);
