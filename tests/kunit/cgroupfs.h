/* SPDX-License-Identifier: GPL-2.0 */
/* cgroupfs helpers shared by the dev controller's KUnit suites (cgroupfs.c). */
#ifndef DEVCG_TEST_CGROUPFS_H
#define DEVCG_TEST_CGROUPFS_H

#include <kunit/test.h>
#include <linux/cgroup_dev.h>
#include <linux/types.h>

struct dentry;
struct vfsmount;
struct cgroup_subsys_state;

/* A cgroup made by a test; holds a reference on its dev css. */
struct devcg_test_cg {
	struct dentry *dentry;
	struct dentry *parent;
	struct cgroup_subsys_state *css;
};

/* Private cgroup2 mount: every suite sets .suite_init/.suite_exit to these. */
extern struct vfsmount *devcg_test_mnt;

int devcg_test_suite_init(struct kunit_suite *suite);
void devcg_test_suite_exit(struct kunit_suite *suite);
int devcg_test_write(struct dentry *dir, const char *name, const char *text);
int devcg_test_read(struct dentry *dir, const char *name, char *buf, size_t len);
u64 devcg_test_value(struct kunit *test, struct dentry *dir, const char *name,
		     const char *device, const char *key);
struct devcg_test_cg *devcg_test_cg_create(struct kunit *test, struct devcg_test_cg *parent,
					   const char *name);
void devcg_test_cg_remove(struct kunit *test, struct devcg_test_cg *cg);
void devcg_test_enter(struct kunit *test, struct devcg_test_cg *cg);
/* Waits until rmdir has taken @css offline (it only starts it). */
void devcg_test_wait_offline(struct kunit *test, struct cgroup_subsys_state *css);

/*
 * Charges as dev_cgroup_try_charge() does for a task whose cgroup was looked
 * up as @css, which may since have gone offline (src/core/api.rs; built only
 * with CONFIG_CGROUP_DEV_KUNIT_TEST).
 */
int devcg_test_charge_current_from(struct cgroup_subsys_state *css,
				   struct dev_cgroup_region *region, u64 size,
				   enum dev_cgroup_consumer consumer,
				   struct dev_cgroup_pool **ret_pool);
/*
 * Counting cma_alloc() calls of every area (tracepoint cma_alloc_start):
 * start (0 or an errno; skips the test without CONFIG_TRACEPOINTS), read the
 * count so far, stop (returns the count).
 */
int devcg_test_cma_allocs_start(struct kunit *test);
int devcg_test_cma_allocs(void);
int devcg_test_cma_allocs_stop(struct kunit *test);

/* How many pools @css's cgroup has (src/core/api.rs, KUnit builds only). */
size_t devcg_test_pool_count(struct cgroup_subsys_state *css);

#endif
