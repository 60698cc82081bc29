// SPDX-License-Identifier: GPL-2.0
/*
 * cgroupfs from inside the kernel, for the KUnit suites: a private mount of
 * cgroup2, reads and single-call writes of interface files, cgroups created
 * and removed with vfs_mkdir()/vfs_rmdir(), and moving the test's own thread
 * between cgroups (so adapters that charge "current" can be tested).
 */

#include <kunit/test.h>
#include <linux/cgroup.h>
#include <linux/delay.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/slab.h>
#include <linux/string.h>

#include <trace/events/cma.h>

#include "cgroupfs.h"

struct vfsmount *devcg_test_mnt;



static int devcg_test_open(struct dentry *dir, const char *name, int flags, struct file **ret)
{
	struct path path = { .mnt = devcg_test_mnt, .dentry = dir };
	struct file *f = file_open_root(&path, name, flags, 0);

	if (IS_ERR(f))
		return PTR_ERR(f);
	*ret = f;
	return 0;
}

/* suite_init of every suite: the private cgroup2 mount the helpers use. */
int devcg_test_suite_init(struct kunit_suite *suite)
{
	struct file_system_type *type = get_fs_type("cgroup2");

	if (!type)
		return -ENODEV;
	devcg_test_mnt = kern_mount(type);
	put_filesystem(type);
	return PTR_ERR_OR_ZERO(devcg_test_mnt);
}

void devcg_test_suite_exit(struct kunit_suite *suite)
{
	if (!IS_ERR_OR_NULL(devcg_test_mnt))
		kern_unmount(devcg_test_mnt);
	devcg_test_mnt = NULL;
}

/* The line of @text that starts with "@device ", or NULL. */
static const char *devcg_test_find_line(const char *text, const char *device)
{
	size_t len = strlen(device);
	const char *line = text;

	while (line && *line) {
		if (!strncmp(line, device, len) && line[len] == ' ')
			return line;
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return NULL;
}

/* Writes @text in one write, as userspace does; returns 0 or -errno. */
int devcg_test_write(struct dentry *dir, const char *name, const char *text)
{
	struct file *f;
	loff_t pos = 0;
	ssize_t n;
	int ret = devcg_test_open(dir, name, O_WRONLY, &f);

	if (ret)
		return ret;
	n = kernel_write(f, text, strlen(text), &pos);
	fput(f);
	return n < 0 ? n : 0;
}

int devcg_test_read(struct dentry *dir, const char *name, char *buf, size_t len)
{
	struct file *f;
	loff_t pos = 0;
	ssize_t n;
	int ret = devcg_test_open(dir, name, O_RDONLY, &f);

	if (ret)
		return ret;
	n = kernel_read(f, buf, len - 1, &pos);
	fput(f);
	if (n < 0)
		return n;
	buf[n] = '\0';
	return 0;
}

/*
 * The value of @key (e.g. "region.a" or "region.a.max") on @device's line
 * of file @name of @dir; U64_MAX for "max"; fails the test if missing.
 */
u64 devcg_test_value(struct kunit *test, struct dentry *dir, const char *name,
		     const char *device, const char *key)
{
	char *buf = kunit_kzalloc(test, 4096, GFP_KERNEL);
	char needle[80], token[32];
	const char *line, *at;
	size_t n;
	u64 value;

	KUNIT_ASSERT_NOT_NULL(test, buf);
	KUNIT_ASSERT_EQ(test, devcg_test_read(dir, name, buf, 4096), 0);
	line = devcg_test_find_line(buf, device);
	KUNIT_ASSERT_NOT_NULL_MSG(test, line, "%s: no %s line in %s", name, device, buf);
	snprintf(needle, sizeof(needle), " %s=", key);
	at = strstr(line, needle);
	KUNIT_ASSERT_NOT_NULL_MSG(test, at, "%s: no %s in %s", name, key, line);
	at += strlen(needle);
	n = strcspn(at, " \n");
	KUNIT_ASSERT_LT(test, n, sizeof(token));
	memcpy(token, at, n);
	token[n] = '\0';
	if (!strcmp(token, "max"))
		return U64_MAX;
	KUNIT_ASSERT_EQ(test, kstrtoull(token, 10, &value), 0);
	return value;
}

struct devcg_test_cg *devcg_test_cg_create(struct kunit *test, struct devcg_test_cg *parent,
					   const char *name)
{
	struct dentry *pdir = parent ? parent->dentry : devcg_test_mnt->mnt_root;
	struct devcg_test_cg *cg = kunit_kzalloc(test, sizeof(*cg), GFP_KERNEL);
	struct dentry *d;
	int ret;

	KUNIT_ASSERT_NOT_NULL(test, cg);
	KUNIT_ASSERT_EQ(test, devcg_test_write(pdir, "cgroup.subtree_control", "+dev"), 0);
	inode_lock_nested(d_inode(pdir), I_MUTEX_PARENT);
	d = lookup_one_len(name, pdir, strlen(name));
	if (IS_ERR(d)) {
		inode_unlock(d_inode(pdir));
		KUNIT_FAIL_AND_ABORT(test, "lookup %s: %ld", name, PTR_ERR(d));
	}
	ret = vfs_mkdir(&nop_mnt_idmap, d_inode(pdir), d, 0755);
	/* kernfs leaves the dentry passed to mkdir negative: look it up again. */
	dput(d);
	d = ret ? ERR_PTR(ret) : lookup_one_len(name, pdir, strlen(name));
	inode_unlock(d_inode(pdir));
	if (IS_ERR(d))
		KUNIT_FAIL_AND_ABORT(test, "mkdir %s: %ld", name, PTR_ERR(d));
	cg->dentry = d;
	cg->parent = pdir;
	cg->css = css_tryget_online_from_dir(d, &dev_cgrp_subsys);
	KUNIT_ASSERT_FALSE(test, IS_ERR_OR_NULL(cg->css));
	return cg;
}

/* Removes a cgroup (rmdir) and drops the test's css reference. */
void devcg_test_cg_remove(struct kunit *test, struct devcg_test_cg *cg)
{
	int ret;

	if (!cg->dentry)
		return;
	css_put(cg->css);
	inode_lock_nested(d_inode(cg->parent), I_MUTEX_PARENT);
	ret = vfs_rmdir(&nop_mnt_idmap, d_inode(cg->parent), cg->dentry);
	inode_unlock(d_inode(cg->parent));
	dput(cg->dentry);
	cg->dentry = NULL;
	KUNIT_EXPECT_EQ(test, ret, 0);
}


/* rmdir only starts taking a cgroup offline; waits until it is (5 s at most). */
void devcg_test_wait_offline(struct kunit *test, struct cgroup_subsys_state *css)
{
	int i;

	for (i = 0; i < 5000 && (READ_ONCE(css->flags) & CSS_ONLINE); i++)
		msleep(1);
	KUNIT_ASSERT_FALSE(test, READ_ONCE(css->flags) & CSS_ONLINE);
}

/*
 * Moves the calling kthread into @cg (NULL: the root), as "echo 0 >
 * cgroup.procs" does for a user task: charges taken on behalf of "current"
 * then go to @cg.
 */
void devcg_test_enter(struct kunit *test, struct devcg_test_cg *cg)
{
	struct dentry *dir = cg ? cg->dentry : devcg_test_mnt->mnt_root;

	KUNIT_ASSERT_EQ(test, devcg_test_write(dir, "cgroup.procs", "0"), 0);
}

#if IS_ENABLED(CONFIG_CMA) && IS_ENABLED(CONFIG_TRACEPOINTS)
static atomic_t cma_allocs_seen;

static void devcg_test_count_cma_alloc(void *data, const char *name, unsigned long count,
				       unsigned int align)
{
	atomic_inc(&cma_allocs_seen);
}

static void devcg_test_cma_allocs_unwatch(void *unused)
{
	unregister_trace_cma_alloc_start(devcg_test_count_cma_alloc, NULL);
	tracepoint_synchronize_unregister();
}

/* Counts CMA allocations until stopped, or until the test ends if it stops early. */
int devcg_test_cma_allocs_start(struct kunit *test)
{
	int ret;

	atomic_set(&cma_allocs_seen, 0);
	ret = register_trace_cma_alloc_start(devcg_test_count_cma_alloc, NULL);
	return ret ?: kunit_add_action_or_reset(test, devcg_test_cma_allocs_unwatch, NULL);
}

int devcg_test_cma_allocs_stop(struct kunit *test)
{
	kunit_release_action(test, devcg_test_cma_allocs_unwatch, NULL);
	return atomic_read(&cma_allocs_seen);
}

int devcg_test_cma_allocs(void)
{
	return atomic_read(&cma_allocs_seen);
}
#else
int devcg_test_cma_allocs_start(struct kunit *test)
{
	kunit_skip(test, "watching CMA allocations needs CONFIG_CMA and CONFIG_TRACEPOINTS");
	return -EOPNOTSUPP;
}

int devcg_test_cma_allocs_stop(struct kunit *test)
{
	return -1;
}

int devcg_test_cma_allocs(void)
{
	return -1;
}
#endif
