// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the dev controller's core, through its C API and its real
 * interface files, in a real cgroup hierarchy: the suite mounts cgroup2
 * internally, creates cgroups with vfs_mkdir() and charges them explicitly
 * with dev_cgroup_try_charge_css().
 */

#include <kunit/test.h>
#include <linux/cgroup.h>
#include <linux/cgroup_dev.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kthread.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/random.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "cgroupfs.h"

#define DEV_NAME "kunit_dev"
/* The value of @key on the test device's line of file @name of @dir. */
#define cg_value(test, dir, name, key) devcg_test_value(test, dir, name, DEV_NAME, key)

struct test_ctx {
	struct dev_cgroup_device *dev;
	struct dev_cgroup_region *a, *b;
};

static struct dev_cgroup_pool *charge_ok(struct kunit *test, struct devcg_test_cg *cg,
					 struct dev_cgroup_region *region, u64 size,
					 enum dev_cgroup_consumer consumer)
{
	struct dev_cgroup_pool *pool = NULL;

	KUNIT_ASSERT_EQ(test, dev_cgroup_try_charge_css(cg->css, region, size, consumer,
							&pool, NULL), 0);
	KUNIT_ASSERT_NOT_NULL(test, pool);
	return pool;
}

static int test_init(struct kunit *test)
{
	static const struct dev_cgroup_region_desc regions[] = {
		{ .name = "a", .capacity = SZ_1G },
		{ .name = "b", .capacity = SZ_16M },
	};
	struct test_ctx *ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);

	if (!ctx)
		return -ENOMEM;
	ctx->dev = dev_cgroup_register_device(DEV_NAME, regions, ARRAY_SIZE(regions));
	if (IS_ERR(ctx->dev))
		return PTR_ERR(ctx->dev);
	ctx->a = dev_cgroup_device_region(ctx->dev, 0);
	ctx->b = dev_cgroup_device_region(ctx->dev, 1);
	test->priv = ctx;
	return 0;
}

static void test_exit(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;

	if (ctx && ctx->dev)
		dev_cgroup_unregister_device(ctx->dev);
}

static void registration_rejects_bad_input(struct kunit *test)
{
	struct dev_cgroup_region_desc ok = { .name = "r", .capacity = 1 };
	struct dev_cgroup_region_desc bad = { .name = "r/x", .capacity = 1 };
	struct dev_cgroup_region_desc dup[] = { { "r", 1 }, { "r", 2 } };
	struct test_ctx *ctx = test->priv;

	KUNIT_EXPECT_EQ(test, PTR_ERR(dev_cgroup_register_device("has space", &ok, 1)), -EINVAL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(dev_cgroup_register_device("k=v", &ok, 1)), -EINVAL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(dev_cgroup_register_device("x", &bad, 1)), -EINVAL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(dev_cgroup_register_device("x", dup, 2)), -EINVAL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(dev_cgroup_register_device("x", &ok, 0)), -EINVAL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(dev_cgroup_register_device(DEV_NAME, &ok, 1)), -EEXIST);
	KUNIT_EXPECT_NULL(test, dev_cgroup_device_region(ctx->dev, 2));
}

static void capacity_lists_registered_regions(struct kunit *test)
{
	struct dentry *root = devcg_test_mnt->mnt_root;

	KUNIT_EXPECT_EQ(test, cg_value(test, root, "dev.capacity", "region.a"), (u64)SZ_1G);
	KUNIT_EXPECT_EQ(test, cg_value(test, root, "dev.capacity", "region.b"), (u64)SZ_16M);
}

static void hierarchical_limit_shared_by_siblings(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct devcg_test_cg *p = devcg_test_cg_create(test, NULL, "kunit_devcg_p");
	struct devcg_test_cg *a = devcg_test_cg_create(test, p, "a");
	struct devcg_test_cg *b = devcg_test_cg_create(test, p, "b");
	struct dev_cgroup_pool *pa, *pb = NULL, *limit = NULL;

	KUNIT_ASSERT_EQ(test, devcg_test_write(p->dentry, "dev.max", DEV_NAME " region.a=1M"), 0);
	pa = charge_ok(test, a, ctx->a, 600 * SZ_1K, DEV_CGROUP_CONSUMER_OTHER);
	KUNIT_EXPECT_EQ(test, dev_cgroup_try_charge_css(b->css, ctx->a, 600 * SZ_1K,
			DEV_CGROUP_CONSUMER_OTHER, &pb, &limit), -EAGAIN);
	KUNIT_EXPECT_NULL(test, pb);
	KUNIT_ASSERT_NOT_NULL(test, limit);
	/* The limiting pool is p's: a's buffer lies in its subtree. */
	KUNIT_EXPECT_TRUE(test, dev_cgroup_evict_valuable(limit, pa, false, NULL));
	dev_cgroup_pool_put(limit);

	KUNIT_EXPECT_EQ(test, cg_value(test, p->dentry, "dev.current", "region.a"), 600ull * SZ_1K);
	KUNIT_EXPECT_EQ(test, cg_value(test, a->dentry, "dev.current", "region.a"), 600ull * SZ_1K);
	KUNIT_EXPECT_EQ(test, cg_value(test, b->dentry, "dev.current", "region.a"), 0ull);
	KUNIT_EXPECT_EQ(test, cg_value(test, p->dentry, "dev.events", "region.a.max"), 1ull);
	KUNIT_EXPECT_EQ(test, cg_value(test, p->dentry, "dev.events.local", "region.a.max"), 1ull);
	KUNIT_EXPECT_EQ(test, cg_value(test, b->dentry, "dev.events", "region.a.max"), 0ull);
	/* Another region is not limited by region a's max. */
	dev_cgroup_uncharge(charge_ok(test, b, ctx->b, SZ_2M, DEV_CGROUP_CONSUMER_OTHER), SZ_2M);

	/* Freeing in one sibling lets the other allocate. */
	dev_cgroup_uncharge(pa, 600 * SZ_1K);
	pb = charge_ok(test, b, ctx->a, 600 * SZ_1K, DEV_CGROUP_CONSUMER_OTHER);
	dev_cgroup_uncharge(pb, 600 * SZ_1K);
	KUNIT_EXPECT_EQ(test, cg_value(test, p->dentry, "dev.current", "region.a"), 0ull);

	devcg_test_cg_remove(test, a);
	devcg_test_cg_remove(test, b);
	devcg_test_cg_remove(test, p);
}

static void child_limit_counts_local_and_hierarchical_events(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct devcg_test_cg *p = devcg_test_cg_create(test, NULL, "kunit_devcg_ev");
	struct devcg_test_cg *a = devcg_test_cg_create(test, p, "a");
	struct dev_cgroup_pool *pool = NULL, *limit = NULL;

	KUNIT_ASSERT_EQ(test, devcg_test_write(a->dentry, "dev.max", DEV_NAME " region.b=100K"), 0);
	KUNIT_EXPECT_EQ(test, dev_cgroup_try_charge_css(a->css, ctx->b, 200 * SZ_1K,
			DEV_CGROUP_CONSUMER_DRM, &pool, &limit), -EAGAIN);
	KUNIT_EXPECT_NULL(test, pool);
	KUNIT_EXPECT_EQ(test, cg_value(test, a->dentry, "dev.events.local", "region.b.max"), 1ull);
	KUNIT_EXPECT_EQ(test, cg_value(test, a->dentry, "dev.events", "region.b.max"), 1ull);
	KUNIT_EXPECT_EQ(test, cg_value(test, p->dentry, "dev.events", "region.b.max"), 1ull);
	KUNIT_EXPECT_EQ(test, cg_value(test, p->dentry, "dev.events.local", "region.b.max"), 0ull);
	KUNIT_EXPECT_EQ(test, cg_value(test, p->dentry, "dev.current", "region.b"), 0ull);
	dev_cgroup_pool_put(limit);
	devcg_test_cg_remove(test, a);
	devcg_test_cg_remove(test, p);
}

static void peak_stat_and_limit_below_usage(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct devcg_test_cg *c = devcg_test_cg_create(test, NULL, "kunit_devcg_peak");
	struct dev_cgroup_pool *drm, *v4l2, *pool = NULL;

	drm = charge_ok(test, c, ctx->a, 300 * SZ_1K, DEV_CGROUP_CONSUMER_DRM);
	v4l2 = charge_ok(test, c, ctx->a, 100 * SZ_1K, DEV_CGROUP_CONSUMER_V4L2);
	KUNIT_EXPECT_EQ(test, cg_value(test, c->dentry, "dev.stat", "region.a.drm"), 300ull * SZ_1K);
	KUNIT_EXPECT_EQ(test, cg_value(test, c->dentry, "dev.stat", "region.a.v4l2"), 100ull * SZ_1K);
	KUNIT_EXPECT_EQ(test, cg_value(test, c->dentry, "dev.stat", "region.a.dma_heap"), 0ull);
	dev_cgroup_uncharge(v4l2, 100 * SZ_1K);
	KUNIT_EXPECT_EQ(test, cg_value(test, c->dentry, "dev.peak", "region.a"), 400ull * SZ_1K);
	/*
	 * A reset counts for reads through its own descriptor only (the e2e
	 * suite checks that one): this one is closed at once, and new opens
	 * still read the cgroup's high-water mark.
	 */
	KUNIT_EXPECT_EQ(test, devcg_test_write(c->dentry, "dev.peak", "reset\n"), 0);
	KUNIT_EXPECT_EQ(test, cg_value(test, c->dentry, "dev.peak", "region.a"), 400ull * SZ_1K);

	/* A max below usage is accepted; new charges fail until usage drops. */
	KUNIT_EXPECT_EQ(test, devcg_test_write(c->dentry, "dev.max", DEV_NAME " region.a=100K"), 0);
	KUNIT_EXPECT_EQ(test, dev_cgroup_try_charge_css(c->css, ctx->a, SZ_4K,
			DEV_CGROUP_CONSUMER_DRM, &pool, NULL), -EAGAIN);
	dev_cgroup_uncharge(drm, 300 * SZ_1K);
	pool = charge_ok(test, c, ctx->a, 100 * SZ_1K, DEV_CGROUP_CONSUMER_DRM);
	dev_cgroup_uncharge(pool, 100 * SZ_1K);
	KUNIT_EXPECT_EQ(test, cg_value(test, c->dentry, "dev.stat", "region.a.drm"), 0ull);
	devcg_test_cg_remove(test, c);
}

static void offline_cgroup_keeps_charges_until_uncharged(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct devcg_test_cg *p = devcg_test_cg_create(test, NULL, "kunit_devcg_off");
	struct devcg_test_cg *c = devcg_test_cg_create(test, p, "c");
	struct dev_cgroup_pool *pool;

	struct cgroup_subsys_state *gone;
	struct dev_cgroup_pool *again = NULL;

	KUNIT_ASSERT_EQ(test, devcg_test_write(c->dentry, "dev.max", DEV_NAME " region.a=1M"), 0);
	pool = charge_ok(test, c, ctx->a, 512 * SZ_1K, DEV_CGROUP_CONSUMER_OTHER);
	gone = c->css;
	css_get(gone);
	devcg_test_cg_remove(test, c);
	/* Gone from the tree, still counted by its ancestors, stat included. */
	KUNIT_EXPECT_EQ(test, cg_value(test, p->dentry, "dev.current", "region.a"), 512ull * SZ_1K);
	KUNIT_EXPECT_EQ(test, cg_value(test, p->dentry, "dev.stat", "region.a.other"), 512ull * SZ_1K);
	/*
	 * Once offline (which rmdir only starts), a cgroup takes no new charge,
	 * even through a css someone holds.
	 */
	devcg_test_wait_offline(test, gone);
	KUNIT_EXPECT_EQ(test, dev_cgroup_try_charge_css(gone, ctx->a, SZ_4K,
			DEV_CGROUP_CONSUMER_OTHER, &again, NULL), -ENOENT);
	KUNIT_EXPECT_NULL(test, again);
	if (again)
		dev_cgroup_uncharge(again, SZ_4K);
	KUNIT_EXPECT_EQ(test, cg_value(test, p->dentry, "dev.current", "region.a"), 512ull * SZ_1K);
	css_put(gone);
	dev_cgroup_uncharge(pool, 512 * SZ_1K);
	KUNIT_EXPECT_EQ(test, cg_value(test, p->dentry, "dev.current", "region.a"), 0ull);
	KUNIT_EXPECT_EQ(test, cg_value(test, p->dentry, "dev.stat", "region.a.other"), 0ull);
	devcg_test_cg_remove(test, p);
}

static void unregistered_device_refuses_charges_but_uncharges(struct kunit *test)
{
	static const struct dev_cgroup_region_desc region = { .name = "gone", .capacity = SZ_1M };
	struct devcg_test_cg *c = devcg_test_cg_create(test, NULL, "kunit_devcg_unreg");
	struct dev_cgroup_device *dev = dev_cgroup_register_device("kunit_gone", &region, 1);
	struct dev_cgroup_pool *pool, *again = NULL;
	struct dev_cgroup_region *r;
	char *buf = kunit_kzalloc(test, 4096, GFP_KERNEL);

	KUNIT_ASSERT_FALSE(test, IS_ERR(dev));
	KUNIT_ASSERT_NOT_NULL(test, buf);
	r = dev_cgroup_device_region(dev, 0);
	pool = charge_ok(test, c, r, SZ_64K, DEV_CGROUP_CONSUMER_OTHER);
	dev_cgroup_device_get(dev);
	dev_cgroup_unregister_device(dev);
	KUNIT_EXPECT_EQ(test, dev_cgroup_try_charge_css(c->css, r, SZ_4K, DEV_CGROUP_CONSUMER_OTHER,
							&again, NULL), -ENODEV);
	KUNIT_EXPECT_NULL(test, again);
	KUNIT_ASSERT_EQ(test, devcg_test_read(devcg_test_mnt->mnt_root, "dev.capacity", buf, 4096), 0);
	KUNIT_EXPECT_NULL(test, strstr(buf, "kunit_gone"));
	KUNIT_ASSERT_EQ(test, devcg_test_read(c->dentry, "dev.current", buf, 4096), 0);
	KUNIT_EXPECT_NULL(test, strstr(buf, "kunit_gone"));
	dev_cgroup_uncharge(pool, SZ_64K);
	dev_cgroup_device_put(dev);
	/* The name is free again once unregistered. */
	dev = dev_cgroup_register_device("kunit_gone", &region, 1);
	KUNIT_EXPECT_FALSE(test, IS_ERR(dev));
	if (!IS_ERR(dev))
		dev_cgroup_unregister_device(dev);
	devcg_test_cg_remove(test, c);
}

/*
 * A region's slot in the cgroups' pool tables is not reused while a charge
 * keeps the unregistered region's pools alive: a new device's charges never
 * land in them.
 */
static void new_device_never_meets_an_old_devices_charges(struct kunit *test)
{
	static const struct dev_cgroup_region_desc region = { .name = "r", .capacity = SZ_1M };
	struct devcg_test_cg *c = devcg_test_cg_create(test, NULL, "kunit_devcg_slot");
	struct dev_cgroup_device *old = dev_cgroup_register_device("kunit_old", &region, 1);
	struct dev_cgroup_device *new;
	struct dev_cgroup_pool *old_pool, *new_pool;

	KUNIT_ASSERT_FALSE(test, IS_ERR(old));
	old_pool = charge_ok(test, c, dev_cgroup_device_region(old, 0), SZ_64K,
			     DEV_CGROUP_CONSUMER_OTHER);
	dev_cgroup_unregister_device(old);
	new = dev_cgroup_register_device("kunit_new", &region, 1);
	KUNIT_ASSERT_FALSE(test, IS_ERR(new));
	new_pool = charge_ok(test, c, dev_cgroup_device_region(new, 0), SZ_4K,
			     DEV_CGROUP_CONSUMER_OTHER);
	KUNIT_EXPECT_PTR_NE(test, new_pool, old_pool);
	KUNIT_EXPECT_EQ(test, devcg_test_value(test, c->dentry, "dev.current", "kunit_new", "region.r"), (u64)SZ_4K);
	dev_cgroup_uncharge(old_pool, SZ_64K);
	KUNIT_EXPECT_EQ(test, devcg_test_value(test, c->dentry, "dev.current", "kunit_new", "region.r"), (u64)SZ_4K);
	dev_cgroup_uncharge(new_pool, SZ_4K);
	KUNIT_EXPECT_EQ(test, devcg_test_value(test, c->dentry, "dev.current", "kunit_new", "region.r"), 0ull);
	dev_cgroup_unregister_device(new);
	devcg_test_cg_remove(test, c);
}

/*
 * A removed cgroup's pool whose device then goes away: the last uncharge
 * both frees the pool and lets the cgroup go (KASAN and kmemleak in
 * make test-debug check that it happens once).
 */
static void last_uncharge_after_cgroup_and_device_are_gone(struct kunit *test)
{
	static const struct dev_cgroup_region_desc region = { .name = "r", .capacity = SZ_1M };
	struct devcg_test_cg *p = devcg_test_cg_create(test, NULL, "kunit_devcg_both");
	struct devcg_test_cg *c = devcg_test_cg_create(test, p, "c");
	struct dev_cgroup_device *dev = dev_cgroup_register_device("kunit_both", &region, 1);
	struct cgroup_subsys_state *gone;
	struct dev_cgroup_pool *pool;

	KUNIT_ASSERT_FALSE(test, IS_ERR(dev));
	pool = charge_ok(test, c, dev_cgroup_device_region(dev, 0), SZ_64K,
			 DEV_CGROUP_CONSUMER_V4L2);
	gone = c->css;
	css_get(gone);
	devcg_test_cg_remove(test, c);
	devcg_test_wait_offline(test, gone);
	css_put(gone);
	KUNIT_EXPECT_EQ(test, devcg_test_value(test, p->dentry, "dev.stat", "kunit_both",
					       "region.r.v4l2"), (u64)SZ_64K);
	dev_cgroup_unregister_device(dev);
	dev_cgroup_uncharge(pool, SZ_64K);
	devcg_test_cg_remove(test, p);
}

/* "nr_dying_subsys_dev" of @dir's cgroup.stat: its removed csses not yet released. */
static long dying_dev_csses(struct kunit *test, struct dentry *dir)
{
	char *buf = kunit_kzalloc(test, 4096, GFP_KERNEL);
	const char *line;
	long dying = -1;

	KUNIT_ASSERT_NOT_NULL(test, buf);
	KUNIT_ASSERT_EQ(test, devcg_test_read(dir, "cgroup.stat", buf, 4096), 0);
	line = strstr(buf, "nr_dying_subsys_dev ");
	KUNIT_ASSERT_NOT_NULL(test, line);
	KUNIT_ASSERT_EQ(test, sscanf(line, "nr_dying_subsys_dev %ld", &dying), 1);
	kunit_kfree(test, buf);
	return dying;
}

/*
 * A pool never outlives its cgroup's css: one that still holds charges when
 * its device goes away (and leaves the cgroup's table) keeps the css alive,
 * so a cgroup removed meanwhile is released only by the last uncharge. (It
 * used to be released at once, leaving the pool with a dangling css link.)
 */
static void detached_charged_pool_keeps_its_removed_cgroup(struct kunit *test)
{
	static const struct dev_cgroup_region_desc region = { .name = "r", .capacity = SZ_1M };
	struct devcg_test_cg *p = devcg_test_cg_create(test, NULL, "kunit_devcg_detach");
	struct devcg_test_cg *c = devcg_test_cg_create(test, p, "c");
	struct dev_cgroup_device *dev = dev_cgroup_register_device("kunit_detach", &region, 1);
	struct cgroup_subsys_state *gone;
	struct dev_cgroup_pool *pool;
	int i;

	KUNIT_ASSERT_FALSE(test, IS_ERR(dev));
	pool = charge_ok(test, c, dev_cgroup_device_region(dev, 0), SZ_64K,
			 DEV_CGROUP_CONSUMER_OTHER);
	/* The registration's reference is the last: the pool leaves c's table. */
	dev_cgroup_unregister_device(dev);
	gone = c->css;
	css_get(gone);
	devcg_test_cg_remove(test, c);
	devcg_test_wait_offline(test, gone);
	css_put(gone);
	/* Released within milliseconds if nothing holds it: give it 200. */
	for (i = 0; i < 20 && dying_dev_csses(test, p->dentry) == 1; i++)
		msleep(10);
	KUNIT_EXPECT_EQ(test, dying_dev_csses(test, p->dentry), 1L);
	dev_cgroup_uncharge(pool, SZ_64K);
	for (i = 0; i < 5000 && dying_dev_csses(test, p->dentry) != 0; i++)
		msleep(1);
	KUNIT_EXPECT_EQ(test, dying_dev_csses(test, p->dentry), 0L);
	devcg_test_cg_remove(test, p);
}

/*
 * A limiting pool handed out by a refused charge may be put after its device
 * is gone: the handle holds the device, so the pool is still there. Before
 * the handle held the device, the put read a freed pool; the freed memory is
 * reused and scribbled on here so that such a read cannot go unnoticed.
 */
static void limit_pool_put_after_its_device_is_gone(struct kunit *test)
{
	static const struct dev_cgroup_region_desc region = { .name = "r", .capacity = SZ_1M };
	struct devcg_test_cg *c = devcg_test_cg_create(test, NULL, "kunit_devcg_limitput");
	struct dev_cgroup_device *dev = dev_cgroup_register_device("kunit_limitput", &region, 1);
	struct dev_cgroup_pool *pool, *refused = NULL, *limit = NULL;
	/* A pool is a kmalloc object of a few hundred bytes: cover the caches. */
	static const size_t sizes[] = { 128, 192, 256, 512 };
	enum { SCRIBBLES = 32 * ARRAY_SIZE(sizes) };
	void *scribble[SCRIBBLES];
	int i;

	KUNIT_ASSERT_FALSE(test, IS_ERR(dev));
	KUNIT_ASSERT_EQ(test, devcg_test_write(c->dentry, "dev.max", "kunit_limitput region.r=64K"), 0);
	pool = charge_ok(test, c, dev_cgroup_device_region(dev, 0), SZ_64K,
			 DEV_CGROUP_CONSUMER_OTHER);
	KUNIT_EXPECT_EQ(test, dev_cgroup_try_charge_css(c->css, dev_cgroup_device_region(dev, 0),
			SZ_4K, DEV_CGROUP_CONSUMER_OTHER, &refused, &limit), -EAGAIN);
	KUNIT_EXPECT_NULL(test, refused);
	KUNIT_ASSERT_NOT_NULL(test, limit);
	dev_cgroup_uncharge(pool, SZ_64K);
	/* The registration's reference was the last one but the handle's. */
	dev_cgroup_unregister_device(dev);
	/* Take back whatever was just freed, and scribble on it. */
	for (i = 0; i < SCRIBBLES; i++) {
		size_t size = sizes[i % ARRAY_SIZE(sizes)];

		scribble[i] = kmalloc(size, GFP_KERNEL);
		if (scribble[i])
			memset(scribble[i], 0x6b, size);
	}
	dev_cgroup_pool_put(limit);
	for (i = 0; i < SCRIBBLES; i++)
		kfree(scribble[i]);
	KUNIT_EXPECT_EQ(test, cg_value(test, c->dentry, "dev.current", "region.a"), 0ull);
	devcg_test_cg_remove(test, c);
}

/*
 * A task's charge that finds the task's cgroup offline (the task was
 * migrated and the cgroup removed in between) is retried as the memory
 * controller retries, never refused with -ENOENT: here the stale cgroup is
 * handed in directly, and the charge lands in the task's cgroup of now (the
 * test kthread's, the root).
 */
static void charge_as_current_retries_when_the_cgroup_went_offline(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct devcg_test_cg *c = devcg_test_cg_create(test, NULL, "kunit_devcg_moved");
	struct dentry *root = devcg_test_mnt->mnt_root;
	struct cgroup_subsys_state *gone = c->css;
	struct dev_cgroup_pool *pool = NULL;
	u64 before = cg_value(test, root, "dev.current", "region.a");

	css_get(gone);
	devcg_test_cg_remove(test, c);
	devcg_test_wait_offline(test, gone);
	KUNIT_EXPECT_EQ(test, devcg_test_charge_current_from(gone, ctx->a, SZ_4K,
			DEV_CGROUP_CONSUMER_OTHER, &pool), 0);
	css_put(gone);
	KUNIT_ASSERT_NOT_NULL(test, pool);
	KUNIT_EXPECT_EQ(test, cg_value(test, root, "dev.current", "region.a"), before + SZ_4K);
	dev_cgroup_uncharge(pool, SZ_4K);
	KUNIT_EXPECT_EQ(test, cg_value(test, root, "dev.current", "region.a"), before);
}

/*
 * Inside a driver's probe (the scope patches/0008 puts around it), what the
 * probing task charges goes to the root, whatever the task's cgroup; after
 * the probe, to its cgroup again.
 */
static void probe_time_charges_go_to_the_root(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct devcg_test_cg *c = devcg_test_cg_create(test, NULL, "kunit_devcg_prober");
	struct dentry *root = devcg_test_mnt->mnt_root;
	u64 before = cg_value(test, root, "dev.current", "region.a");
	struct dev_cgroup_pool *in_probe = NULL, *after = NULL;
	struct dev_cgroup_probe_scope probe;
	int ret_in_probe, ret_after;

	devcg_test_enter(test, c);
	dev_cgroup_probe_begin(&probe);
	ret_in_probe = dev_cgroup_try_charge(ctx->a, SZ_4K, DEV_CGROUP_CONSUMER_OTHER,
					     &in_probe, NULL);
	dev_cgroup_probe_end(&probe);
	ret_after = dev_cgroup_try_charge(ctx->a, SZ_8K, DEV_CGROUP_CONSUMER_OTHER, &after, NULL);
	devcg_test_enter(test, NULL);
	KUNIT_ASSERT_EQ(test, ret_in_probe, 0);
	KUNIT_ASSERT_EQ(test, ret_after, 0);
	KUNIT_EXPECT_EQ(test, cg_value(test, c->dentry, "dev.current", "region.a"), (u64)SZ_8K);
	KUNIT_EXPECT_EQ(test, cg_value(test, root, "dev.current", "region.a"),
			before + SZ_4K + SZ_8K);
	dev_cgroup_uncharge(in_probe, SZ_4K);
	dev_cgroup_uncharge(after, SZ_8K);
	KUNIT_EXPECT_EQ(test, cg_value(test, root, "dev.current", "region.a"), before);
	devcg_test_cg_remove(test, c);
}

/*
 * A write that fails leaves nothing behind, not even the pools it would
 * have created for the regions it named before the one that failed.
 */
static void failed_write_creates_no_pools(struct kunit *test)
{
	struct devcg_test_cg *c = devcg_test_cg_create(test, NULL, "kunit_devcg_nopools");

	KUNIT_EXPECT_EQ(test, devcg_test_pool_count(c->css), (size_t)0);
	KUNIT_EXPECT_EQ(test, devcg_test_write(c->dentry, "dev.max",
					       DEV_NAME " region.a=1M\nkunit_nosuchdev region.x=1"),
			-ENODEV);
	KUNIT_EXPECT_EQ(test, devcg_test_write(c->dentry, "dev.max",
					       DEV_NAME " region.a=1M region.nosuch=1"), -EINVAL);
	KUNIT_EXPECT_EQ(test, devcg_test_write(c->dentry, "dev.min",
					       DEV_NAME " region.b=1M region.a=2M region.b=3M"), -EINVAL);
	KUNIT_EXPECT_EQ(test, devcg_test_pool_count(c->css), (size_t)0);
	KUNIT_EXPECT_EQ(test, cg_value(test, c->dentry, "dev.max", "region.a"), U64_MAX);
	/* A write that succeeds creates what it names, and only that. */
	KUNIT_EXPECT_EQ(test, devcg_test_write(c->dentry, "dev.max", DEV_NAME " region.a=1M"), 0);
	KUNIT_EXPECT_EQ(test, devcg_test_pool_count(c->css), (size_t)1);
	KUNIT_EXPECT_EQ(test, cg_value(test, c->dentry, "dev.max", "region.a"), (u64)SZ_1M);
	devcg_test_cg_remove(test, c);
}

/*
 * A dropped device's pools leave every table they are in, in nested
 * cgroups and in the root, charged or not, and no other device's pool
 * does: unregistering finds them from its regions' records of which
 * cgroups hold one, not by walking every cgroup.
 */
static void unregistering_takes_every_pool_of_the_device_and_only_those(struct kunit *test)
{
	static const struct dev_cgroup_region_desc regions[] = {
		{ .name = "x", .capacity = SZ_1M },
		{ .name = "y", .capacity = SZ_1M },
	};
	struct devcg_test_cg *p = devcg_test_cg_create(test, NULL, "kunit_devcg_records");
	struct devcg_test_cg *c = devcg_test_cg_create(test, p, "c");
	struct devcg_test_cg *gc = devcg_test_cg_create(test, c, "gc");
	struct devcg_test_cg *other = devcg_test_cg_create(test, p, "other");
	struct cgroup_subsys_state *root = p->css->parent;
	struct dev_cgroup_device *dev = dev_cgroup_register_device("kunit_records", regions, 2);
	struct dev_cgroup_pool *pool;
	size_t root_before = devcg_test_pool_count(root);

	KUNIT_ASSERT_FALSE(test, IS_ERR(dev));
	/* gc: both regions (and so c, p and the root); other: the test's own device. */
	KUNIT_ASSERT_EQ(test, devcg_test_write(gc->dentry, "dev.max",
					       "kunit_records region.x=512K region.y=1M"), 0);
	KUNIT_ASSERT_EQ(test, devcg_test_write(other->dentry, "dev.max", DEV_NAME " region.a=1M"), 0);
	pool = charge_ok(test, c, dev_cgroup_device_region(dev, 1), SZ_64K, DEV_CGROUP_CONSUMER_OTHER);
	KUNIT_EXPECT_EQ(test, devcg_test_pool_count(gc->css), (size_t)2);
	KUNIT_EXPECT_EQ(test, devcg_test_pool_count(c->css), (size_t)2);
	KUNIT_EXPECT_EQ(test, devcg_test_pool_count(p->css), (size_t)3);
	/* The root: x, y and the test device's a. */
	KUNIT_EXPECT_EQ(test, devcg_test_pool_count(root), root_before + 3);
	/* The registration's reference is the last: the device goes now. */
	dev_cgroup_unregister_device(dev);
	KUNIT_EXPECT_EQ(test, devcg_test_pool_count(gc->css), (size_t)0);
	KUNIT_EXPECT_EQ(test, devcg_test_pool_count(c->css), (size_t)0);
	KUNIT_EXPECT_EQ(test, devcg_test_pool_count(p->css), (size_t)1);
	KUNIT_EXPECT_EQ(test, devcg_test_pool_count(other->css), (size_t)1);
	KUNIT_EXPECT_EQ(test, devcg_test_pool_count(root), root_before + 1);
	/* The charged pool left its table too, and goes with its charge. */
	dev_cgroup_uncharge(pool, SZ_64K);
	devcg_test_cg_remove(test, other);
	devcg_test_cg_remove(test, gc);
	devcg_test_cg_remove(test, c);
	devcg_test_cg_remove(test, p);
}

static void bad_charge_arguments(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct devcg_test_cg *c = devcg_test_cg_create(test, NULL, "kunit_devcg_args");
	struct dev_cgroup_pool *pool = NULL;

	KUNIT_EXPECT_EQ(test, dev_cgroup_try_charge_css(c->css, ctx->a, SZ_4K,
			DEV_CGROUP_NR_CONSUMERS, &pool, NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, dev_cgroup_try_charge_css(c->css, NULL, SZ_4K,
			DEV_CGROUP_CONSUMER_OTHER, &pool, NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, dev_cgroup_try_charge_css(NULL, ctx->a, SZ_4K,
			DEV_CGROUP_CONSUMER_OTHER, &pool, NULL), -EINVAL);
	/* A charge of nothing would hold a pool that nothing keeps alive. */
	KUNIT_EXPECT_EQ(test, dev_cgroup_try_charge_css(c->css, ctx->a, 0,
			DEV_CGROUP_CONSUMER_OTHER, &pool, NULL), -EINVAL);
	KUNIT_EXPECT_NULL(test, pool);
	/* Bad writes through the real file: -EINVAL / -ENODEV, nothing changed. */
	KUNIT_EXPECT_EQ(test, devcg_test_write(c->dentry, "dev.max", DEV_NAME " region.a=1M\n"
				       DEV_NAME " region.zz=1"), -EINVAL);
	KUNIT_EXPECT_EQ(test, devcg_test_write(c->dentry, "dev.max", DEV_NAME " region.a=1M\n"
				       "nodev region.a=1"), -ENODEV);
	KUNIT_EXPECT_EQ(test, cg_value(test, c->dentry, "dev.max", "region.a"), U64_MAX);
	devcg_test_cg_remove(test, c);
}

/*
 * Reclaim under p's limit: x's usage is within its effective min, y's within
 * its low, z is unprotected; q is outside p's subtree.
 */
static void eviction_honours_effective_protection(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct devcg_test_cg *p = devcg_test_cg_create(test, NULL, "kunit_devcg_prot");
	struct devcg_test_cg *x = devcg_test_cg_create(test, p, "x");
	struct devcg_test_cg *y = devcg_test_cg_create(test, p, "y");
	struct devcg_test_cg *z = devcg_test_cg_create(test, p, "z");
	struct devcg_test_cg *q = devcg_test_cg_create(test, NULL, "kunit_devcg_other");
	struct dev_cgroup_pool *px, *py, *pz, *pq, *limit = NULL, *none = NULL;
	bool hit_low = false;

	KUNIT_ASSERT_EQ(test, devcg_test_write(x->dentry, "dev.min", DEV_NAME " region.a=1M"), 0);
	KUNIT_ASSERT_EQ(test, devcg_test_write(y->dentry, "dev.low", DEV_NAME " region.a=1M"), 0);
	px = charge_ok(test, x, ctx->a, SZ_512K, DEV_CGROUP_CONSUMER_OTHER);
	py = charge_ok(test, y, ctx->a, SZ_512K, DEV_CGROUP_CONSUMER_OTHER);
	pz = charge_ok(test, z, ctx->a, SZ_512K, DEV_CGROUP_CONSUMER_OTHER);
	pq = charge_ok(test, q, ctx->a, SZ_512K, DEV_CGROUP_CONSUMER_OTHER);
	KUNIT_ASSERT_EQ(test, devcg_test_write(p->dentry, "dev.max", DEV_NAME " region.a=1536K"), 0);
	KUNIT_ASSERT_EQ(test, dev_cgroup_try_charge_css(z->css, ctx->a, SZ_4K,
			DEV_CGROUP_CONSUMER_OTHER, &none, &limit), -EAGAIN);
	KUNIT_ASSERT_NOT_NULL(test, limit);

	KUNIT_EXPECT_FALSE(test, dev_cgroup_evict_valuable(limit, px, false, &hit_low));
	KUNIT_EXPECT_FALSE(test, hit_low);
	KUNIT_EXPECT_FALSE(test, dev_cgroup_evict_valuable(limit, px, true, &hit_low));
	KUNIT_EXPECT_FALSE(test, dev_cgroup_evict_valuable(limit, py, false, &hit_low));
	KUNIT_EXPECT_TRUE(test, hit_low);
	KUNIT_EXPECT_TRUE(test, dev_cgroup_evict_valuable(limit, py, true, NULL));
	KUNIT_EXPECT_TRUE(test, dev_cgroup_evict_valuable(limit, pz, false, NULL));
	KUNIT_EXPECT_FALSE(test, dev_cgroup_evict_valuable(limit, pq, true, NULL));

	/* Over-committed min: x claims 1M of a parent that grants 256K. */
	KUNIT_ASSERT_EQ(test, devcg_test_write(p->dentry, "dev.min", DEV_NAME " region.a=256K"), 0);
	KUNIT_EXPECT_TRUE(test, dev_cgroup_evict_valuable(NULL, px, true, NULL));

	dev_cgroup_pool_put(limit);
	dev_cgroup_uncharge(px, SZ_512K);
	dev_cgroup_uncharge(py, SZ_512K);
	dev_cgroup_uncharge(pz, SZ_512K);
	dev_cgroup_uncharge(pq, SZ_512K);
	devcg_test_cg_remove(test, x);
	devcg_test_cg_remove(test, y);
	devcg_test_cg_remove(test, z);
	devcg_test_cg_remove(test, p);
	devcg_test_cg_remove(test, q);
}

struct charger {
	struct kunit *test;
	struct devcg_test_cg *cg;
	struct dev_cgroup_region *region;
	struct completion done;
	unsigned long refused;
	bool failed;
};

static int charger_fn(void *data)
{
	struct charger *ch = data;
	struct dev_cgroup_pool *held[3] = { };
	u64 sizes[3] = { };
	int i, slot;

	for (i = 0; i < 20000; i++) {
		slot = i % 3;
		if (held[slot]) {
			dev_cgroup_uncharge(held[slot], sizes[slot]);
			held[slot] = NULL;
		}
		sizes[slot] = SZ_4K * (1 + get_random_u32_below(64));
		if (dev_cgroup_try_charge_css(ch->cg->css, ch->region, sizes[slot],
					      DEV_CGROUP_CONSUMER_OTHER, &held[slot], NULL))
			ch->refused++;
		if ((i & 255) == 0)
			cond_resched();
	}
	for (slot = 0; slot < 3; slot++)
		if (held[slot])
			dev_cgroup_uncharge(held[slot], sizes[slot]);
	complete(&ch->done);
	return 0;
}

static void concurrent_charging_never_overshoots(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct devcg_test_cg *p = devcg_test_cg_create(test, NULL, "kunit_devcg_smp");
	struct charger ch[2];
	u64 worst = 0, now;
	int cpu, i, samples = 0;

	KUNIT_ASSERT_EQ(test, devcg_test_write(p->dentry, "dev.max", DEV_NAME " region.a=1M"), 0);
	for (i = 0; i < 2; i++) {
		struct task_struct *t;

		ch[i] = (struct charger){ .test = test, .cg = p, .region = ctx->a };
		init_completion(&ch[i].done);
		t = kthread_create(charger_fn, &ch[i], "devcg_kunit/%d", i);
		KUNIT_ASSERT_FALSE(test, IS_ERR(t));
		cpu = cpumask_nth(i % num_online_cpus(), cpu_online_mask);
		kthread_bind(t, cpu);
		wake_up_process(t);
	}
	while (!completion_done(&ch[0].done) || !completion_done(&ch[1].done)) {
		now = cg_value(test, p->dentry, "dev.current", "region.a");
		worst = max(worst, now);
		samples++;
		usleep_range(50, 100);
	}
	wait_for_completion(&ch[0].done);
	wait_for_completion(&ch[1].done);
	kunit_info(test, "%d CPUs, %d samples, worst %llu, refused %lu+%lu",
		   num_online_cpus(), samples, worst, ch[0].refused, ch[1].refused);
	KUNIT_EXPECT_LE(test, worst, (u64)SZ_1M);
	KUNIT_EXPECT_LE(test, cg_value(test, p->dentry, "dev.peak", "region.a"), (u64)SZ_1M);
	KUNIT_EXPECT_GT(test, ch[0].refused + ch[1].refused, 0ul);
	KUNIT_EXPECT_EQ(test, cg_value(test, p->dentry, "dev.current", "region.a"), 0ull);
	devcg_test_cg_remove(test, p);
}

static struct kunit_case dev_cgroup_core_cases[] = {
	KUNIT_CASE(registration_rejects_bad_input),
	KUNIT_CASE(capacity_lists_registered_regions),
	KUNIT_CASE(hierarchical_limit_shared_by_siblings),
	KUNIT_CASE(child_limit_counts_local_and_hierarchical_events),
	KUNIT_CASE(peak_stat_and_limit_below_usage),
	KUNIT_CASE(offline_cgroup_keeps_charges_until_uncharged),
	KUNIT_CASE(unregistered_device_refuses_charges_but_uncharges),
	KUNIT_CASE(new_device_never_meets_an_old_devices_charges),
	KUNIT_CASE(last_uncharge_after_cgroup_and_device_are_gone),
	KUNIT_CASE(detached_charged_pool_keeps_its_removed_cgroup),
	KUNIT_CASE(limit_pool_put_after_its_device_is_gone),
	KUNIT_CASE(charge_as_current_retries_when_the_cgroup_went_offline),
	KUNIT_CASE(probe_time_charges_go_to_the_root),
	KUNIT_CASE(failed_write_creates_no_pools),
	KUNIT_CASE(unregistering_takes_every_pool_of_the_device_and_only_those),
	KUNIT_CASE(bad_charge_arguments),
	KUNIT_CASE(eviction_honours_effective_protection),
	KUNIT_CASE(concurrent_charging_never_overshoots),
	{}
};

static struct kunit_suite dev_cgroup_core_suite = {
	.name = "dev_cgroup_core",
	.suite_init = devcg_test_suite_init,
	.suite_exit = devcg_test_suite_exit,
	.init = test_init,
	.exit = test_exit,
	.test_cases = dev_cgroup_core_cases,
};
kunit_test_suite(dev_cgroup_core_suite);

MODULE_DESCRIPTION("KUnit tests of the dev cgroup controller");
MODULE_LICENSE("GPL");
