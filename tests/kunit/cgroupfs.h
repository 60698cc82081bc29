/* SPDX-License-Identifier: GPL-2.0 */
/* cgroupfs helpers shared by the dev controller's KUnit suites (cgroupfs.c). */
#ifndef DEVCG_TEST_CGROUPFS_H
#define DEVCG_TEST_CGROUPFS_H

#include <kunit/test.h>
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

#endif
